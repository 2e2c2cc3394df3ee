"""The package's Tracer: on for Lambda, off (and never created) in tests, the local stack and `sam local`."""

from __future__ import annotations

import pytest

from parity import observability


@pytest.mark.parametrize(
    ("env", "enabled"),
    [
        ({}, False),  # tests and the local stack: not on Lambda
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "false"}, True),
    ],
)
def test_tracing_is_enabled_on_lambda_only(monkeypatch, env, enabled):
    # GIVEN the environment of a Lambda container, `sam local`, or a test run
    for name in ("LAMBDA_TASK_ROOT", "AWS_SAM_LOCAL", "POWERTOOLS_TRACE_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    # THEN tracing follows Powertools' rule
    assert observability.tracing_enabled() is enabled


def test_outside_lambda_no_tracer_is_created_and_handlers_are_left_as_they_are():
    # GIVEN a test run (no LAMBDA_TASK_ROOT): the X-Ray SDK would build a sampling client for nothing
    def handler(event, context):
        return {"statusCode": 200}

    # WHEN a handler is traced
    # THEN it is the handler itself
    assert observability.tracer() is None
    assert observability.traced(handler) is handler
