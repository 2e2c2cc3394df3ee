"""Create the template's tables, queues and buses in an emulated AWS, from `template.yaml` itself.

The template is the only description of the resources: this module reads their properties and
creates the same DynamoDB tables, SQS queues (FIFO, redrive to the DLQ) and EventBridge buses.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import yaml

TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"
STACK_NAME = "parity-local"
REGION = "us-east-1"
ACCOUNT = "123456789012"


class _Tag:
    """A CloudFormation intrinsic (`!Ref`, `!GetAtt`, `!Sub`, ...) kept as data."""

    def __init__(self, name: str, value: Any) -> None:
        self.name, self.value = name, value


class _Loader(yaml.SafeLoader):
    pass


def _construct(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> _Tag:
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return _Tag(suffix, value)


_Loader.add_multi_constructor("!", _construct)


def load_template(path: Path = TEMPLATE) -> dict:
    return yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - SafeLoader subclass


@dataclass
class Resources:
    """Physical ids of the created resources, by logical id (what `!Ref` would give)."""

    refs: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)
    template: dict = field(default_factory=dict)

    def queue_url(self, logical_id: str) -> str:
        return self.refs[logical_id]

    def environment_variables(self) -> dict[str, Any]:
        """Every function's environment variables as the template declares them: the global ones and each
        function's own (the local stack runs every function in one process, with one environment)."""
        variables = dict(self.template["Globals"]["Function"]["Environment"]["Variables"])
        for resource in self.template["Resources"].values():
            if resource.get("Type") == "AWS::Serverless::Function":
                variables |= resource["Properties"].get("Environment", {}).get("Variables", {})
        return variables

    def function_environment(self) -> dict[str, str]:
        """The functions' environment (`environment_variables`), with references to created resources resolved."""
        variables = self.environment_variables()
        env = {}
        for name, value in variables.items():
            resolved = self._resolve(value)
            if resolved is not None:
                env[name] = str(resolved)
        return env

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, _Tag):
            if value.name == "Ref":
                if value.value in self.refs or value.value in _PSEUDO:
                    return self.refs.get(value.value, _PSEUDO.get(value.value))
                # A template parameter: its default (the local stack deploys with the defaults).
                return (self.template.get("Parameters", {}).get(value.value) or {}).get("Default")
            if value.name == "GetAtt":
                logical, _, attribute = (value.value if isinstance(value.value, str) else ".".join(value.value)).partition(".")
                return self.arns.get(logical) if attribute == "Arn" else None
            if value.name == "Sub" and isinstance(value.value, str):
                return _substitute(value.value, self)
            return None
        if isinstance(value, dict):
            return {k: self._resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._resolve(v) for v in value]
        return value


_PSEUDO = {"AWS::StackName": STACK_NAME, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws"}


def _substitute(text: str, resources: Resources) -> str:
    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name in _PSEUDO:
            return _PSEUDO[name]
        logical, _, attribute = name.partition(".")
        return resources.arns[logical] if attribute == "Arn" else resources.refs[logical]

    return re.sub(r"\$\{([^}]+)\}", replace, text)


def _of_type(template: dict, resource_type: str) -> dict[str, dict]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def create_resources(session: boto3.Session | None = None, template_path: Path = TEMPLATE) -> Resources:
    """Create every table, queue and event bus of the template; returns their physical ids."""
    session = session or boto3.Session(region_name=REGION)
    template = load_template(template_path)
    resources = Resources(template=template)

    dynamodb = session.client("dynamodb")
    for logical, resource in _of_type(template, "AWS::DynamoDB::Table").items():
        props = resources._resolve(resource["Properties"])
        name = props.get("TableName") or f"{STACK_NAME}-{logical}"
        kwargs = {
            key: props[key]
            for key in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "BillingMode")
            if key in props
        }
        dynamodb.create_table(TableName=name, **kwargs)
        if props.get("TimeToLiveSpecification"):
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=props["TimeToLiveSpecification"])
        resources.refs[logical] = name
        resources.arns[logical] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"

    sqs = session.client("sqs")
    queues = _of_type(template, "AWS::SQS::Queue")
    for logical, resource in queues.items():  # first without redrive: a DLQ must exist before its source
        props = resource["Properties"]
        name = resources._resolve(props.get("QueueName")) or f"{STACK_NAME}-{logical}"
        attributes = {
            key: str(props[key]).lower() if isinstance(props[key], bool) else str(props[key])
            for key in ("FifoQueue", "ContentBasedDeduplication", "VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds")
            if key in props
        }
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        resources.refs[logical] = url
        resources.arns[logical] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for logical, resource in queues.items():
        redrive = resource["Properties"].get("RedrivePolicy")
        if redrive:
            sqs.set_queue_attributes(
                QueueUrl=resources.refs[logical], Attributes={"RedrivePolicy": json.dumps(resources._resolve(redrive))}
            )

    events = session.client("events")
    for logical, resource in _of_type(template, "AWS::Events::EventBus").items():
        name = resources._resolve(resource["Properties"]["Name"])
        arn = events.create_event_bus(Name=name)["EventBusArn"]
        resources.refs[logical] = name
        resources.arns[logical] = arn
    return resources
