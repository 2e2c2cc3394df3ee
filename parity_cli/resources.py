"""Where Parity's resources are: a local stack, a CloudFormation stack, or the functions' environment.

Resolved once per command (`resolve`), first match wins:

1. `--local`: the connection file the local stack (`make dev`) writes when it starts and removes on a
   clean exit: `$PARITY_LOCAL_FILE`, else `.parity/local.json` in the current directory or a parent,
   else in this checkout. It holds moto's endpoint, the region, and the resources keyed by the
   template's logical ids (`{"StoreEventsQueue": {"type": "AWS::SQS::Queue", "ref": <url>, "arn": ...}}`).
   The file names the stack's pid: a file left by a stack that died is refused as stale.
2. `--stack-name NAME` (or `$PARITY_STACK_NAME`), with `--region`: the stack's outputs (`TableName`,
   `ChangeEventBusName`, `<Name>QueueUrl` + `<Name>DLQUrl`).
3. The functions' environment: `TABLE_NAME`, `EVENTS_QUEUE_URL`, `EVENT_BUS_NAME`, and any other
   `<NAME>_QUEUE_URL` (with `<NAME>_DLQ_URL`, or its DLQ found from the queue's RedrivePolicy);
   `AWS_ENDPOINT_URL` and the usual AWS variables apply as boto3 reads them.

Queues come in pairs, by name: a queue `<Name>Queue` (output `<Name>QueueUrl`) and its dead-letter queue
`<Name>DLQ` (output `<Name>DLQUrl`). A queue added to the template later (say `ReconcileQueue` and
`ReconcileDLQ`, with their outputs) is found with no change here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parity_cli.errors import CliError

LOCAL_FILE_ENV = "PARITY_LOCAL_FILE"
LOCAL_FILE = Path(".parity") / "local.json"
STACK_NAME_ENV = "PARITY_STACK_NAME"
CHECKOUT = Path(__file__).resolve().parent.parent  # the repository, when installed editable
LOCAL_CREDENTIALS = ("parity-local", "parity-local")  # moto accepts any; never the operator's own

TABLE_OUTPUT, BUS_OUTPUT = "TableName", "ChangeEventBusName"
QUEUE_OUTPUT_SUFFIX, DLQ_OUTPUT_SUFFIX = "QueueUrl", "DLQUrl"
QUEUE_SUFFIX, DLQ_SUFFIX = "Queue", "DLQ"
TABLE_TYPE, QUEUE_TYPE, BUS_TYPE = "AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::Events::EventBus"
# Environment names of the functions whose queue has another name in the template.
ENV_QUEUE_NAMES = {"EVENTS": "StoreEvents"}


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def queue_name_of(url: str) -> str:
    """The queue's name from its URL (`.../123456789012/parity-store-events.fifo`)."""
    return url.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class QueuePair:
    """A queue and its dead-letter queue, by the name they share (`StoreEvents`)."""

    name: str
    queue_url: str | None
    dlq_url: str | None

    def matches(self, text: str) -> bool:
        """`StoreEvents`, `store-events`, `StoreEventsDLQ`, a queue's name (with or without `.fifo`) or URL."""
        candidates = {_norm(self.name), _norm(self.name + QUEUE_SUFFIX), _norm(self.name + DLQ_SUFFIX)}
        for url in (self.queue_url, self.dlq_url):
            if url:
                name = queue_name_of(url)
                candidates |= {_norm(url), _norm(name), _norm(name.removesuffix(".fifo"))}
        return _norm(text) in candidates


@dataclass(frozen=True)
class Resources:
    origin: str  # where they were found, for messages: "local stack (.parity/local.json)", "stack parity-prod"
    table_name: str | None = None
    queues: tuple[QueuePair, ...] = ()
    event_bus_name: str | None = None
    region: str | None = None
    endpoint_url: str | None = None  # the local stack's moto server; None: AWS (or AWS_ENDPOINT_URL)
    catalog_file: str | None = None  # the local stack's catalog (on AWS the layer ships the repository's)
    local: bool = False

    def dead_letter_queues(self) -> tuple[QueuePair, ...]:
        return tuple(pair for pair in self.queues if pair.dlq_url)

    def find_queue(self, text: str) -> QueuePair:
        found = [pair for pair in self.dead_letter_queues() if pair.matches(text)]
        if not found:
            known = ", ".join(pair.name for pair in self.dead_letter_queues()) or "none"
            raise CliError(f"no dead-letter queue {text!r} in {self.origin} (known: {known})", "unknown_queue", 2)
        return found[0]

    def replace(self, **changes: Any) -> Resources:
        return dataclasses.replace(self, **changes)


def pair_queues(urls: Mapping[str, str], queue_suffix: str, dlq_suffix: str) -> tuple[QueuePair, ...]:
    """`{"<Name><queue_suffix>": url, "<Name><dlq_suffix>": url}` → pairs named `<Name>`, sorted by name."""
    queues: dict[str, str] = {}
    dlqs: dict[str, str] = {}
    for key, url in urls.items():
        if not url:
            continue
        if key.endswith(dlq_suffix) and len(key) > len(dlq_suffix):
            dlqs[key[: -len(dlq_suffix)]] = url
        elif key.endswith(queue_suffix) and len(key) > len(queue_suffix):
            queues[key[: -len(queue_suffix)]] = url
    return tuple(QueuePair(name, queues.get(name), dlqs.get(name)) for name in sorted(set(queues) | set(dlqs)))


# ------------------------------------------------------------------------------------------ sources


