"""The template's Lambda functions, loaded in-process and invoked as Lambda would.

Everything is read from `template.yaml`: each `AWS::Serverless::Function`'s code directory and
handler, memory and timeout (Globals, then the function), its HttpApi routes (with their
authorizer) and its SQS event sources. Only the paths of function URLs are local knowledge
(`FUNCTION_URL_PATHS`): on AWS each function URL is a host of its own.
"""

from __future__ import annotations

import importlib.util
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.resources import ACCOUNT, REGION, STACK_NAME, _Tag

ROOT = Path(__file__).resolve().parent.parent

# Function URL functions and the local path each is served on: one line per webhook.
FUNCTION_URL_PATHS = {
    "StripeWebhookFunction": "/webhooks/stripe",
    "AppleWebhookFunction": "/webhooks/apple",
    "GoogleWebhookFunction": "/webhooks/google",
}

# Auth kinds of a route: the API's JWT authorizer, IAM (locally `Bearer $ADMIN_TOKEN`), or none.
JWT, ADMIN, NONE = "jwt", "admin", "none"

# Invocations run concurrently, as on Lambda: an instance of a function (its module imported on its
# own, with its own clients and module-level state) serves one invocation at a time, and an invocation
# finding every instance busy gets a new one, up to this many per function (then it waits for one to be
# free). One interpreter runs them all, so a few are enough to keep requests from queueing behind each
# other; PARITY_LOCAL_INSTANCES changes it.
MAX_INSTANCES = max(1, int(os.environ.get("PARITY_LOCAL_INSTANCES") or 4))


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # a template path: /v1/users/{userId}/entitlements
    function: Function
    kind: str  # "http_api" (API Gateway payload v2) or "function_url"
    auth: str = NONE
    api: str | None = None  # the HttpApi's logical id (http_api routes)

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class QueueSource:
    """An SQS event source mapping: the queue's logical id and the mapping's settings."""

    function: Function
    queue: str
    batch_size: int
    report_failures: bool  # FunctionResponseTypes: [ReportBatchItemFailures]


@dataclass(eq=False)
class Function:
    logical_id: str
    code_dir: Path
    handler_path: str  # e.g. "app.lambda_handler"
    memory_mb: int
    timeout_s: int
    _idle: list[Callable[[dict, Any], Any]] = field(default_factory=list, repr=False)
    _instances: int = field(default=0, repr=False)
    _free: threading.Condition = field(default_factory=threading.Condition, repr=False)

    @property
    def name(self) -> str:
        return f"{STACK_NAME}-{self.logical_id}"

    def load(self) -> None:
        """The first instance, at start (as a cold start would: settings read, clients built)."""
        handler = self._new_instance()
        with self._free:
            self._instances += 1
            self._idle.append(handler)

    def _new_instance(self) -> Callable[[dict, Any], Any]:
        """Import the handler module by file path, under a name of its own (every function has an `app`)."""
        module_path, _, attribute = self.handler_path.rpartition(".")
        source = self.code_dir / (module_path.replace(".", "/") + ".py")
        spec = importlib.util.spec_from_file_location(f"parity_fn_{self.code_dir.name}", source)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return getattr(module, attribute)

    def invoke(self, event: dict) -> Any:
        handler = self._acquire()
        try:
            return handler(event, LambdaContext(self))
        finally:
            with self._free:
                self._idle.append(handler)
                self._free.notify()

    @property
    def instances(self) -> int:
        return self._instances

    def _acquire(self) -> Callable[[dict, Any], Any]:
        with self._free:
            while not self._idle and self._instances >= MAX_INSTANCES:
                self._free.wait()
            if self._idle:
                return self._idle.pop()
            self._instances += 1
        try:
            return self._new_instance()
        except BaseException:
            with self._free:
                self._instances -= 1
                self._free.notify()
            raise


