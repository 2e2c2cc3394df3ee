"""A rehearsal of `sam deploy`: the transformed templates created as CloudFormation stacks in an emulated
account (moto's CloudFormation, in-process `mock_aws`, with `shims.py` for what moto does not create).

Run by `scripts/deploy_check.sh` (app venv) after `translate.py`:

    rehearse.py OUT_DIR          the rehearsal
    rehearse.py parameters ENV   the parameters of ENV's deploy, as JSON (for translate.py)

1. the artifacts `sam build` made are zipped and uploaded, as `sam package` does; each function with its
   layers must fit Lambda's 250 MB unzipped;
2. prod's parameters from samconfig.toml alone are refused before anything is created (no identity
   provider set: the template gives AuthIssuer and AuthAudience no default);
3. dev, then prod (with the identity provider this check supplies), are created in ONE account and region; every resource of each template must exist in its service
   and every output must have a value;
4. every parameter constraint refuses a value outside it, and the bounds that mirror an AWS limit are
   shown to be that limit: the bound itself deploys, one past it (the constraint removed) is refused by
   the AWS check it mirrors;
5. dev is deleted: its table stays (DeletionPolicy Retain), the rest goes, and dev deploys again.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import shlex
import sys
import time
import tomllib
import warnings
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
BUCKET = "parity-deploy-check-artifacts"
# What the operator sets for prod (samconfig.toml leaves it out on purpose), supplied by this check.
PROD_IDENTITY = {"AuthIssuer": "https://issuer.deploy-check.invalid/", "AuthAudience": "deploy-check"}
# Bounds that are AWS limits: (parameter, bound, why AWS refuses one past it).
AWS_BOUNDS = [
    ("SilenceAlarmHours", 168, "CloudWatch: period (1 h) x evaluation periods at most 7 days"),
    ("ReconcileConcurrency", 1000, "Lambda: an SQS mapping's MaximumConcurrency is 2 to 1,000"),
    ("ProcessorConcurrency", 1000, "Lambda: an SQS mapping's MaximumConcurrency is 2 to 1,000"),
]
UNZIPPED_LIMIT = 262_144_000  # Lambda: a function and its layers, unzipped
TEMPLATE_LIMIT = 1_048_576  # CloudFormation: a template given by S3 URL, as `sam deploy` does

os.environ.update(
    AWS_DEFAULT_REGION=REGION, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SESSION_TOKEN="testing"
)


class Refused(Exception):
    """CloudFormation (or an AWS check of a shim) refused the stack."""


def step(title: str) -> None:
    print(f"\n--- {title}", flush=True)


# ------------------------------------------------------------------------------------ samconfig.toml
def samconfig_parameters(env: str) -> dict[str, str]:
    """`parameter_overrides` of `[<env>.deploy.parameters]`, as `sam deploy --config-env <env>` reads it."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    overrides = config[env]["deploy"]["parameters"].get("parameter_overrides", "")
    if isinstance(overrides, list):
        overrides = " ".join(overrides)
    return dict(item.split("=", 1) for item in shlex.split(overrides))


