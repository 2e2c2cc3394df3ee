"""Lambda event shapes as AWS delivers them: function URL, HTTP API (payload v2) with a JWT
authorizer, SQS batches, and a Lambda context. Used by the integration tests and the benchmarks."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

REGION = "us-east-1"
ACCOUNT = "123456789012"


@dataclass
class LambdaContext:
    """What Powertools reads from the context (`inject_lambda_context`, batch processing)."""

    function_name: str = "parity-test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/parity-test"
    log_stream_name: str = "2026/11/22/[$LATEST]test"
    remaining_ms: int = 300_000  # the queue consumers' timeout (template.yaml); tests shorten it

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def request_context(method: str, path: str, domain: str, route_key: str, **extra) -> dict:
    now = time.time()
    return {
        "accountId": ACCOUNT,
        "apiId": "testapi",
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0],
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "tests"},
        "requestId": str(uuid.uuid4()),
        "routeKey": route_key,
        "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "timeEpoch": int(now * 1000),
        **extra,
    }


def function_url_event(
    body: bytes, headers: Mapping[str, str] | None = None, method: str = "POST", base64_encoded: bool = False
) -> dict:
    """A Lambda function URL invocation (payload v2; header names arrive lower-cased)."""
    domain = "abcdefghijklmnop.lambda-url.us-east-1.on.aws"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json; charset=utf-8",
            "host": domain,
            "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            **{name.lower(): value for name, value in (headers or {}).items()},
        },
        "requestContext": request_context(method, "/", domain, "$default"),
        "body": base64.b64encode(body).decode() if base64_encoded else body.decode("utf-8"),
        "isBase64Encoded": base64_encoded,
    }


def http_api_event(method: str, route: str, path_parameters: Mapping[str, str], sub: str | None) -> dict:
    """An HTTP API (payload v2) request that the JWT authorizer let through with `sub` (None: no authorizer)."""
    path = route
    for name, value in path_parameters.items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    authorizer = (
        {"jwt": {"claims": {"sub": sub, "iss": "https://auth.example.com/", "aud": "parity"}, "scopes": None}}
        if sub is not None
        else None
    )
    context = request_context(method, path, "testapi.execute-api.us-east-1.amazonaws.com", f"{method} {route}")
    if authorizer:
        context["authorizer"] = authorizer
    return {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"authorization": "Bearer test", "host": "testapi.execute-api.us-east-1.amazonaws.com"},
        "requestContext": context,
        "pathParameters": dict(path_parameters),
        "isBase64Encoded": False,
    }


OPERATOR_ARN = f"arn:aws:iam::{ACCOUNT}:user/operator"


def admin_event(method: str, route: str, path_parameters: Mapping[str, str], body: Mapping | None = None, iam: bool = True) -> dict:
    """An HTTP API request the IAM authorizer let through as OPERATOR_ARN (`iam=False`: no authorizer)."""
    event = http_api_event(method, route, path_parameters, None)
    event["headers"].pop("authorization")
    if iam:
        event["requestContext"]["authorizer"] = {
            "iam": {"accessKey": "AKIATEST", "accountId": ACCOUNT, "callerId": "AIDATEST", "userArn": OPERATOR_ARN, "userId": "AIDATEST"}
        }
    if body is not None:
        event["body"] = json.dumps(body)
    return event


def sqs_record(message: Mapping, queue_arn: str) -> dict:
    """One record of the SQS event source mapping, built from a ReceiveMessage result (attributes: All)."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": dict(message.get("MessageAttributes") or {}),
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(message["Body"].encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def sqs_event(messages: Sequence[Mapping], queue_arn: str) -> dict:
    return {"Records": [sqs_record(message, queue_arn) for message in messages]}
