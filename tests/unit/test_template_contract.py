"""The template against the code it deploys: alarms watch metrics the code emits, IAM grants what the code
uses, and parameters stay within what AWS accepts.

Static checks, read off the sources (nothing is imported that builds a client):

- **Alarms.** Every metric an alarm watches in namespace `Parity` is one the code emits (`add_metric` /
  `single_metric` names, with run-time names enumerated from the code's own expressions), with exactly
  the dimensions the package's Powertools `Metrics` object writes (read from the EMF it serializes). An
  alarm on an AWS namespace watches a metric that service publishes, for a resource of this template.
- **IAM.** For each function, the code path is its `app.py`, the `bootstrap` builders it calls (and those
  they call), and the modules those import, transitively. A statement's action is used when that path
  calls the matching boto3 operation (`dynamodb:Query` ← `.query(`; the item actions of a transaction ←
  `transact_write_items` with a `Put` / `Update` / `Delete` / `ConditionCheck` item), reads a secret
  (`secretsmanager:GetSecretValue` ← a `Secret` setting of Settings), or is the event source mapping's own
  need (`sqs:ReceiveMessage`, `DeleteMessage`, `GetQueueAttributes` on the queue of the function's SQS
  event). The check is per action and module, not per resource and call site: it finds a grant nothing
  uses, not a grant on the wrong resource.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from botocore import xform_name

from local.resources import _Tag, load_template

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "common" / "parity"
FUNCTIONS = ROOT / "functions"
STORES = ("stripe", "app_store", "play_store")  # what the webhooks pass to `answer_webhook`


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template()


def _resources(template: dict, resource_type: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


# ------------------------------------------------------------------------------------ emitted metrics
def _calls(path: Path, names: set[str]):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called in names:
                yield node


def _name_argument(call: ast.Call) -> ast.expr | None:
    for keyword in call.keywords:
        if keyword.arg == "name":
            return keyword.value
    return call.args[0] if call.args else None


def _failure_metrics() -> set[str]:
    """The names the queue consumers hand to `bootstrap.redelivery` (parity/retries.py emits them)."""
    names = set()
    for app in FUNCTIONS.glob("*/app.py"):
        for call in _calls(app, {"redelivery"}):
            names.update(a.value for a in call.args[3:] if isinstance(a, ast.Constant))
    return names


def _run_time_names(path: Path, expression: ast.expr) -> set[str] | None:
    """Names built at run time, enumerated from the code's own expression (None: not known here)."""
    source = ast.unparse(expression)
    if path.name == "http.py" and "EventsIngested" in source:
        return {eval(compile(ast.Expression(expression), "http.py", "eval"), {"store": store}) for store in STORES}  # noqa: S307
    if path.name == "drift.py" and source.startswith("_metric_name("):
        from parity.domain.drift import DriftKind
        from parity.services.drift import _metric_name

        return {_metric_name(kind.value) for kind in DriftKind} | {_metric_name(n) for n in ("errors", "repaired")}
    if path.name == "retries.py" and source == "self._failure_metric":
        return _failure_metrics()
    return None


def emitted_metrics() -> tuple[set[str], list[re.Pattern]]:
    """Every metric name the package and the handlers emit: exact names, and patterns for f-strings."""
    names: set[str] = set()
    patterns: list[re.Pattern] = []
    unknown = []
    for path in [*PACKAGE.rglob("*.py"), *FUNCTIONS.glob("*/app.py")]:
        for call in _calls(path, {"add_metric", "single_metric"}):
            expression = _name_argument(call)
            options = (expression.body, expression.orelse) if isinstance(expression, ast.IfExp) else (expression,)
            for option in options:
                if isinstance(option, ast.Constant):
                    names.add(option.value)
                elif isinstance(option, ast.JoinedStr):
                    parts = [re.escape(p.value) if isinstance(p, ast.Constant) else "[A-Za-z]+" for p in option.values]
                    patterns.append(re.compile("".join(parts)))
                elif (enumerated := _run_time_names(path, option)) is not None:
                    names.update(enumerated)
                else:
                    unknown.append(f"{path.relative_to(ROOT)}:{call.lineno} {ast.unparse(option)}")
    assert not unknown, f"metric names built at run time: say how to enumerate them in _run_time_names: {unknown}"
    return names, patterns


