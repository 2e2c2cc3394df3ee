"""Deterministic, seeded fault injection into the functions' AWS calls and the Play Developer API.

AWS: botocore hooks on the session the functions' clients come from. `before-call` answers a call with
an error instead of sending it (throttling, a transaction cancelled by a conflicting one, timeouts:
nothing was applied); `after-call` lets a write land and then loses its answer (a read timeout after
the write: applied, and the caller does not know). Raised from the hooks, the errors pass botocore's own
retries by: the function sees every fault.

Play: the client's authorized HTTP transport answers 503 or times out (before the request, or after it
reached Google), and its backoff sleeps are recorded instead of slept.

A crash of the event processor between its commit and the message delete: `SimulatedCrash`, a
BaseException that Powertools' batch processor does not catch, raised after a TransactWriteItems that
succeeded, ends the whole invocation the way a Lambda timeout or an out-of-memory kill does.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"}
SQS_WRITES = {"SendMessage", "SendMessageBatch"}
EVENTS_WRITES = {"PutEvents"}


class SimulatedCrash(BaseException):
    """The Lambda dies (timeout, out of memory): nothing after this line runs, no answer is returned."""


def _client_error(code: str, operation: str, status: int = 400, **extra: Any) -> ClientError:
    response = {"Error": {"Code": code, "Message": "injected fault"}, "ResponseMetadata": {"HTTPStatusCode": status}, **extra}
    return ClientError(response, operation)


class FaultInjector:
    """Fails `rate` of the calls it sees, each with a kind drawn for the operation; counts by kind."""

    def __init__(self, seed: int, rate: float, crash_rate: float = 0.0) -> None:
        self.rng = random.Random(seed)
        self.rate = rate
        self.crash_rate = crash_rate  # per successful processor commit
        self.enabled = False
        self.in_processor = False  # set by the queue loop around a processor invocation
        self.counts: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._pending_after: dict[int, str] = {}
        self.sleeps: list[float] = []

    # -- AWS ----------------------------------------------------------------------------------------

    def install(self, session) -> Callable[[], None]:
        """Hooks on a boto3 session (clients created afterwards carry them); returns the uninstaller."""
        events = session.events
        handlers = [
            ("before-call.dynamodb", self._before),
            ("before-call.sqs", self._before),
            ("before-call.eventbridge", self._before),
            ("after-call.dynamodb", self._after),
            ("after-call.sqs", self._after),
            ("after-call.eventbridge", self._after),
        ]
        for name, handler in handlers:
            events.register(name, handler, unique_id=f"chaos-{name}")

        def uninstall() -> None:
            for name, _handler in handlers:
                events.unregister(name, unique_id=f"chaos-{name}")

        return uninstall

    def _kinds(self, service: str, operation: str) -> list[str]:
        if service == "dynamodb":
            kinds = ["dynamodb.ProvisionedThroughputExceeded", "dynamodb.Throttling", "dynamodb.ReadTimeout", "dynamodb.ConnectTimeout"]
            if operation == "TransactWriteItems":
                kinds.append("dynamodb.TransactionCanceled")
            if operation in DYNAMODB_WRITES:
                kinds.append("dynamodb.TimeoutAfterWrite")
            return kinds
        if service == "sqs":
            return ["sqs.Throttled", "sqs.InternalError", "sqs.ReadTimeout", "sqs.ConnectTimeout", "sqs.TimeoutAfterSend"]
        return ["events.Throttling", "events.InternalError", "events.ReadTimeout", "events.TimeoutAfterPut"]

    def _before(self, model, params, context=None, **_: Any):
        if not self.enabled:
            return None
        service, operation = model.service_model.endpoint_prefix, model.name
        self.calls[f"{service}.{operation}"] += 1
        if self.rng.random() >= self.rate:
            return None
        kind = self.rng.choice(self._kinds(service, operation))
        self.counts[kind] += 1
        endpoint = f"https://{service}.us-east-1.amazonaws.com/"
        if kind.endswith("TimeoutAfterWrite") or kind.endswith("TimeoutAfterSend") or kind.endswith("TimeoutAfterPut"):
            if context is not None:
                context["chaos_after"] = kind  # raised once the write has landed
            return None
        if kind.endswith("ReadTimeout"):
            raise ReadTimeoutError(endpoint_url=endpoint)
        if kind.endswith("ConnectTimeout"):
            raise ConnectTimeoutError(endpoint_url=endpoint)
        if kind == "dynamodb.ProvisionedThroughputExceeded":
            raise _client_error("ProvisionedThroughputExceededException", operation)
        if kind == "dynamodb.TransactionCanceled":
            try:
                items = json.loads(params.get("body") or b"{}").get("TransactItems") or [None]
            except ValueError:
                items = [None]
            reasons = [{"Code": "None", "Message": "None"} for _ in items]
            reasons[self.rng.randrange(len(reasons))] = {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
            return_error = _client_error("TransactionCanceledException", operation, CancellationReasons=reasons)
            return_error.response["Error"]["Message"] = "Transaction cancelled, please refer cancellation reasons for specific reasons"
            raise return_error
        if kind == "sqs.Throttled":
            raise _client_error("RequestThrottled", operation)
        if kind.endswith("InternalError"):
            raise _client_error("InternalError" if service == "sqs" else "InternalException", operation, status=500)
        raise _client_error("ThrottlingException", operation)

    def _after(self, http_response=None, parsed=None, model=None, context=None, **_: Any) -> None:
        kind = (context or {}).pop("chaos_after", None)
        failed = http_response is not None and getattr(http_response, "status_code", 200) >= 300
        if kind and not failed:
            raise ReadTimeoutError(endpoint_url=f"https://{model.service_model.endpoint_prefix}.us-east-1.amazonaws.com/")
        if (
            self.enabled
            and self.in_processor
            and not failed
            and model is not None
            and model.name == "TransactWriteItems"
            and self.crash_rate
            and self.rng.random() < self.crash_rate
        ):
            self.counts["processor.CrashAfterCommit"] += 1
            raise SimulatedCrash("the processor died after its commit, before the message was deleted")

    # -- Play Developer API -------------------------------------------------------------------------

    def wrap_play(self, api) -> None:
        """Faults on the client's authorized transport (API and token requests); sleeps recorded."""
        from dataclasses import replace

        import httplib2

        api.prepare()
        api._retry = replace(api._retry, sleep=self.sleeps.append)
        authorized = api._purchases._http
        real = authorized.request

        def request(uri, method="GET", body=None, headers=None, *args, **kwargs):
            if not self.enabled:
                return real(uri, method, body, headers, *args, **kwargs)
            self.calls[f"play.{method}"] += 1
            if self.rng.random() >= self.rate:
                return real(uri, method, body, headers, *args, **kwargs)
            kind = self.rng.choice(["play.503", "play.500", "play.Timeout", "play.TimeoutAfterRequest"])
            self.counts[kind] += 1
            if kind == "play.Timeout":
                raise TimeoutError("timed out")
            if kind == "play.TimeoutAfterRequest":
                real(uri, method, body, headers, *args, **kwargs)
                raise TimeoutError("timed out")
            status = int(kind.split(".")[1])
            error = {"error": {"code": status, "message": "Backend Error", "status": "UNAVAILABLE" if status == 503 else "INTERNAL"}}
            response = httplib2.Response({"status": str(status), "content-type": "application/json; charset=UTF-8"})
            return response, json.dumps(error).encode()

        authorized.request = request
