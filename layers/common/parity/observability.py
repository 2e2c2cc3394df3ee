"""One Logger, Metrics and Tracer for the package (Powertools: structured JSON logs, EMF metrics, X-Ray)."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache

from aws_lambda_powertools import Logger, Metrics, Tracer

from . import end_of_init

logger = Logger(service="parity")
metrics = Metrics(namespace="Parity", service="parity")

# What X-Ray records inside an invocation: the AWS calls (DynamoDB, SQS, EventBridge, Secrets Manager)
# and the stores' API calls. `patch_all` would import and patch every library X-Ray knows (about twice
# the Tracer's cost at cold start).
TRACED_MODULES = ("botocore", "httplib")


def tracing_enabled() -> bool:
    """Powertools' rule: on Lambda (not `sam local`), unless POWERTOOLS_TRACE_DISABLED is true."""
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in ("1", "true", "yes", "on")
    return bool(os.environ.get("LAMBDA_TASK_ROOT")) and not os.environ.get("AWS_SAM_LOCAL") and not disabled


@cache
def tracer() -> Tracer | None:
    """The package's Tracer when tracing is enabled, else None.

    Not created elsewhere (tests, the local stack, `sam local`): there the X-Ray SDK's recorder builds a
    sampling client when imported (about 150 ms) for traces no daemon collects.
    """
    if not tracing_enabled():
        return None
    return Tracer(service="parity", patch_modules=TRACED_MODULES)


def traced(handler: Callable) -> Callable:
    """`handler` with an X-Ray segment per invocation when tracing is enabled (the template turns on
    active tracing). Responses are not recorded: they hold user data, and X-Ray caps a segment at 64 KB."""
    active = tracer()
    return handler if active is None else active.capture_lambda_handler(handler, capture_response=False)


def lambda_entry(handler: Callable | None = None, *, with_metrics: bool = True) -> Callable:
    """Every function's handler decoration, in one place: the Lambda context in each log line, the X-Ray
    segment (`traced`), and the EMF metrics flushed at the end of the invocation (`with_metrics=False`
    for a function that publishes none: Powertools would warn about an empty flush on every call). The
    handler is the last thing a handler module defines: wrapping it ends the init phase (`end_of_init`)."""

    def decorate(function: Callable) -> Callable:
        inner = metrics.log_metrics(function) if with_metrics else function
        wrapped = logger.inject_lambda_context(traced(inner))
        end_of_init()
        return wrapped

    return decorate if handler is None else decorate(handler)