def package_metric_identity() -> tuple[str, dict[str, str]]:
    """Namespace and dimensions of what the package's `metrics` object emits, from its own EMF blob."""
    from parity.observability import metrics

    metrics.clear_metrics()
    try:
        metrics.add_metric(name="Probe", unit="Count", value=1)
        blob = metrics.serialize_metric_set()
    finally:
        metrics.clear_metrics()
    directive = blob["_aws"]["CloudWatchMetrics"][0]
    return directive["Namespace"], {name: blob[name] for dims in directive["Dimensions"] for name in dims}


def watched_metrics(alarm: dict) -> list[dict]:
    """(Namespace, MetricName, Dimensions) of an alarm: its single metric or its MetricStat queries."""
    props = alarm["Properties"]
    if "MetricName" in props:
        return [{"Namespace": props["Namespace"], "MetricName": props["MetricName"], "Dimensions": props.get("Dimensions", [])}]
    return [q["MetricStat"]["Metric"] for q in props["Metrics"] if "MetricStat" in q]


def _target(value) -> str:
    """The logical id a `!Ref X` or `!GetAtt X.Attr` points at."""
    assert isinstance(value, _Tag) and value.name in ("Ref", "GetAtt"), value
    return value.value.split(".")[0] if isinstance(value.value, str) else value.value[0]


# AWS-published metrics an alarm may watch: namespace, name → (dimension, resource type it names).
AWS_METRICS = {
    ("AWS/Lambda", "Errors"): ("FunctionName", "AWS::Serverless::Function"),
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible"): ("QueueName", "AWS::SQS::Queue"),
}


def test_every_alarm_watches_a_metric_the_code_emits(template):
    names, patterns = emitted_metrics()
    namespace, dimensions = package_metric_identity()
    assert template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"] == namespace
    alarms = _resources(template, "AWS::CloudWatch::Alarm")
    assert alarms
    for logical_id, alarm in alarms.items():
        for metric in watched_metrics(alarm):
            alarm_dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
            where = f"{logical_id}: {metric['Namespace']}/{metric['MetricName']}"
            if metric["Namespace"] == namespace:
                assert metric["MetricName"] in names or any(p.fullmatch(metric["MetricName"]) for p in patterns), (
                    f"{where}: no code emits it"
                )
                assert alarm_dims == dimensions, f"{where}: dimensions {alarm_dims}, the code writes {dimensions}"
            else:
                dimension, resource_type = AWS_METRICS[(metric["Namespace"], metric["MetricName"])]
                assert list(alarm_dims) == [dimension], where
                assert template["Resources"][_target(alarm_dims[dimension])]["Type"] == resource_type, where


def test_the_queue_consumers_alarms_count_failed_records_not_only_failed_invocations(template):
    # ReportBatchItemFailures: the invocation succeeds while its records fail; Lambda's Errors misses them.
    for alarm_id, function_id in (("ProcessorErrorsAlarm", "EventProcessorFunction"), ("ReconcileErrorsAlarm", "ReconcileFunction")):
        watched = {m["MetricName"] for m in watched_metrics(template["Resources"][alarm_id])}
        assert watched & _failure_metrics(), alarm_id
        events = template["Resources"][function_id]["Properties"]["Events"].values()
        assert any("ReportBatchItemFailures" in e["Properties"].get("FunctionResponseTypes", []) for e in events)


def test_the_metric_check_sees_the_run_time_names():
    names, _ = emitted_metrics()
    assert {"StripeEventsIngested", "AppStoreEventsIngested", "PlayStoreEventsIngested", "DriftFound"} <= names
    assert {"StoreEventsFailed", "ReconcileChecksFailed", "RetriesAfterOutage", "RetriesAfterError"} <= names


