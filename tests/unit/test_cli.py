"""The operator console's skeleton: subcommand discovery, global options anywhere, resource resolution
from a local stack's connection file, a CloudFormation stack's outputs or the environment, queue pairs
found by name, and the progress bar."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import boto3
import pytest
from botocore.stub import Stubber

from parity_cli import commands
from parity_cli.errors import CliError
from parity_cli.main import build_parser, run
from parity_cli.progress import Progress
from parity_cli.resources import (
    QueuePair,
    from_environment,
    from_local_file,
    from_outputs,
    local_file_path,
    pair_queues,
    resolve,
)

PROD_OUTPUTS = {
    "ApiUrl": "https://abc.execute-api.eu-west-1.amazonaws.com",
    "TableName": "parity-prod-ParityTable-1X",
    "StoreEventsQueueUrl": "https://sqs.eu-west-1.amazonaws.com/111122223333/parity-prod-store-events.fifo",
    "StoreEventsDLQUrl": "https://sqs.eu-west-1.amazonaws.com/111122223333/parity-prod-store-events-dlq.fifo",
    "ReconcileQueueUrl": "https://sqs.eu-west-1.amazonaws.com/111122223333/parity-prod-reconcile",
    "ReconcileDLQUrl": "https://sqs.eu-west-1.amazonaws.com/111122223333/parity-prod-reconcile-dlq",
    "ChangeEventBusName": "parity-prod-changes",
}


def test_subcommands_are_discovered_from_their_modules_and_take_the_global_options_anywhere():
    assert "dlq" in [name for name, _ in commands.discover()]
    parser = build_parser()
    before = parser.parse_args(["--json", "--stack-name", "parity-prod", "dlq", "show", "StoreEvents"])
    after = parser.parse_args(["dlq", "show", "StoreEvents", "--json", "--region", "eu-west-1", "--max", "3"])
    assert (before.json, before.stack_name, before.queue, before.max) == (True, "parity-prod", "StoreEvents", 20)
    assert (after.json, after.region, after.max) == (True, "eu-west-1", 3)
    assert not hasattr(after, "local")  # filled in by `run`, so a subcommand cannot reset what came before it


def test_usage_errors_and_help_exit_as_argparse_does(capsys):
    assert run(["dlq"]) == 2
    assert run(["dlq", "show", "--max", "0"]) == 2
    assert run(["dlq", "redrive", "--help"]) == 0
    help_text = capsys.readouterr().out
    assert "StartMessageMoveTask" in help_text and "safe to" in help_text and "repeat" in help_text
    assert run(["dlq", "show", "--help"]) == 0
    assert "receive count" in capsys.readouterr().out


def test_queue_pairs_are_found_by_name_so_a_new_queue_needs_no_code():
    pairs = pair_queues(PROD_OUTPUTS, "QueueUrl", "DLQUrl")
    assert [(p.name, bool(p.queue_url), bool(p.dlq_url)) for p in pairs] == [
        ("Reconcile", True, True),
        ("StoreEvents", True, True),
    ]
    resources = from_outputs(PROD_OUTPUTS, "stack parity-prod", "eu-west-1")
    assert resources.table_name == "parity-prod-ParityTable-1X"
    assert resources.event_bus_name == "parity-prod-changes"
    for spelling in (
        "StoreEvents",
        "store-events",
        "StoreEventsDLQ",
        "parity-prod-store-events-dlq.fifo",
        "parity-prod-store-events",
        PROD_OUTPUTS["StoreEventsDLQUrl"],
    ):
        assert resources.find_queue(spelling).name == "StoreEvents", spelling
    with pytest.raises(CliError, match="known: Reconcile, StoreEvents"):
        resources.find_queue("payments")


def test_a_stack_is_found_by_its_outputs():
    client = boto3.client("cloudformation", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    outputs = [{"OutputKey": key, "OutputValue": value} for key, value in PROD_OUTPUTS.items()]
    stub.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": "parity-prod",
                    "CreationTime": "2026-01-01T00:00:00Z",
                    "StackStatus": "UPDATE_COMPLETE",
                    "Outputs": outputs,
                }
            ]
        },
        {"StackName": "parity-prod"},
    )
    with stub:
        resources = resolve(stack_name="parity-prod", environ={}, cloudformation=lambda region: client)
    assert resources.origin == "stack parity-prod (eu-west-1)" and resources.region == "eu-west-1"
    assert [p.name for p in resources.dead_letter_queues()] == ["Reconcile", "StoreEvents"]
    assert resources.endpoint_url is None and not resources.local


def test_the_environment_names_the_functions_use():
    resources = from_environment(
        {
            "TABLE_NAME": "parity",
            "EVENTS_QUEUE_URL": "https://sqs/1/parity-store-events.fifo",
            "RECONCILE_QUEUE_URL": "https://sqs/1/parity-reconcile",
            "RECONCILE_DLQ_URL": "https://sqs/1/parity-reconcile-dlq",
            "EVENT_BUS_NAME": "parity-changes",
        }
    )
    assert resources.table_name == "parity" and resources.event_bus_name == "parity-changes"
    assert resources.queues == (
        QueuePair("Reconcile", "https://sqs/1/parity-reconcile", "https://sqs/1/parity-reconcile-dlq"),
        QueuePair("StoreEvents", "https://sqs/1/parity-store-events.fifo", None),  # DLQ: from its RedrivePolicy
    )


def test_nothing_to_go_on_is_a_usage_error_naming_the_ways(capsys):
    assert run(["dlq", "list"], environ={}) == 2
    assert "--local" in capsys.readouterr().err
    with pytest.raises(CliError, match="choose one"):
        resolve(local=True, stack_name="parity-prod", environ={})


def write_connection_file(path, pid: int) -> None:
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "pid": pid,
                "endpointUrl": "http://127.0.0.1:45000",
                "region": "us-east-1",
                "resources": {
                    "ParityTable": {"type": "AWS::DynamoDB::Table", "ref": "parity-local-ParityTable"},
                    "StoreEventsQueue": {"type": "AWS::SQS::Queue", "ref": "http://127.0.0.1:45000/1/q.fifo"},
                    "StoreEventsDLQ": {"type": "AWS::SQS::Queue", "ref": "http://127.0.0.1:45000/1/d.fifo"},
                    "ChangeEventBus": {"type": "AWS::Events::EventBus", "ref": "parity-local-changes"},
                },
            }
        )
    )


def test_the_local_stack_is_found_through_its_connection_file(tmp_path):
    path = tmp_path / "local.json"
    write_connection_file(path, os.getpid())
    resources = resolve(local=True, environ={"PARITY_LOCAL_FILE": str(path)})
    assert resources.local and resources.endpoint_url == "http://127.0.0.1:45000"
    assert resources.table_name == "parity-local-ParityTable" and resources.event_bus_name == "parity-local-changes"
    assert resources.queues == (
        QueuePair("StoreEvents", "http://127.0.0.1:45000/1/q.fifo", "http://127.0.0.1:45000/1/d.fifo"),
    )
    # without the variable: .parity/local.json in the current directory or a parent
    (tmp_path / ".parity").mkdir()
    write_connection_file(tmp_path / ".parity" / "local.json", os.getpid())
    (tmp_path / "deep" / "er").mkdir(parents=True)
    assert local_file_path({}, tmp_path / "deep" / "er") == tmp_path / ".parity" / "local.json"


def test_a_missing_or_stale_connection_file_is_refused(tmp_path, capsys):
    assert run(["--local", "dlq", "list"], environ={"PARITY_LOCAL_FILE": str(tmp_path / "none.json")}) == 2
    assert "no local stack" in capsys.readouterr().err
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path = tmp_path / "local.json"
    write_connection_file(path, int(gone.stdout))
    with pytest.raises(CliError, match="is gone"):
        from_local_file(path)


def test_the_progress_bar_shows_counts_percentage_and_rate():
    now = [100.0]
    stream = io.StringIO()
    progress = Progress(stream, "redrive StoreEvents", total=40, tty=True, clock=lambda: now[0], delay=0)
    now[0] = 102.0
    progress.update(10)
    now[0] = 102.05  # within the redraw interval: not drawn
    progress.update(11)
    now[0] = 104.0
    progress.update(advance=9)
    progress.close()
    frames = stream.getvalue().split("\r")[1:]
    assert frames[0].startswith("redrive StoreEvents [######------------------] 10/40 messages  25% 5.0/s 2s")
    assert frames[1].startswith("redrive StoreEvents [############------------] 20/40 messages  50% 5.0/s 4s")
    assert len(frames) == 3 and stream.getvalue().endswith("\n")


def test_a_quick_run_draws_no_progress_and_a_log_gets_lines():
    quiet = io.StringIO()
    with Progress(quiet, "reading", total=3, tty=True) as progress:
        progress.update(3)
    assert quiet.getvalue() == ""
    now = [0.0]
    log = io.StringIO()
    progress = Progress(log, "moving", tty=False, clock=lambda: now[0], delay=1)
    for second in range(1, 12):
        now[0] = float(second)
        progress.update(second * 2)
    progress.close()
    assert log.getvalue().splitlines() == [
        "moving 2 messages 2.0/s 1s",
        "moving 12 messages 2.0/s 6s",
        "moving 22 messages 2.0/s 11s",
        "moving 22 messages 2.0/s 11s",
    ]
