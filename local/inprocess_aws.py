"""The stack's own AWS calls reach moto without HTTP.

Every boto3 client of the stack's process points at the stack's moto server (`AWS_ENDPOINT_URL`), and
other processes (the operator console, tests) still talk to that server. Within the process, a
request to it for DynamoDB, SQS or EventBridge is handed to moto's request handler directly (moto's
own in-process dispatch, what `mock_aws` does) instead of crossing a socket, werkzeug and Flask: the
same handler, backends and answers, at about a third of the cost per call, and unsigned. Requests to
other services, or anywhere else, go out as before.
"""

from __future__ import annotations

from collections.abc import Callable

from botocore.awsrequest import AWSPreparedRequest

# before-send event service names -> the AWS host moto's URL patterns know them by.
SERVICES = {"dynamodb": "dynamodb", "sqs": "sqs", "eventbridge": "events"}
REGION = "us-east-1"


class InProcess:
    """A botocore `before-send` handler: answers requests to `endpoint_url` from moto in-process."""

    def __init__(self, endpoint_url: str) -> None:
        from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse

        self.prefix = endpoint_url.rstrip("/")
        self._stubber = BotocoreStubber()
        self._raw = MockRawResponse

    def __call__(self, event_name: str, request: AWSPreparedRequest, **kwargs):
        from botocore.awsrequest import AWSResponse

        parts = event_name.split(".")
        host = SERVICES.get(parts[1]) if len(parts) > 1 else None
        if host is None or not request.url.startswith(self.prefix):
            return None
        path = request.url[len(self.prefix) :] or "/"
        aws = AWSPreparedRequest(
            method=request.method,
            url=f"https://{host}.{REGION}.amazonaws.com{path}",
            headers=request.headers,
            body=request.body,
            stream_output=False,
        )
        answer = self._stubber.process_request(aws)
        if answer is None:
            return None
        status, headers, body = answer
        return AWSResponse(request.url, status, headers, self._raw(body))


def unsigned(**kwargs):
    """Requests to the emulated services are not signed: moto checks no signature (the account is its
    default one, as for the stack's fake key; the region is in the URL), and SigV4 is a sixth of the
    client's work for an in-process call."""
    from botocore import UNSIGNED

    return UNSIGNED


def install(endpoint_url: str) -> Callable[[], None]:
    """For every botocore session created from now on; returns the function that undoes it."""
    from botocore import handlers

    added = [("before-send", InProcess(endpoint_url))]
    added += [(f"choose-signer.{service}", unsigned) for service in SERVICES]
    for handler in added:
        handlers.BUILTIN_HANDLERS.insert(0, handler)

    def undo() -> None:
        for handler in added:
            if handler in handlers.BUILTIN_HANDLERS:
                handlers.BUILTIN_HANDLERS.remove(handler)

    return undo
