"""What moto's CloudFormation lacks for Parity's template, each shim named and explained.

moto creates most of the transformed template's resource types itself (DynamoDB, SQS, IAM roles, Lambda
functions, permissions and event source mappings, log groups). For the others,
moto's CloudFormation only warns and creates nothing (`rehearse.py` turns that warning into a failure),
so each gets a small CloudFormation model here that does what CloudFormation's own resource handler does:
one call of the service's API (in the same emulated account, through boto3), its `Ref` and `GetAtt`.

Some checks AWS makes at create time and moto does not are added where Parity's parameters reach them, so
that a parameter bound that is too loose fails here as it would on AWS:

| shim | what it creates | the AWS check it adds |
| --- | --- | --- |
| `Alarm` (AWS::CloudWatch::Alarm) | `PutMetricAlarm` | period x evaluation periods at most 7 days (1 day below a 1-hour period); one expression returned |
| `Secret` (AWS::SecretsManager::Secret) | `CreateSecret` | - |
| `FunctionUrl` (AWS::Lambda::Url) | `CreateFunctionUrlConfig` | `AuthType` NONE or AWS_IAM |
| `HttpApi` (AWS::ApiGatewayV2::Api) | `CreateApi`, then `ReimportApi` of SAM's OpenAPI body (its routes) | - |
| `HttpApiStage` (AWS::ApiGatewayV2::Stage) | `CreateStage` | - |
| `Schedule` (AWS::Scheduler::Schedule) | `CreateSchedule` | a schedule name is unique in its group (moto's own check: the second stack's conflict) |
| `EventBus` (AWS::Events::EventBus, in place of moto's) | `CreateEventBus` | - (moto's model has no physical id: its `Ref` is not the bus name) |
| `LayerVersion` (AWS::Lambda::LayerVersion, in place of moto's) | `PublishLayerVersion` | - (moto's model has no physical id: its `Ref` is not the version's ARN) |
| `CheckedFunction` (AWS::Lambda::Function, moto's model behind it) | moto's function | environment at most 4 KB, timeout 1-900 s, memory 128-10,240 MB |
| `CheckedEventSourceMapping` (AWS::Lambda::EventSourceMapping, moto's model behind it) | moto's mapping | `ScalingConfig.MaximumConcurrency` 2-1,000; SQS `BatchSize` 1-10 (FIFO) or 1-10,000 |

What no shim judges (the README says so): account quotas (concurrency to reserve, API throttling
ceilings), the syntax of the schedule's cron expression, IAM policy grammar beyond moto's parsing, and
whether the JWT issuer answers.
"""

from __future__ import annotations

import json
import random
import string
from typing import Any

import boto3
from moto.awslambda import models as lambda_models  # noqa: F401 - moto's models first (see `install`)
from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel


class AwsRefused(Exception):
    """A check AWS makes at create time failed: CloudFormation would report CREATE_FAILED."""


def _suffix(n: int = 12) -> str:
    return "".join(random.choices(string.ascii_uppercase + string.digits, k=n))


def _cfn_name(kwargs: dict, limit: int) -> str:
    """CloudFormation's generated name: `<stack>-<logical id>-<random>`, cut to the service's limit."""
    stack = kwargs["StackId"].split("/")[1]
    suffix = "-" + _suffix()
    return f"{stack}-{kwargs['LogicalId']}"[: limit - len(suffix)] + suffix


class _Shim:
    """Common plumbing: a physical id, attributes by name, created at once. (A mixin: moto finds models
    among the direct subclasses of CloudFormationModel.)"""

    ATTRIBUTES: tuple[str, ...] = ()

    def __init__(self, physical_id: str, region: str, **attributes: Any) -> None:
        self._physical_id, self.region, self.attributes = physical_id, region, attributes

    @property
    def physical_resource_id(self) -> str:
        return self._physical_id

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        return self.attributes[attribute_name]

    def is_created(self) -> bool:
        return True

    @classmethod
    def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):  # noqa: ANN001
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    @classmethod
    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):  # noqa: ANN001
        pass


