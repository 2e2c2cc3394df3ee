"""Parity's Lambda functions run in-process against moto, wired as `template.yaml` wires them.

`running_stack()` starts moto's `mock_aws`, creates the template's table, queues and bus
(`local.resources.create_resources`), sets the environment the functions read, and yields a `Stack`
that imports each `functions/<name>/app.py` fresh (they read settings and build clients at import)
and drives it with the event shapes AWS delivers. Helper reads (scan, receive) go through a separate
boto3 session, so the call counter only sees the functions' own AWS calls.
"""

from __future__ import annotations

import copy
import importlib.util
import itertools
import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer
from moto import mock_aws

import local.resources
from tests.support import stripe as stripe_fixtures
from tests.support.domain import TEST_CATALOG
from tests.support.lambda_events import LambdaContext, admin_event, function_url_event, http_api_event, sqs_event
from tests.support.moto_speed import fast_transactions
from tests.support.signing import write_key

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
REGION = "us-east-1"
ENTITLEMENTS_ROUTE = "/v1/users/{userId}/entitlements"
RECEIPTS_ROUTE = "/v1/users/{userId}/receipts"

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
_UNSET = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "SECRETS_ID", "ENTITLEMENT_SIGNING_KEY_SECRET", "CORS_ALLOW_ORIGINS", "STRIPE_API_KEY", "STRIPE_API_BASE")

_module_ids = itertools.count(1)
_deserializer = TypeDeserializer()