class LambdaContext:
    """The Lambda context object, with what Powertools and handlers read from it."""

    def __init__(self, function: Function) -> None:
        self.function_name = function.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function.name}"
        self.memory_limit_in_mb = function.memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.name}"
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        self._deadline = time.monotonic() + function.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class Functions:
    functions: dict[str, Function]
    routes: tuple[Route, ...]
    queue_sources: tuple[QueueSource, ...]

    def load_all(self) -> None:
        thread_local_log_keys()
        for function in self.functions.values():
            function.load()


def thread_local_log_keys() -> None:
    """Powertools' logger keeps the keys it adds to every line (the Lambda context, the record's event)
    in one dict per logger: invocations running at once would label each other's lines, and one
    thread's change could break another's formatting. Here each thread has its own copy of that dict,
    starting from the keys it had when this ran."""
    from parity.observability import logger

    formatter = logger.registered_formatter
    if getattr(type(formatter), "per_thread_keys", False):
        return
    base = dict(formatter.log_format)
    keys = threading.local()

    def get(self) -> dict:
        current = getattr(keys, "value", None)
        if current is None:
            current = keys.value = dict(base)
        return current

    def set_(self, value: dict) -> None:
        keys.value = value

    formatter.__class__ = type(
        type(formatter).__name__, (type(formatter),), {"log_format": property(get, set_), "per_thread_keys": True}
    )


def from_template(template: dict) -> Functions:
    globals_ = template.get("Globals", {}).get("Function", {})
    resources = template["Resources"]
    functions: dict[str, Function] = {}
    routes: list[Route] = []
    sources: list[QueueSource] = []
    for logical, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        function = Function(
            logical_id=logical,
            code_dir=ROOT / props["CodeUri"],
            handler_path=props.get("Handler", globals_.get("Handler", "")),
            memory_mb=int(props.get("MemorySize", globals_.get("MemorySize", 128))),
            timeout_s=int(props.get("Timeout", globals_.get("Timeout", 3))),
        )
        functions[logical] = function
        if "FunctionUrlConfig" in props and logical in FUNCTION_URL_PATHS:
            routes.append(Route("POST", FUNCTION_URL_PATHS[logical], function, "function_url"))
        for event in (props.get("Events") or {}).values():
            properties = event.get("Properties") or {}
            if event["Type"] == "HttpApi":
                auth = _route_auth(properties, resources)
                api = _logical_target(properties["ApiId"]) if properties.get("ApiId") else None
                routes.append(Route(properties["Method"].upper(), properties["Path"], function, "http_api", auth, api))
            elif event["Type"] == "SQS":
                sources.append(
                    QueueSource(
                        function=function,
                        queue=_logical_target(properties["Queue"]),
                        batch_size=int(properties.get("BatchSize", 10)),
                        report_failures="ReportBatchItemFailures" in (properties.get("FunctionResponseTypes") or []),
                    )
                )
    return Functions(functions, tuple(routes), tuple(sources))


def unrouted_function_urls(template: dict) -> list[str]:
    """Function URL functions without a local path (add them to FUNCTION_URL_PATHS)."""
    return [
        logical
        for logical, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
        and "FunctionUrlConfig" in resource["Properties"]
        and logical not in FUNCTION_URL_PATHS
    ]


def _route_auth(properties: dict, resources: dict) -> str:
    authorizer = (properties.get("Auth") or {}).get("Authorizer")
    if authorizer == "NONE":
        return NONE
    if authorizer == "AWS_IAM":
        return ADMIN
    api = resources.get(_logical_target(properties.get("ApiId"))) if properties.get("ApiId") else None
    if authorizer is None and api is not None:
        authorizer = ((api.get("Properties") or {}).get("Auth") or {}).get("DefaultAuthorizer")
        if authorizer == "AWS_IAM":
            return ADMIN
    return JWT if authorizer else NONE


def _logical_target(value: Any) -> str:
    """The logical id behind `!Ref X`, `!GetAtt X.Arn` (or a plain string)."""
    if isinstance(value, _Tag):
        value = value.value if isinstance(value.value, str) else ".".join(value.value)
    return str(value).split(".", 1)[0]