# ------------------------------------------------------------------------------------------ CloudWatch
SEVEN_DAYS, ONE_DAY = 7 * 86400, 86400


def check_alarm_window(props: dict) -> None:
    """CloudWatch: `EvaluationPeriods x Period` may not exceed 7 days for periods of an hour or more,
    one day for shorter ones (PutMetricAlarm answers ValidationError)."""
    periods = [props.get("Period")] + [
        (q.get("MetricStat") or {}).get("Period") for q in props.get("Metrics") or [] if q.get("MetricStat")
    ]
    period = max(int(p) for p in periods if p is not None)
    window = period * int(props["EvaluationPeriods"])
    limit = SEVEN_DAYS if period >= 3600 else ONE_DAY
    if window > limit:
        raise AwsRefused(
            f"CloudWatch refuses the alarm: {props['EvaluationPeriods']} evaluation periods of {period} s "
            f"= {window} s, above {limit} s"
        )
    if props.get("Metrics") and sum(1 for q in props["Metrics"] if q.get("ReturnData", True)) != 1:
        raise AwsRefused("CloudWatch refuses the alarm: exactly one metric or expression must return data")


class Alarm(_Shim, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::CloudWatch::Alarm"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # noqa: ANN001
        props = dict(cloudformation_json["Properties"])
        check_alarm_window(props)
        name = props.pop("AlarmName", None) or _cfn_name(kwargs, 255)
        for key in ("EvaluationPeriods", "Period", "DatapointsToAlarm"):
            if key in props:
                props[key] = int(props[key])
        props["Threshold"] = float(props["Threshold"])
        boto3.client("cloudwatch", region_name=region_name).put_metric_alarm(AlarmName=name, **props)
        return cls(name, region_name, Arn=f"arn:aws:cloudwatch:{region_name}:{account_id}:alarm:{name}")

    ATTRIBUTES = ("Arn",)

    def delete(self, account_id: str, region_name: str) -> None:
        boto3.client("cloudwatch", region_name=region_name).delete_alarms(AlarmNames=[self._physical_id])


# -------------------------------------------------------------------------------------- Secrets Manager
class Secret(_Shim, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SecretsManager::Secret"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # noqa: ANN001
        props = cloudformation_json["Properties"]
        name = props.get("Name") or f"{kwargs['LogicalId']}-{_suffix()}"
        created = boto3.client("secretsmanager", region_name=region_name).create_secret(
            Name=name, SecretString=props.get("SecretString", ""), Description=props.get("Description", "")
        )
        return cls(created["ARN"], region_name, Id=created["ARN"])

    def delete(self, account_id: str, region_name: str) -> None:
        boto3.client("secretsmanager", region_name=region_name).delete_secret(
            SecretId=self._physical_id, ForceDeleteWithoutRecovery=True
        )


# --------------------------------------------------------------------------------------- Lambda URLs
class FunctionUrl(_Shim, CloudFormationModel):
    ATTRIBUTES = ("FunctionUrl", "FunctionArn")

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::Url"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # noqa: ANN001
        props = cloudformation_json["Properties"]
        if props.get("AuthType") not in ("NONE", "AWS_IAM"):
            raise AwsRefused(f"Lambda refuses the function URL: AuthType {props.get('AuthType')!r}")
        config = boto3.client("lambda", region_name=region_name).create_function_url_config(
            FunctionName=props["TargetFunctionArn"], AuthType=props["AuthType"]
        )
        return cls(config["FunctionArn"], region_name, FunctionUrl=config["FunctionUrl"], FunctionArn=config["FunctionArn"])

    def delete(self, account_id: str, region_name: str) -> None:
        try:
            boto3.client("lambda", region_name=region_name).delete_function_url_config(FunctionName=self._physical_id)
        except Exception:  # noqa: BLE001 - gone with its function
            pass


# -------------------------------------------------------------------------------------- HTTP APIs
class HttpApi(_Shim, CloudFormationModel):
    ATTRIBUTES = ("ApiEndpoint", "ApiId")

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Api"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # noqa: ANN001
        props = cloudformation_json["Properties"]
        client = boto3.client("apigatewayv2", region_name=region_name)
        body = props.get("Body") or {}
        api = client.create_api(Name=(body.get("info") or {}).get("title") or props.get("Name") or kwargs["LogicalId"], ProtocolType="HTTP")
        if body:  # SAM's OpenAPI document: routes, integrations, the authorizer (moto has ReimportApi, not ImportApi)
            api = client.reimport_api(ApiId=api["ApiId"], Body=json.dumps(body), FailOnWarnings=bool(props.get("FailOnWarnings")))
        return cls(api["ApiId"], region_name, ApiEndpoint=api["ApiEndpoint"], ApiId=api["ApiId"])

    def delete(self, account_id: str, region_name: str) -> None:
        boto3.client("apigatewayv2", region_name=region_name).delete_api(ApiId=self._physical_id)


class HttpApiStage(_Shim, CloudFormationModel):
    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::ApiGatewayV2::Stage"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # noqa: ANN001
        props = cloudformation_json["Properties"]
        settings = {k: float(v) if k.endswith("RateLimit") else int(v) for k, v in (props.get("DefaultRouteSettings") or {}).items()}
        boto3.client("apigatewayv2", region_name=region_name).create_stage(
            ApiId=props["ApiId"],
            StageName=props["StageName"],
            AutoDeploy=bool(props.get("AutoDeploy")),
            DefaultRouteSettings=settings,
            AccessLogSettings=props.get("AccessLogSettings") or {},
        )
        return cls(props["StageName"], region_name)


# ---------------------------------------------------------------------------------- EventBridge Scheduler
class Schedule(_Shim, CloudFormationModel):
    ATTRIBUTES = ("Arn",)

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Scheduler::Schedule"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # noqa: ANN001
        props = dict(cloudformation_json["Properties"])
        # Without a Name, CloudFormation generates one (unique per stack); with one, it is used as is.
        name = props.pop("Name", None) or _cfn_name(kwargs, 64)
        created = boto3.client("scheduler", region_name=region_name).create_schedule(Name=name, **props)
        return cls(name, region_name, Arn=created["ScheduleArn"], group=props.get("GroupName", "default"))

    def delete(self, account_id: str, region_name: str) -> None:
        boto3.client("scheduler", region_name=region_name).delete_schedule(Name=self._physical_id)


# ------------------------------------------------------------------ moto models whose Ref is not an id
class EventBus(_Shim, CloudFormationModel):
    """moto creates the bus, but its model has no physical id: `!Ref ChangeEventBus` (the functions'
    EVENT_BUS_NAME) resolves to a Python object instead of the bus name."""

    ATTRIBUTES = ("Arn", "Name")

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Events::EventBus"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # noqa: ANN001
        name = cloudformation_json["Properties"]["Name"]
        created = boto3.client("events", region_name=region_name).create_event_bus(Name=name)
        return cls(name, region_name, Arn=created["EventBusArn"], Name=name)

    def delete(self, account_id: str, region_name: str) -> None:
        boto3.client("events", region_name=region_name).delete_event_bus(Name=self._physical_id)


class LayerVersion(_Shim, CloudFormationModel):
    """moto publishes the layer, but its model has no physical id: `!Ref` (the functions' Layers) must be
    the layer version's ARN."""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::Lambda::LayerVersion"

    @classmethod
    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # noqa: ANN001
        props = cloudformation_json["Properties"]
        published = boto3.client("lambda", region_name=region_name).publish_layer_version(
            LayerName=props.get("LayerName") or _cfn_name(kwargs, 140),
            Description=props.get("Description", ""),
            Content={"S3Bucket": props["Content"]["S3Bucket"], "S3Key": props["Content"]["S3Key"]},
            CompatibleRuntimes=props.get("CompatibleRuntimes", []),
            CompatibleArchitectures=props.get("CompatibleArchitectures", []),
        )
        return cls(published["LayerVersionArn"], region_name)

    def delete(self, account_id: str, region_name: str) -> None:
        name, version = self._physical_id.split(":")[-2:]
        boto3.client("lambda", region_name=region_name).delete_layer_version(LayerName=name, VersionNumber=int(version))


# ------------------------------------------------------------------------ checks in front of moto's models
LAMBDA_ENVIRONMENT_LIMIT = 4096


def check_function(props: dict) -> None:
    """Lambda: all environment variables (keys and values) at most 4 KB; timeout 1-900 s; memory
    128-10,240 MB (CreateFunction answers InvalidParameterValueException)."""
    variables = ((props.get("Environment") or {}).get("Variables")) or {}
    size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in variables.items())
    if size > LAMBDA_ENVIRONMENT_LIMIT:
        raise AwsRefused(f"Lambda refuses the function: its environment is {size} bytes, above 4 KB")
    if not 1 <= int(props.get("Timeout", 3)) <= 900:
        raise AwsRefused(f"Lambda refuses the function: timeout {props.get('Timeout')} s (1 to 900)")
    if not 128 <= int(props.get("MemorySize", 128)) <= 10240:
        raise AwsRefused(f"Lambda refuses the function: memory {props.get('MemorySize')} MB (128 to 10,240)")


def check_event_source_mapping(props: dict) -> None:
    """Lambda: an SQS mapping's MaximumConcurrency is 2 to 1,000; its batch 1 to 10 from a FIFO queue,
    1 to 10,000 from a standard one."""
    maximum = (props.get("ScalingConfig") or {}).get("MaximumConcurrency")
    if maximum is not None and not 2 <= int(maximum) <= 1000:
        raise AwsRefused(f"Lambda refuses the event source mapping: MaximumConcurrency {maximum} (2 to 1,000)")
    batch = int(props.get("BatchSize", 10))
    limit = 10 if str(props.get("EventSourceArn", "")).endswith(".fifo") else 10000
    if not 1 <= batch <= limit:
        raise AwsRefused(f"Lambda refuses the event source mapping: BatchSize {batch} (1 to {limit})")


def _checked(resource_type: str, check) -> type[CloudFormationModel]:  # noqa: ANN001
    """A model for `resource_type` that runs `check` on the properties, then lets moto's model create it."""
    moto_model = parsing.get_model_map.__wrapped__()[resource_type]

    class Checked(CloudFormationModel):
        @staticmethod
        def cloudformation_type() -> str:
            return resource_type

        @staticmethod
        def cloudformation_name_type() -> str:
            return moto_model.cloudformation_name_type()

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return moto_model.has_cfn_attr(attr)

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):  # noqa: ANN001
            check(cloudformation_json["Properties"])
            return moto_model.create_from_cloudformation_json(resource_name, cloudformation_json, account_id, region_name, **kwargs)

        @classmethod
        def update_from_cloudformation_json(cls, original_resource, new_resource_name, cloudformation_json, account_id, region_name):  # noqa: ANN001
            check(cloudformation_json["Properties"])
            return moto_model.update_from_cloudformation_json(original_resource, new_resource_name, cloudformation_json, account_id, region_name)

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):  # noqa: ANN001
            return moto_model.delete_from_cloudformation_json(resource_name, cloudformation_json, account_id, region_name)

        def is_created(self) -> bool:
            return True

    Checked.__name__ = Checked.__qualname__ = "Checked" + resource_type.split("::")[-1]
    return Checked


SHIMS = (Alarm, Secret, FunctionUrl, HttpApi, HttpApiStage, Schedule, EventBus, LayerVersion)


def install() -> list[str]:
    """Registers the shims with moto's CloudFormation (before its first stack: the map is cached) and
    returns the resource types they cover."""
    checked = [
        _checked("AWS::Lambda::Function", check_function),
        _checked("AWS::Lambda::EventSourceMapping", check_event_source_mapping),
    ]
    parsing.get_model_map.cache_clear()
    parsing.get_model_list.cache_clear()
    models = parsing.get_model_map()
    for model in (*SHIMS, *checked):
        assert models[model.cloudformation_type()] is model, model  # the shim, not moto's model
    return sorted(model.cloudformation_type() for model in (*SHIMS, *checked))