# ---------------------------------------------------------------------------------------- IAM grants
def _module_path(name: str) -> Path | None:
    base = PACKAGE.parent / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _imports(node: ast.AST, module: str) -> set[str]:
    """Modules of the package imported under `node`, type-checking-only imports left out."""
    found = set()
    for child in ast.walk(node):
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            child.body = []
        if isinstance(child, ast.ImportFrom):
            if child.level:  # relative to the importing module's package
                base = ".".join(module.split(".")[: -child.level] + ([child.module] if child.module else []))
            else:
                base = child.module or ""
            if not base.startswith("parity"):
                continue
            for alias in child.names:
                found.add(f"{base}.{alias.name}" if _module_path(f"{base}.{alias.name}") else base)
        elif isinstance(child, ast.Import):
            found.update(a.name for a in child.names if a.name.startswith("parity"))
    return found


def code_path(function_dir: str) -> str:
    """The source of a function's code path: its handler, the bootstrap builders it calls (and theirs),
    and every package module those import, transitively (lazy imports included)."""
    app = ast.parse((FUNCTIONS / function_dir / "app.py").read_text())
    bootstrap = ast.parse((PACKAGE / "bootstrap.py").read_text())
    builders = {n.name: n for n in bootstrap.body if isinstance(n, ast.FunctionDef)}
    called = {n.func.attr for n in ast.walk(app) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
              and getattr(n.func.value, "id", None) == "bootstrap"}
    pending, seen = list(called), set()
    modules = _imports(app, "app")
    while pending:
        name = pending.pop()
        if name in seen or name not in builders:
            continue
        seen.add(name)
        body = builders[name]
        modules |= _imports(body, "parity.bootstrap")
        pending += [n.func.id for n in ast.walk(body) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    sources, queue = [], sorted(modules)
    visited = set()
    while queue:
        module = queue.pop()
        path = _module_path(module)
        if module in visited or path is None or module == "parity.bootstrap":  # only its builders in use
            continue
        visited.add(module)
        text = path.read_text()
        sources.append(text)
        queue += sorted(_imports(ast.parse(text), module if path.name != "__init__.py" else module + ".__init__"))
    bootstrap_text = "\n".join(ast.unparse(builders[n]) for n in seen)
    return "\n".join([(FUNCTIONS / function_dir / "app.py").read_text(), bootstrap_text, *sources])


SECRET_SETTINGS = re.compile(r"\.(stripe\.webhook_secret|stripe\.api_key|apple\.private_key|google\.service_account)\b")
SIGNING_KEY_SETTINGS = re.compile(r"\bsettings\.signing\b")
TRANSACTION_ITEMS = {"PutItem": "Put", "UpdateItem": "Update", "DeleteItem": "Delete", "ConditionCheckItem": "ConditionCheck"}
EVENT_SOURCE_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}


def action_used(action: str, source: str, consumed_queues: set[str], resources: list) -> bool:
    service, operation = action.split(":")
    if action == "secretsmanager:GetSecretValue":  # the signing key's secret, or the store credentials'
        if any(_target(r) == "EntitlementSigningKey" for r in resources if isinstance(r, _Tag)):
            return bool(SIGNING_KEY_SETTINGS.search(source))
        return bool(SECRET_SETTINGS.search(source))
    if action in EVENT_SOURCE_ACTIONS and any(_target(r) in consumed_queues for r in resources if isinstance(r, _Tag)):
        return True
    if re.search(rf"\.{xform_name(operation)}(_batch)?\(", source):  # IAM authorizes a batch call by its action
        return True
    if service == "dynamodb" and operation in ("Query", "Scan"):  # the table's pager: Query unless named
        pager = r"\.pages\(\s*[\"']scan[\"']" if operation == "Scan" else r"\.pages\((?!\s*[\"']scan[\"'])"
        if re.search(pager, source):
            return True
    item = TRANSACTION_ITEMS.get(operation) if service == "dynamodb" else None
    return bool(item and ".transact_write_items(" in source and re.search(rf"[\"']{item}[\"']\s*:", source))