def load_function(name: str) -> ModuleType:
    """`functions/<name>/app.py` imported anew under a unique module name (a fresh cold start)."""
    spec = importlib.util.spec_from_file_location(f"parity_fn_{name}_{next(_module_ids)}", FUNCTIONS / name / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Response:
    status: int
    body: Any
    headers: dict

    @classmethod
    def of(cls, result: Mapping) -> Response:
        raw = result.get("body")
        return cls(result["statusCode"], json.loads(raw) if raw else None, dict(result.get("headers") or {}))


@dataclass
class Drain:
    """What a drain of the store-events queue did: per batch, the handler's answer."""

    batches: list[dict] = field(default_factory=list)
    succeeded: list[str] = field(default_factory=list)  # message ids, in processing order
    failed: list[str] = field(default_factory=list)
    bodies: dict[str, str] = field(default_factory=dict)  # message id → body


class CallCounter:
    """Counts AWS API calls (botocore `before-call`) of clients created after `install`, by service and operation."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()

    def install(self, session: boto3.Session) -> None:
        session.events.register("before-call", self._count)

    def _count(self, model, **_: Any) -> None:
        self.calls[(model.service_model.service_name, model.name)] += 1

    def reset(self) -> None:
        self.calls.clear()

    def count(self, service: str, operation: str | None = None) -> int:
        return sum(n for (s, op), n in self.calls.items() if s == service and (operation is None or op == operation))

    def snapshot(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (service, operation), n in sorted(self.calls.items()):
            out.setdefault(service, {})[operation] = n
        return out


class Stack:
    """The three functions and the emulated resources they use."""

    def __init__(self, resources, session: boto3.Session) -> None:
        self.resources = resources
        self.env = resources.function_environment()
        self.session = session  # the helpers' own session: not counted
        self.table = self.env["TABLE_NAME"]
        self.queue_url = self.env["EVENTS_QUEUE_URL"]
        self.queue_arn = resources.arns["StoreEventsQueue"]
        self.dlq_url = resources.refs["StoreEventsDLQ"]
        self.bus = self.env["EVENT_BUS_NAME"]
        self._ddb = session.client("dynamodb")
        self._sqs = session.client("sqs")
        self._failed_handles: dict[str, str] = {}
        self._notices: list[dict] = []
        self._modules: dict[str, ModuleType] = {}
        self.counter = _COUNTER
        self.counter.reset()
        self.changes_queue_url = self._capture_changes(session)

    # -- functions ----------------------------------------------------------------------------------

    def function(self, name: str) -> ModuleType:
        if name not in self._modules:
            self._modules[name] = load_function(name)
        return self._modules[name]

    @property
    def webhook(self) -> ModuleType:
        return self.function("stripe_webhook")

    @property
    def processor(self) -> ModuleType:
        return self.function("event_processor")

    @property
    def entitlements(self) -> ModuleType:
        return self.function("entitlements")

    def reload(self) -> None:
        """Forget the imported functions: the next use imports them again (after an env change)."""
        self._modules.clear()

    # -- driving them -------------------------------------------------------------------------------

    def post_stripe(
        self,
        event: Mapping | bytes,
        *,
        secret: str = stripe_fixtures.SECRET,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: Mapping[str, str] | None = None,
        base64_encoded: bool = False,
        method: str = "POST",
    ) -> Response:
        """POST a Stripe event (or raw bytes) to the webhook's function URL, signed unless `signature` is given."""
        body = event if isinstance(event, bytes) else stripe_fixtures.encode(dict(event))
        header = signature if signature is not None else stripe_fixtures.sign(body, secret, timestamp)
        all_headers = {"stripe-signature": header, **(headers or {})} if header else dict(headers or {})
        request = function_url_event(body, all_headers, method=method, base64_encoded=base64_encoded)
        return Response.of(self.webhook.lambda_handler(request, LambdaContext("parity-stripe-webhook")))

    def post_apple(self, body: bytes, method: str = "POST") -> Response:
        """POST an App Store Server Notification body to the Apple webhook's function URL."""
        request = function_url_event(body, {"content-type": "application/json"}, method=method)
        return Response.of(self.function("apple_webhook").lambda_handler(request, LambdaContext("parity-apple-webhook")))

    def post_google(self, body: bytes, authorization: str | None) -> Response:
        """POST a Pub/Sub push to the Google webhook's function URL (with its OIDC bearer token)."""
        headers = {"authorization": authorization} if authorization else {}
        request = function_url_event(body, headers)
        return Response.of(self.function("google_webhook").lambda_handler(request, LambdaContext("parity-google-webhook")))

    def deliver(self, *events: Mapping) -> list[Response]:
        responses = [self.post_stripe(event) for event in events]
        assert all(r.status == 200 for r in responses), [r.body for r in responses]
        return responses

    def receive(self, max_messages: int = 10, queue_url: str | None = None) -> list[dict]:
        return self._sqs.receive_message(
            QueueUrl=queue_url or self.queue_url,
            MaxNumberOfMessages=max_messages,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])

    def process(self, messages: Sequence[Mapping]) -> dict:
        """One SQS batch through the processor; deletes what succeeded, keeps the failures in flight."""
        event = sqs_event(messages, self.queue_arn)
        try:
            answer = self.processor.lambda_handler(event, LambdaContext("parity-event-processor"))
        except Exception as error:  # the whole invocation failed (e.g. every record failed): all retried
            answer = {"batchItemFailures": [{"itemIdentifier": m["MessageId"]} for m in messages], "error": repr(error)}
        failed = {item["itemIdentifier"] for item in answer.get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] in failed:
                self._failed_handles[message["MessageId"]] = message["ReceiptHandle"]
            else:
                self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
                self._failed_handles.pop(message["MessageId"], None)
        return answer

    def drain(self, max_batches: int = 50, batch_size: int = 10) -> Drain:
        """Receive and process until the queue has nothing visible (failed messages stay in flight)."""
        result = Drain()
        for _ in range(max_batches):
            messages = self.receive(batch_size)
            if not messages:
                break
            answer = self.process(messages)
            result.batches.append(answer)
            failed = {item["itemIdentifier"] for item in answer.get("batchItemFailures", [])}
            for message in messages:
                result.bodies[message["MessageId"]] = message["Body"]
                (result.failed if message["MessageId"] in failed else result.succeeded).append(message["MessageId"])
        return result

    def redeliver_failed(self) -> int:
        """End the visibility timeout of the messages that failed: SQS delivers them again."""
        handles = list(self._failed_handles.values())
        for handle in handles:
            self._sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
        self._failed_handles.clear()
        return len(handles)

    def send_raw(self, body: str, group: str, dedup_id: str) -> str:
        """A message put on the store-events queue directly (not through a webhook)."""
        return self._sqs.send_message(
            QueueUrl=self.queue_url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=dedup_id
        )["MessageId"]

    def read(self, user_id: str, sub: str | None | object = ...) -> Response:
        """GET /v1/users/{userId}/entitlements with a JWT whose `sub` is `user_id` (or `sub`)."""
        claims_sub = user_id if sub is ... else sub
        request = http_api_event("GET", ENTITLEMENTS_ROUTE, {"userId": user_id}, claims_sub)
        return Response.of(self.entitlements.lambda_handler(request, LambdaContext("parity-entitlements")))

    def submit_receipt(self, user_id: str, body: Mapping | bytes, sub: str | None | object = ...) -> Response:
        """POST /v1/users/{userId}/receipts with a JWT whose `sub` is `user_id` (or `sub`)."""
        request = http_api_event("POST", RECEIPTS_ROUTE, {"userId": user_id}, user_id if sub is ... else sub)
        request["body"] = (body if isinstance(body, bytes) else json.dumps(body).encode()).decode()
        return Response.of(self.function("receipts").lambda_handler(request, LambdaContext("parity-receipts")))

    def admin(self, method: str, route: str, body: Mapping | None = None, iam: bool = True, **params: str) -> Response:
        """An admin route (`route` as in the template, e.g. "/v1/admin/users/{userId}") as an operator."""
        request = admin_event(method, route, params, body, iam)
        return Response.of(self.function("admin").lambda_handler(request, LambdaContext("parity-admin")))

    def assign_owner(self, purchase_id: str, user_id: str) -> Response:
        return self.admin("PUT", "/v1/admin/purchases/{purchaseId}/owner", {"userId": user_id}, purchaseId=purchase_id)

    def merge(self, into_user: str, from_user: str) -> Response:
        return self.admin("POST", "/v1/admin/users/{userId}/merge", {"fromUserId": from_user}, userId=into_user)

    def user_report(self, user_id: str) -> Response:
        return self.admin("GET", "/v1/admin/users/{userId}", userId=user_id)

    # -- looking inside -----------------------------------------------------------------------------

    def table_items(self) -> list[dict]:
        items: list[dict] = []
        kwargs: dict[str, Any] = {"TableName": self.table}
        while True:
            page = self._ddb.scan(**kwargs)
            items += [{k: _deserializer.deserialize(v) for k, v in item.items()} for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def item(self, pk: str, sk: str) -> dict | None:
        raw = self._ddb.get_item(TableName=self.table, Key={"PK": {"S": pk}, "SK": {"S": sk}}).get("Item")
        return None if raw is None else {k: _deserializer.deserialize(v) for k, v in raw.items()}

    def event_item(self, event_id: str, source: str = "stripe") -> dict | None:
        return self.item(f"EVENT#{source}#{event_id}", "EVENT")

    def purchase_item(self, purchase_id: str) -> dict | None:
        return self.item(f"PURCHASE#{purchase_id}", "PURCHASE")

    def queue_depth(self, queue_url: str | None = None) -> int:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=queue_url or self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def changes(self) -> list[dict]:
        """The `entitlement.changed` events published since the last call (their `detail`), oldest first;
        the other Parity events (flags, double billing, merges) are kept for `notices`."""
        out = []
        while True:
            messages = self._sqs.receive_message(QueueUrl=self.changes_queue_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                return out
            for message in messages:
                envelope = json.loads(message["Body"])
                assert envelope["source"] == "parity", envelope
                if envelope["detail-type"] == "entitlement.changed":
                    out.append(envelope["detail"])
                else:
                    assert envelope["detail-type"] == envelope["detail"]["type"], envelope
                    self._notices.append(envelope["detail"])
                self._sqs.delete_message(QueueUrl=self.changes_queue_url, ReceiptHandle=message["ReceiptHandle"])

    def notices(self) -> list[dict]:
        """The Parity events other than `entitlement.changed` published since the last call."""
        self.changes()
        out, self._notices = self._notices, []
        return out

    def _capture_changes(self, session: boto3.Session) -> str:
        """A rule on the change bus that forwards every Parity event to a plain SQS queue."""
        url = self._sqs.create_queue(QueueName="parity-test-changes")["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events = session.client("events")
        events.put_rule(Name="capture-changes", EventBusName=self.bus, EventPattern=json.dumps({"source": ["parity"]}))
        events.put_targets(Rule="capture-changes", EventBusName=self.bus, Targets=[{"Id": "changes", "Arn": arn}])
        return url


# One pair of sessions per process: a botocore session loads each service model once, and moto
# intercepts every client whatever session made it. The functions' clients come from the default
# session, which carries the call counter; the helpers' from their own, uncounted.
_COUNTER = CallCounter()
_SESSIONS: dict[str, boto3.Session] = {}


def _session(role: str) -> boto3.Session:
    if role not in _SESSIONS:
        _SESSIONS[role] = boto3.Session(region_name=REGION)
        if role == "functions":
            _COUNTER.install(_SESSIONS[role])
    return _SESSIONS[role]


_TEMPLATES: dict[tuple[str, int], dict] = {}


def create_resources(session: boto3.Session):
    """`local.resources.create_resources`, parsing template.yaml once per process (it is read-only here)."""
    module = local.resources
    original = module.load_template

    def cached(path: Path = module.TEMPLATE) -> dict:
        key = (str(path), Path(path).stat().st_mtime_ns)
        if key not in _TEMPLATES:
            _TEMPLATES[key] = original(path)
        return copy.deepcopy(_TEMPLATES[key])

    module.load_template = cached
    try:
        return module.create_resources(session)
    finally:
        module.load_template = original


@contextmanager
def running_stack(
    catalog: Mapping | None = None, catalog_dir: Path | None = None, env: Mapping[str, str] | None = None
) -> Iterator[Stack]:
    """moto + the template's resources + the functions' environment; restores the environment after."""
    saved = dict(os.environ)
    for name in _UNSET:
        os.environ.pop(name, None)
    os.environ.update(FAKE_AWS_ENV)
    try:
        with mock_aws(), fast_transactions(), ExitStack() as scratch:
            boto3.DEFAULT_SESSION = _session("functions")
            session = _session("helpers")
            resources = create_resources(session)
            directory = catalog_dir or Path(scratch.enter_context(tempfile.TemporaryDirectory(prefix="parity-catalog-")))
            catalog_file = directory / "catalog.json"
            catalog_file.write_text(json.dumps(catalog or TEST_CATALOG))
            key_file = write_key(directory)
            os.environ.update(resources.function_environment())
            os.environ.update(
                {
                    "STRIPE_WEBHOOK_SECRET": stripe_fixtures.SECRET,
                    "CATALOG_FILE": str(catalog_file),
                    "ENTITLEMENT_SIGNING_KEY_FILE": str(key_file),
                    "POWERTOOLS_TRACE_DISABLED": "true",
                    **(env or {}),
                }
            )
            # The scheduled scan selects every shard itself unless a test wires the shard queue (as on AWS).
            os.environ.pop("DRIFT_SHARD_QUEUE_URL", None)
            yield Stack(resources, session)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        boto3.DEFAULT_SESSION = None