# ------------------------------------------------------------------- CloudFormation's parameter checks
def parameter_errors(template: dict, values: dict[str, str]) -> list[str]:
    """What CloudFormation checks of the parameters before it creates anything (moto checks none of it):
    unknown names, values missing, and each parameter's constraints."""
    declared = template.get("Parameters", {})
    errors = [f"Parameters: [{name}] do not exist in the template" for name in values if name not in declared]
    missing = [name for name, spec in declared.items() if name not in values and "Default" not in spec]
    if missing:
        errors.append(f"Parameters: [{', '.join(missing)}] must have values")
    for name, spec in declared.items():
        if name not in values:
            continue
        value = str(values[name])
        if spec.get("Type") == "Number":
            try:
                number = float(value)
            except ValueError:
                errors.append(f"Parameter '{name}' must be a number")
                continue
            if "MinValue" in spec and number < float(spec["MinValue"]):
                errors.append(f"Parameter '{name}' must be a number not less than {spec['MinValue']}")
            if "MaxValue" in spec and number > float(spec["MaxValue"]):
                errors.append(f"Parameter '{name}' must be a number not greater than {spec['MaxValue']}")
            if "AllowedValues" in spec and number not in {float(v) for v in spec["AllowedValues"]}:
                errors.append(f"Parameter '{name}' must be one of AllowedValues")
        elif spec.get("Type", "String") == "String":
            if "AllowedValues" in spec and value not in [str(v) for v in spec["AllowedValues"]]:
                errors.append(f"Parameter '{name}' must be one of AllowedValues")
            if "MinLength" in spec and len(value) < int(spec["MinLength"]):
                errors.append(f"Parameter '{name}' must contain at least {spec['MinLength']} characters")
            if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
                errors.append(f"Parameter '{name}' must contain at most {spec['MaxLength']} characters")
            if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
                errors.append(f"Parameter '{name}' failed to satisfy constraint: {spec.get('ConstraintDescription', spec['AllowedPattern'])}")
        elif spec["Type"] == "CommaDelimitedList":  # AWS holds each element to the pattern
            pattern = spec.get("AllowedPattern")
            if pattern and any(not re.fullmatch(pattern, element) for element in value.split(",")):
                errors.append(f"Parameter '{name}' failed to satisfy constraint: {spec.get('ConstraintDescription', pattern)}")
    return errors


def out_of_bounds(spec: dict) -> list[str]:
    """One value outside each constraint of a parameter."""
    values = []
    if "MinValue" in spec:
        values.append(str(spec["MinValue"] - 1))
    if "MaxValue" in spec:
        values.append(str(spec["MaxValue"] + 1))
    if "AllowedValues" in spec:
        values.append("not-an-allowed-value")
    if "MaxLength" in spec:
        values.append("a" * (int(spec["MaxLength"]) + 1))
    if "AllowedPattern" in spec:
        values.append(" ")  # no pattern of the template admits a lone space
    return values


# ------------------------------------------------------------------------------------------ AWS side
def clients():
    import boto3

    return {name: boto3.client(name, region_name=REGION) for name in (
        "cloudformation", "s3", "lambda", "sqs", "dynamodb", "iam", "logs", "cloudwatch", "events",
        "secretsmanager", "apigatewayv2", "scheduler",
    )}


def upload_artifacts(aws: dict, out_dir: Path) -> None:
    """Zips each built folder and uploads it (`sam package`); checks Lambda's unzipped size limit."""
    artifacts = json.loads((out_dir / "artifacts.json").read_text())
    aws["s3"].create_bucket(Bucket=BUCKET)
    unzipped = {}
    for key, folder in sorted(artifacts.items()):
        archive = out_dir / key
        size = 0
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for path in sorted(Path(folder).rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(folder))
                    size += path.stat().st_size
        unzipped[key.removesuffix(".zip")] = size
        aws["s3"].upload_file(str(archive), BUCKET, key)
        archive.unlink()
    template = json.loads((out_dir / "dev.json").read_text())
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Lambda::Function":
            continue
        # SAM renames each layer version (CommonLayer<hash>); its S3 key names the built folder.
        layers = [
            template["Resources"][layer["Ref"]]["Properties"]["Content"]["S3Key"].removesuffix(".zip")
            for layer in resource["Properties"].get("Layers", [])
            if isinstance(layer, dict) and "Ref" in layer
        ]
        total = unzipped[logical_id] + sum(unzipped[layer] for layer in layers)
        print(f"  {logical_id:<24} {total / 1e6:6.1f} MB unzipped with {', '.join(layers)}")
        if total > UNZIPPED_LIMIT:
            raise Refused(f"{logical_id}: {total} bytes unzipped with its layers, above Lambda's {UNZIPPED_LIMIT}")