def granted_statements(template: dict) -> dict[str, list[dict]]:
    """Each function's own statements: inline `Policies` or its explicit role's."""
    granted = {}
    roles = _resources(template, "AWS::IAM::Role")
    for logical_id, function in _resources(template, "AWS::Serverless::Function").items():
        props = function["Properties"]
        statements = [s for policy in props.get("Policies", []) if isinstance(policy, dict) for s in policy.get("Statement", [])]
        if "Role" in props:
            role = roles[_target(props["Role"])]["Properties"]
            statements += [s for policy in role.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]
        granted[logical_id] = statements
    return granted


def test_every_iam_statement_is_used_by_the_code_it_is_granted_to(template):
    unused = []
    for logical_id, statements in granted_statements(template).items():
        props = template["Resources"][logical_id]["Properties"]
        source = code_path(props["CodeUri"].strip("/").split("/")[-1])
        consumed = {_target(e["Properties"]["Queue"]) for e in props.get("Events", {}).values() if e["Type"] == "SQS"}
        for statement in statements:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            unused += [
                f"{logical_id} {statement.get('Sid')}: {action}"
                for action in actions
                if not action_used(action, source, consumed, resources)
            ]
    assert not unused, f"granted, and nothing in the function's code path uses it: {unused}"


def test_the_iam_check_would_see_an_unused_grant(template):
    # grants the entitlements read never needs: a queue, the bus, a secret, a queue's messages
    source = code_path("entitlements")
    assert action_used("dynamodb:Query", source, set(), [])
    assert not action_used("sqs:SendMessage", source, set(), [])
    assert not action_used("events:PutEvents", source, set(), [])
    assert not action_used("secretsmanager:GetSecretValue", source, set(), [_Tag("Ref", "ParitySecrets")])
    assert action_used("secretsmanager:GetSecretValue", source, set(), [_Tag("Ref", "EntitlementSigningKey")])
    assert not action_used("secretsmanager:GetSecretValue", code_path("drift_scan"), set(), [_Tag("Ref", "EntitlementSigningKey")])
    assert not action_used("sqs:ReceiveMessage", source, set(), [_Tag("GetAtt", "StoreEventsQueue.Arn")])


def test_every_function_has_explicit_statements_and_no_account_wide_queue_policy(template):
    # SAM attaches AWSLambdaSQSQueueExecutionRole (every queue of the account) to an SQS consumer with
    # no role of its own: each consumer has an explicit role scoped to its queue.
    for logical_id, function in _resources(template, "AWS::Serverless::Function").items():
        props = function["Properties"]
        if any(e["Type"] == "SQS" for e in props.get("Events", {}).values()):
            assert "Role" in props, logical_id
        for policy in props.get("Policies", []):
            assert isinstance(policy, dict), f"{logical_id}: a managed policy {policy}"


# -------------------------------------------------------------------------------- parameters and limits
LAMBDA_ENVIRONMENT_LIMIT = 4096
# The longest a resource's Ref can be: names CloudFormation generates, SQS URLs (queue names <= 80).
WORST_REF = {
    "AWS::DynamoDB::Table": 255,
    "AWS::SQS::Queue": len("https://sqs.ap-southeast-2.amazonaws.com/123456789012/") + 80,
    "AWS::Events::EventBus": 256,
    "AWS::SecretsManager::Secret": 200,
}


def _worst_length(template: dict, value) -> int:
    if isinstance(value, _Tag) and value.name == "Ref":
        if value.value in template["Parameters"]:
            spec = template["Parameters"][value.value]
            if "MaxLength" in spec:
                return int(spec["MaxLength"])
            if "AllowedValues" in spec:
                return max(len(str(v)) for v in spec["AllowedValues"])
            if spec.get("Type") == "Number":
                return len(str(spec.get("MaxValue", 10**12)))
            raise AssertionError(f"{value.value}: a string parameter without a length bound")
        return WORST_REF[template["Resources"][value.value]["Type"]]
    assert not isinstance(value, _Tag), value.name
    return len(str(value))