def resolve(
    *,
    local: bool = False,
    stack_name: str | None = None,
    region: str | None = None,
    environ: Mapping[str, str] | None = None,
    cloudformation=None,
) -> Resources:
    """The resources of the chosen source (see the module's docstring). `cloudformation`: a client
    factory `(region) -> client`, for tests; boto3 by default."""
    environ = os.environ if environ is None else environ
    stack_name = stack_name or (None if local else environ.get(STACK_NAME_ENV) or None)
    if local and stack_name:
        raise CliError("--local and --stack-name name two different stacks: choose one", "usage", 2)
    if local:  # the stack's own region: moto keeps resources per region, so --region cannot apply
        return from_local_file(local_file_path(environ))
    if stack_name:
        if cloudformation is None:
            import boto3

            def cloudformation(region):
                return boto3.Session(region_name=region).client("cloudformation")

        return from_stack(stack_name, cloudformation(region), region)
    resources = from_environment(environ, region)
    if not (resources.table_name or resources.queues or resources.event_bus_name):
        raise CliError(
            "where is Parity? Use --local (a running `make dev`), --stack-name NAME (a deployed stack), "
            "or set TABLE_NAME, EVENTS_QUEUE_URL, EVENT_BUS_NAME",
            "no_resources",
            2,
        )
    return resources


def local_file_path(environ: Mapping[str, str], cwd: Path | None = None) -> Path:
    if environ.get(LOCAL_FILE_ENV):
        return Path(environ[LOCAL_FILE_ENV])
    here = (cwd or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / LOCAL_FILE).is_file():
            return directory / LOCAL_FILE
    return CHECKOUT / LOCAL_FILE


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0 or os.name == "nt":
        return True  # cannot tell: trust the file
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, someone else's
        return True
    return True


def from_local_file(path: Path) -> Resources:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise CliError(
            f"no local stack: {path} does not exist (start one with `make dev`; ${LOCAL_FILE_ENV} names another file)",
            "no_local_stack",
            2,
        ) from None
    except (OSError, ValueError) as error:
        raise CliError(f"cannot read the local stack's connection file {path}: {error}", "no_local_stack", 2) from None
    if not _alive(document.get("pid")):
        raise CliError(
            f"the local stack that wrote {path} (pid {document.get('pid')}) is gone; start one with `make dev`",
            "no_local_stack",
            2,
        )
    entries = document.get("resources") or {}
    by_type: dict[str, dict[str, str]] = {}
    for logical, entry in entries.items():
        by_type.setdefault(entry.get("type", ""), {})[logical] = entry.get("ref")
    tables, buses = by_type.get(TABLE_TYPE, {}), by_type.get(BUS_TYPE, {})
    return Resources(
        origin=f"the local stack ({path})",
        table_name=next(iter(tables.values()), None),
        queues=pair_queues(by_type.get(QUEUE_TYPE, {}), QUEUE_SUFFIX, DLQ_SUFFIX),
        event_bus_name=next(iter(buses.values()), None),
        region=document.get("region"),
        endpoint_url=document.get("endpointUrl"),
        catalog_file=document.get("catalogFile"),
        local=True,
    )


def from_outputs(outputs: Mapping[str, str], origin: str, region: str | None = None) -> Resources:
    return Resources(
        origin=origin,
        table_name=outputs.get(TABLE_OUTPUT),
        queues=pair_queues(outputs, QUEUE_OUTPUT_SUFFIX, DLQ_OUTPUT_SUFFIX),
        event_bus_name=outputs.get(BUS_OUTPUT),
        region=region,
    )


def from_stack(stack_name: str, cloudformation, region: str | None = None) -> Resources:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        raise CliError(f"stack {stack_name}: {error.response['Error'].get('Message', error)}", "no_stack", 2) from None
    except BotoCoreError as error:
        raise CliError(f"stack {stack_name}: {error}", "aws_unreachable", 2) from None
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}
    region = region or cloudformation.meta.region_name
    return from_outputs(outputs, f"stack {stack_name} ({region})", region)


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.lower().split("_") if part)


def from_environment(environ: Mapping[str, str], region: str | None = None) -> Resources:
    urls: dict[str, str] = {}
    for name, value in environ.items():
        for suffix, kind in (("_QUEUE_URL", QUEUE_SUFFIX), ("_DLQ_URL", DLQ_SUFFIX)):
            if name.endswith(suffix) and len(name) > len(suffix) and value:
                stem = name[: -len(suffix)]
                urls[ENV_QUEUE_NAMES.get(stem, _camel(stem)) + kind] = value
    return Resources(
        origin="the environment",
        table_name=environ.get("TABLE_NAME") or None,
        queues=pair_queues(urls, QUEUE_SUFFIX, DLQ_SUFFIX),
        event_bus_name=environ.get("EVENT_BUS_NAME") or None,
        region=region,
    )


def discover_dead_letter_queues(resources: Resources, sqs) -> Resources:
    """Fill in the DLQ of each queue that has none yet from the queue's RedrivePolicy (environment)."""
    pairs = []
    for pair in resources.queues:
        if pair.queue_url and not pair.dlq_url:
            policy = sqs.get_queue_attributes(QueueUrl=pair.queue_url, AttributeNames=["RedrivePolicy"])
            raw = policy.get("Attributes", {}).get("RedrivePolicy")
            if raw:
                arn = json.loads(raw)["deadLetterTargetArn"]
                account, name = arn.split(":")[4], arn.split(":")[5]
                url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
                pair = dataclasses.replace(pair, dlq_url=url)
        pairs.append(pair)
    return resources.replace(queues=tuple(pairs))