def deploy(aws: dict, stack: str, template: dict, values: dict[str, str]) -> dict[str, str]:
    """`sam deploy`: the parameters checked, the stack created; returns its outputs."""
    errors = parameter_errors(template, values)
    if errors:
        raise Refused("; ".join(errors))
    body = json.dumps(template)
    if len(body.encode()) > TEMPLATE_LIMIT:
        raise Refused(f"the transformed template is {len(body.encode())} bytes, above CloudFormation's {TEMPLATE_LIMIT}")
    cfn = aws["cloudformation"]
    try:
        # `sam deploy` creates and executes a CREATE change set; moto's change sets skip the outputs, so the
        # stack is made with CreateStack, which is what executing that change set amounts to.
        cfn.create_stack(
            StackName=stack,
            TemplateBody=body,
            Parameters=[{"ParameterKey": k, "ParameterValue": str(v)} for k, v in values.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
    except Exception as error:  # noqa: BLE001 - whatever refused it, CloudFormation reports CREATE_FAILED
        raise Refused(f"{type(error).__name__}: {error}") from error
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    if described["StackStatus"] != "CREATE_COMPLETE":
        raise Refused(f"{stack}: {described['StackStatus']}")
    return {o["OutputKey"]: o.get("OutputValue") for o in described.get("Outputs", [])}


def exists(aws: dict, resource_type: str, physical: str, props: dict) -> bool:
    """Asks the resource's own service whether it exists (not only CloudFormation's record of it)."""
    checks = {
        "AWS::DynamoDB::Table": lambda: aws["dynamodb"].describe_table(TableName=physical),
        "AWS::SQS::Queue": lambda: aws["sqs"].get_queue_attributes(QueueUrl=physical),
        "AWS::IAM::Role": lambda: aws["iam"].get_role(RoleName=physical),
        "AWS::IAM::ManagedPolicy": lambda: aws["iam"].get_policy(PolicyArn=physical),
        "AWS::Lambda::Function": lambda: aws["lambda"].get_function(FunctionName=physical),
        "AWS::Lambda::LayerVersion": lambda: aws["lambda"].get_layer_version(
            LayerName=physical.split(":")[-2], VersionNumber=int(physical.split(":")[-1])
        ),
        "AWS::Lambda::Permission": lambda: aws["lambda"].get_policy(FunctionName=props["FunctionName"]),
        "AWS::Lambda::EventSourceMapping": lambda: aws["lambda"].get_event_source_mapping(UUID=physical),
        "AWS::Lambda::Url": lambda: aws["lambda"].get_function_url_config(FunctionName=physical),
        "AWS::Logs::LogGroup": lambda: next(
            g for g in aws["logs"].describe_log_groups(logGroupNamePrefix=physical)["logGroups"] if g["logGroupName"] == physical
        ),
        "AWS::CloudWatch::Alarm": lambda: aws["cloudwatch"].describe_alarms(AlarmNames=[physical])["MetricAlarms"][0],
        "AWS::Events::EventBus": lambda: aws["events"].describe_event_bus(Name=physical),
        "AWS::SecretsManager::Secret": lambda: aws["secretsmanager"].describe_secret(SecretId=physical),
        "AWS::ApiGatewayV2::Api": lambda: aws["apigatewayv2"].get_routes(ApiId=physical)["Items"][0],
        "AWS::ApiGatewayV2::Stage": lambda: aws["apigatewayv2"].get_stage(ApiId=props["ApiId"], StageName=physical),
        "AWS::Scheduler::Schedule": lambda: aws["scheduler"].get_schedule(Name=physical),
    }
    try:
        checks[resource_type]()
    except KeyError:
        raise Refused(f"no existence check for {resource_type}: add one") from None
    except Exception as error:  # noqa: BLE001
        if os.environ.get("DEPLOY_CHECK_DEBUG"):
            print(f"  ! {resource_type} {physical}: {type(error).__name__}: {error}")
        return False
    return True


def check_stack(aws: dict, stack: str, template: dict, values: dict[str, str], outputs: dict[str, str]) -> None:
    """Every resource of the template (its condition holding) exists in its service; every output has a value."""
    listed = {}
    for page in aws["cloudformation"].get_paginator("list_stack_resources").paginate(StackName=stack):
        listed.update({r["LogicalResourceId"]: r for r in page["StackResourceSummaries"]})
    conditions = conditions_of(template, values)
    missing = []
    for logical_id, resource in template["Resources"].items():
        if resource.get("Condition") and not conditions[resource["Condition"]]:
            continue
        summary = listed.get(logical_id)
        props = resolved_props(aws, stack, resource, listed)
        if summary is None or not exists(aws, resource["Type"], summary["PhysicalResourceId"], props):
            missing.append(f"{logical_id} ({resource['Type']})")
    if missing:
        raise Refused(f"{stack}: resources missing: {', '.join(missing)}")
    expected = [k for k, o in template.get("Outputs", {}).items() if not o.get("Condition") or conditions[o["Condition"]]]
    empty = [k for k in expected if not outputs.get(k)]
    if empty:
        raise Refused(f"{stack}: outputs without a value: {', '.join(empty)}")
    for key, value in outputs.items():
        if key.endswith("Url") and key != "StoreEventsQueueUrl" and not value.startswith("https://"):
            raise Refused(f"{stack}: output {key} is not a URL: {value}")
    print(f"  {stack}: {len(listed)} resources exist, {len(outputs)} outputs")


def conditions_of(template: dict, values: dict[str, str]) -> dict[str, bool]:
    """The template's conditions (Equals / Not / And / Or / Join over parameters), as CloudFormation evaluates them."""
    params = {name: values.get(name, spec.get("Default")) for name, spec in template.get("Parameters", {}).items()}

    def evaluate(node):  # noqa: ANN001, ANN202
        if isinstance(node, dict):
            (fn, arg), = node.items()
            if fn == "Ref":
                return params[arg]
            if fn == "Condition":
                return evaluate(template["Conditions"][arg])
            if fn == "Fn::Equals":
                return str(evaluate(arg[0])) == str(evaluate(arg[1]))
            if fn == "Fn::Not":
                return not evaluate(arg[0])
            if fn == "Fn::And":
                return all(evaluate(a) for a in arg)
            if fn == "Fn::Or":
                return any(evaluate(a) for a in arg)
            if fn == "Fn::Join":
                separator, items = arg
                items = evaluate(items)
                if isinstance(items, str):  # a CommaDelimitedList parameter, as given
                    items = items.split(",") if items else []
                return separator.join(str(evaluate(item)) for item in items)
            raise ValueError(f"condition function {fn} not evaluated here")
        return node

    return {name: bool(evaluate(body)) for name, body in template.get("Conditions", {}).items()}


def resolved_props(aws: dict, stack: str, resource: dict, listed: dict) -> dict:
    """The few properties the existence checks need, with Refs resolved to physical ids."""
    props = {}
    for key in ("FunctionName", "ApiId"):
        value = resource.get("Properties", {}).get(key)
        if isinstance(value, dict) and "Ref" in value:
            value = listed[value["Ref"]]["PhysicalResourceId"]
        elif isinstance(value, dict) and "Fn::GetAtt" in value:
            value = listed[value["Fn::GetAtt"][0]]["PhysicalResourceId"]
        props[key] = value
    return props


def physical(aws: dict, stack: str, logical_id: str) -> str:
    return aws["cloudformation"].describe_stack_resource(StackName=stack, LogicalResourceId=logical_id)[
        "StackResourceDetail"
    ]["PhysicalResourceId"]


def expect_refused(what: str, attempt, match: str | None = None) -> str:  # noqa: ANN001
    try:
        attempt()
    except Refused as refused:
        if match and not re.search(match, str(refused)):
            raise AssertionError(f"{what}: refused for another reason: {refused}") from None
        return str(refused)
    raise AssertionError(f"{what}: was accepted; AWS would refuse it")


# --------------------------------------------------------------------------------------------- main
def main(out_dir: Path) -> None:
    from moto import mock_aws

    from scripts.deploy_check import shims

    started = time.monotonic()
    templates = {env: json.loads((out_dir / f"{env}.json").read_text()) for env in ("dev", "prod")}
    values = {"dev": samconfig_parameters("dev"), "prod": samconfig_parameters("prod")}

    with mock_aws(), warnings.catch_warnings():
        # moto's CloudFormation skips a resource type it does not know with only a warning: here, a failure.
        warnings.filterwarnings("error", message=".*not supported by moto's CloudFormation.*")
        print("shims:", ", ".join(shims.install()))
        aws = clients()

        step("1. artifacts (sam package)")
        upload_artifacts(aws, out_dir)

        step("2. prod as samconfig.toml has it: refused before anything is created")
        print("  refused:", expect_refused(
            "prod without an identity provider",
            lambda: deploy(aws, "parity-prod", templates["prod"], values["prod"]),
            match=r"\[(AuthAudience, AuthIssuer|AuthIssuer, AuthAudience)\] must have values",
        ))
        assert "parity-prod" not in [s["StackName"] for s in aws["cloudformation"].list_stacks()["StackSummaries"]]

        step("3. dev, then prod, in one account and region")
        prod_values = deploy_parameters("prod")
        deployed = {}
        for env, params in (("dev", values["dev"]), ("prod", prod_values)):
            outputs = deploy(aws, f"parity-{env}", templates[env], params)
            check_stack(aws, f"parity-{env}", templates[env], params, outputs)
            deployed[env] = outputs
        for key in ("TableName", "StoreEventsQueueUrl", "StripeWebhookUrl", "ApiUrl"):
            assert deployed["dev"][key] != deployed["prod"][key], key
        for key in ("StripeWebhookUrl", "AppleWebhookUrl", "GoogleWebhookUrl", "ApiUrl", "AdminApiUrl", "SecretsArn"):
            print(f"  prod {key:<18} {deployed['prod'][key]}")

        step("4. parameter bounds")
        template = templates["dev"]
        refused = 0
        for name, spec in template["Parameters"].items():
            for bad in out_of_bounds(spec):
                expect_refused(
                    f"{name}={bad[:20]}",
                    functools.partial(deploy, aws, "parity-bounds", template, {**values["dev"], name: bad}),
                    match=name,
                )
                refused += 1
        print(f"  {refused} out-of-bounds values refused by the parameter constraints")
        at_bounds = {name: str(bound) for name, bound, _ in AWS_BOUNDS}
        outputs = deploy(aws, "parity-at-bounds", template, {**values["dev"], **at_bounds})
        check_stack(aws, "parity-at-bounds", template, {**values["dev"], **at_bounds}, outputs)
        print(f"  at the bounds ({', '.join(f'{k}={v}' for k, v in at_bounds.items())}): deployed")
        for n, (name, bound, why) in enumerate(AWS_BOUNDS):
            loose = copy.deepcopy(template)
            loose["Parameters"][name].pop("MaxValue")
            reason = expect_refused(
                f"{name}={bound + 1} without its MaxValue",
                functools.partial(deploy, aws, f"parity-past-bound-{n}", loose, {**values["dev"], name: str(bound + 1)}),
                match="refuses",
            )
            print(f"  {name}={bound + 1} (MaxValue removed): refused, {why}")
            assert "refuses" in reason

        step("5. delete dev: the table stays; dev deploys again")
        table = deployed["dev"]["TableName"]
        queue = deployed["dev"]["StoreEventsQueueUrl"]
        aws["cloudformation"].delete_stack(StackName="parity-dev")
        aws["dynamodb"].describe_table(TableName=table)  # retained
        assert not exists(aws, "AWS::SQS::Queue", queue, {}), "the dev queue outlived its stack"
        print(f"  table {table} retained; the queues, functions and the rest deleted")
        outputs = deploy(aws, "parity-dev", templates["dev"], values["dev"])
        check_stack(aws, "parity-dev", templates["dev"], values["dev"], outputs)
        assert outputs["TableName"] != table
        print(f"  dev deployed again with a new table ({outputs['TableName']}); the old one is yours to delete")

    print(f"\ndeploy rehearsal passed in {time.monotonic() - started:.1f} s")


def deploy_parameters(env: str) -> dict[str, str]:
    """The parameters each rehearsed deploy uses: samconfig.toml's, with prod's identity provider supplied."""
    return {**samconfig_parameters(env), **(PROD_IDENTITY if env == "prod" else {})}


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    if sys.argv[1] == "parameters":  # for translate.py: `rehearse.py parameters ENV` prints them as JSON
        print(json.dumps(deploy_parameters(sys.argv[2])))
    else:
        try:
            main(Path(sys.argv[1]))
        except (Refused, AssertionError) as failed:
            sys.exit(f"deploy-check FAILED: {failed}")