def test_every_parameter_is_bounded(template):
    for name, spec in template["Parameters"].items():
        if spec["Type"] == "Number":
            assert "AllowedValues" in spec or "MinValue" in spec, name
        elif spec["Type"] == "String":
            assert {"AllowedValues", "MaxLength"} & spec.keys(), f"{name}: no length bound"
    # the bounds that are AWS limits (the deploy check shows AWS refusing one past each)
    assert template["Parameters"]["SilenceAlarmHours"]["MaxValue"] * 3600 <= 7 * 86400
    assert template["Parameters"]["ReconcileConcurrency"]["MaxValue"] <= 1000
    assert template["Parameters"]["ProcessorConcurrency"]["MaxValue"] <= 1000
    assert template["Parameters"]["MaxReceiveCount"]["MaxValue"] <= 1000
    assert template["Parameters"]["StoreOutageRetryMaxSeconds"]["MaxValue"] <= 43200


def test_the_largest_environment_fits_lambdas_4_kb(template):
    globals_ = template["Globals"]["Function"]["Environment"]["Variables"]
    for logical_id, function in _resources(template, "AWS::Serverless::Function").items():
        variables = {**globals_, **function["Properties"].get("Environment", {}).get("Variables", {})}
        size = sum(len(k) + _worst_length(template, v) for k, v in variables.items())
        assert size <= LAMBDA_ENVIRONMENT_LIMIT, f"{logical_id}: up to {size} bytes of environment"


def test_the_drift_scan_schedule_is_named_per_stack(template):
    schedule = template["Resources"]["DriftScanFunction"]["Properties"]["Events"]["Nightly"]["Properties"]
    assert schedule.get("OmitName") is True and "Name" not in schedule


def test_prod_carries_no_placeholder_identity_provider():
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    prod = config["prod"]["deploy"]["parameters"]["parameter_overrides"]
    assert "example.com" not in prod and "AuthIssuer" not in prod and "AuthAudience" not in prod


def test_a_silence_alarm_exists_only_for_a_store_the_stack_is_configured_for(template):
    silence = {name: spec for name, spec in template["Resources"].items() if name.endswith("SilenceAlarm")}
    assert {name: spec.get("Condition") for name, spec in silence.items()} == {
        "StripeSilenceAlarm": "HasStripe",
        "AppStoreSilenceAlarm": "HasAppStore",
        "PlaySilenceAlarm": "HasPlay",
    }
    # an iOS-only stack (UsesStripe=false) has no Stripe alarm; a day of quiet by default
    has_stripe = template["Conditions"]["HasStripe"]
    assert (has_stripe.name, has_stripe.value[0].value, has_stripe.value[1]) == ("Equals", "UsesStripe", "true")
    assert template["Parameters"]["SilenceAlarmHours"]["Default"] == 24
    for spec in silence.values():
        assert spec["Properties"]["EvaluationPeriods"].value == "SilenceAlarmHours"


# ----------------------------------------------------------------------------------- operator policy
def console_source() -> str:
    """The console's code and every layer module it can reach (it builds services through bootstrap)."""
    paths = [*(ROOT / "parity_cli").rglob("*.py"), *PACKAGE.rglob("*.py")]
    return "\n".join(path.read_text() for path in paths if "__pycache__" not in path.parts)


def test_the_operator_policy_grants_what_the_console_calls_and_nothing_else(template):
    policy = template["Resources"]["OperatorPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    granted = {a for s in policy for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    source = console_source()
    def called(action: str) -> bool:
        name = xform_name(action.split(":")[1])  # a client call, or an operation named for `Table.pages`
        return bool(re.search(rf"\.{name}\(", source)) or f'"{name}"' in source or action_used(action, source, set(), [])

    unused = sorted(a for a in granted - {"execute-api:Invoke"} if not called(a))
    assert unused == [], f"granted, and the console never calls it: {unused}"
    # what the console's own commands call (the services' calls are the functions' grants, checked above)
    needed = ("PurgeQueue", "ReceiveMessage", "SendMessage", "StartMessageMoveTask", "GetQueueUrl", "DescribeStacks", "Scan")
    for operation in needed:
        assert any(a.split(":")[1] == operation for a in granted) and called(f"x:{operation}"), operation
    assert "OperatorPolicyArn" in template["Outputs"]
