"""The local stack: moto's server, the template's resources, the functions, the pollers, the routes.

Start order matters: the HTTP port is bound first (a busy port fails before anything else), then
moto starts and the environment points boto3 at it, the resources are created and the function
environment set, and only then are the functions imported (they build clients and read settings at
import, as on a Lambda cold start); the table and queues are loaded from the state directory
(local/state.py) before any poller starts. Requests wait in the listen backlog until the stack serves.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote

import boto3
from boto3.dynamodb.types import TypeDeserializer

from local.auth import DemoKeys, JwtVerifier
from local.config import DEMO_AUDIENCE, Config, function_environment, isolate_aws
from local.connection import CONNECTION_FILE_ENV, connection_file_path, pid_alive
from local.cors import CorsPolicy
from local.expiry import SWEEP_SECONDS, ExpirySweeper
from local.functions import MAX_INSTANCES, from_template, unrouted_function_urls
from local.poller import ChangeTap, QueuePoller
from local.priority import FrontDoor
from local.queue_metrics import QueueMetrics
from local.resources import ACCOUNT, REGION, STACK_NAME, Resources, create_resources, load_template
from local.server import (
    Endpoint,
    LocalServer,
    Request,
    Response,
    Router,
    error_response,
    function_endpoint,
    json_response,
)
from parity.domain import limits
from parity.settings import cors_origins

log = logging.getLogger("local.stack")
DEMO_JWKS_PATH = "/_demo/jwks.json"  # the demo identity provider's keys (app user tokens)

# The connection file (local/connection.py) for the operator console and the demo: where moto's server
# listens and the created resources by logical id. Written once the stack serves, removed on a clean stop.
def console_asset(name: str) -> Response:
    """A file of the operator console's page (`parity_cli.console`), or 404."""
    from parity_cli.console import asset

    found = asset(name)
    if found is None:
        return error_response(404, "not_found", f"The console has no file {name!r}.")
    return Response(200, *found)


class Stack:
    def __init__(self, config: Config, reset: bool = False) -> None:
        self.config = config
        self.reset = reset  # start empty: the state directory's content is dropped first
        self.state = None  # local.state.DurableState: the table and queues kept across restarts
        self.restored: tuple[int, int] = (0, 0)  # (items, messages) loaded at start
        self._undo: list = []  # the moto patches, undone at stop
        self.front = FrontDoor()  # requests answered first, queue batches between them
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._moto = None
        self._httpd: LocalServer | None = None
        self.resources: Resources | None = None
        self.demo_keys: DemoKeys | None = None
        self.tap: ChangeTap | None = None
        self.webhook = None  # local.webhook.WebhookDelivery: with WEBHOOK_URL only
        self._dynamodb = None
        self._serving: threading.Thread | None = None
        self.endpoint_url: str | None = None
        self.connection_file: Path | None = None  # written by this stack (None: not written)
        self.demo_stores = None  # local.demo_stores.DemoStores: demo configuration only
        self.signing_key: str | None = None  # how entitlements are signed, for the banner
        self._scratch: tempfile.TemporaryDirectory | None = None  # the generated signing key's directory

    # ------------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        try:
            self._httpd = LocalServer(self.config.port)
        except OSError as error:
            raise SystemExit(
                f"[local] cannot serve on 127.0.0.1:{self.config.port}: {error} (set PORT to another port)"
            ) from None
        self._start_aws()
        if self.config.demo_auth:
            # Demo only: an App Store and a Play app the stack can verify, for stores left unconfigured.
            from local.demo_stores import DemoStores

            self.demo_stores = DemoStores.start(self.config.base_url, os.environ)
        template = load_template()
        self.resources = create_resources(boto3.Session())
        for name, value in function_environment(self.resources, os.environ).items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._signing_key()
        functions = from_template(template)
        for logical in unrouted_function_urls(template):
            log.warning(
                "%s has a function URL but no local path: add it to local.functions.FUNCTION_URL_PATHS", logical
            )
        functions.load_all()

        sqs, events = boto3.client("sqs"), boto3.client("events")
        self._dynamodb = boto3.client("dynamodb")
        for source in functions.queue_sources:
            url = self.resources.queue_url(source.queue)
            arn = self.resources.arns[source.queue]
            for number in range(MAX_INSTANCES):  # Lambda polls with several pollers, batches run concurrently
                self._threads.append(QueuePoller(source, url, arn, sqs, self._stop, number, self.front))
        # moto keeps items past their TTL: the stack deletes them as DynamoDB would (event bodies).
        interval = float(os.environ.get("LOCAL_TTL_SWEEP_SECONDS") or SWEEP_SECONDS)
        self._threads.append(ExpirySweeper(self._dynamodb, os.environ["TABLE_NAME"], self._stop, interval))
        dlqs = [os.environ[name] for name in ("EVENTS_DLQ_URL", "RECONCILE_DLQ_URL") if os.environ.get(name)]
        self._threads.append(QueueMetrics(sqs, boto3.client("cloudwatch"), dlqs, self._stop))
        bus = os.environ.get("EVENT_BUS_NAME")
        if bus:
            self.tap = ChangeTap(sqs, events, bus, self._stop)
            self._threads.append(self.tap)
        if bus and self.config.webhook_url:
            # What the template's API destination does on AWS: the same rule, body, header and retries.
            from local.webhook import HttpSender, WebhookDelivery

            sender = HttpSender(self.config.webhook_url, self.config.webhook_authorization)
            self.webhook = WebhookDelivery.create(template, self.resources, sqs, events, bus, sender, self._stop)
            self._threads.append(self.webhook)

        self._httpd.router = Router(self._endpoints(functions.routes, template))
        # Before the first request is served: whoever sees the stack healthy finds the file written.
        self._write_connection_file(template)
        self._load_state()
        for thread in self._threads:
            thread.start()
        self._serving = threading.Thread(target=self._httpd.serve_forever, args=(0.1,), name="http", daemon=True)
        self._serving.start()

    def _signing_key(self) -> None:
        """ENTITLEMENT_SIGNING_KEY_FILE, or a key made for this run (gone when the stack stops)."""
        from parity.signing import EntitlementSigner, generate_pem

        path = os.environ.get("ENTITLEMENT_SIGNING_KEY_FILE")
        if path:
            self.signing_key = f"ENTITLEMENT_SIGNING_KEY_FILE={path}"
            return
        self._scratch = tempfile.TemporaryDirectory(prefix="parity-signing-")
        key_file = Path(self._scratch.name) / "entitlement-signing-key.pem"
        pem = generate_pem()
        key_file.write_bytes(pem)
        key_file.chmod(0o600)
        os.environ["ENTITLEMENT_SIGNING_KEY_FILE"] = str(key_file)
        kid = EntitlementSigner.from_pem(pem).kid
        self.signing_key = f"a key made for this run (kid {kid}); set ENTITLEMENT_SIGNING_KEY_FILE to keep one"
        log.warning("ENTITLEMENT_SIGNING_KEY_FILE is not set: signedEntitlements are signed with %s", self.signing_key)

    def _start_aws(self) -> None:
        from moto.server import ThreadedMotoServer

        from local import moto_locks, moto_speed

        # Before moto serves: its DynamoDB at a cost that does not grow with the table, each request
        # atomic under its service's lock, the changes noted for the state directory.
        self._undo = [moto_speed.install(), moto_locks.install()]

        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        isolate_aws(os.environ, self.endpoint_url)
        from local import inprocess_aws

        self._undo.append(inprocess_aws.install(self.endpoint_url))  # this process's calls skip HTTP

    def stop(self) -> None:
        """Stop taking requests, let the pollers finish their batch, then stop moto."""
        self._stop.set()  # the pollers end after their current long poll (or batch)
        if self._serving is not None:
            self._httpd.shutdown()
        if self._httpd is not None:
            self._httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=15)
        self._save_state()
        self._remove_connection_file()
        if self.demo_stores is not None:
            self.demo_stores.stop()
        if self._moto is not None:
            self._moto.stop()
        if self._scratch is not None:
            self._scratch.cleanup()
        for undo in reversed(self._undo):
            undo()
        self._undo = []

    # ------------------------------------------------------------------------------ durable state

    @staticmethod
    def _backends():
        from moto.dynamodb.models import dynamodb_backends
        from moto.sqs.models import sqs_backends

        return dynamodb_backends[ACCOUNT][REGION], sqs_backends[ACCOUNT][REGION]

    def _load_state(self) -> None:
        """The table and queues as the last run left them (local/state.py), before anything polls."""
        from local.state import DurableState, state_dir_path

        self.state = DurableState(state_dir_path(os.environ), reset=self.reset)
        self.restored = self.state.load(*self._backends())
        if self.state.durable:
            log.info("state in %s: %d items and %d messages restored", self.state.directory, *self.restored)

    def _save_state(self) -> None:
        state, self.state = self.state, None
        if state is not None:
            try:
                items, messages = state.close(*self._backends())
            except OSError as error:  # the journal still holds every change: the next start replays it
                log.error("could not save the state in %s: %s", state.directory, error)
                return
            if state.durable:
                log.info("state saved in %s: %d items, %d messages", state.directory, items, messages)

    # ------------------------------------------------------------------------ connection file

    def _write_connection_file(self, template: dict) -> None:
        """`.parity/local.json` (or $PARITY_LOCAL_FILE), unless another running stack owns it."""
        path = connection_file_path()
        try:
            other = json.loads(path.read_text()).get("pid")
        except (OSError, ValueError, AttributeError):
            other = None
        if other != os.getpid() and pid_alive(other):
            log.warning(
                "%s belongs to another running local stack (pid %s): not written; `parity --local` talks to "
                "that one (set %s to give this stack its own file)",
                path,
                other,
                CONNECTION_FILE_ENV,
            )
            return
        types = {logical: resource.get("Type") for logical, resource in template["Resources"].items()}
        document = {
            "version": 1,
            "pid": os.getpid(),
            "startedAt": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "baseUrl": self.config.base_url,
            "endpointUrl": self.endpoint_url,
            "region": REGION,
            "stackName": STACK_NAME,
            "catalogFile": str(Path(os.environ["CATALOG_FILE"]).resolve()) if os.environ.get("CATALOG_FILE") else None,
            "resources": {
                logical: {"type": types.get(logical), "ref": ref, "arn": self.resources.arns.get(logical)}
                for logical, ref in sorted(self.resources.refs.items())
            },
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            scratch = path.with_name(f".{path.name}.{os.getpid()}")
            scratch.write_text(json.dumps(document, indent=2) + "\n")
            os.replace(scratch, path)
        except OSError as error:
            log.warning("could not write the connection file %s: %s (`parity --local` will not find this stack)", path, error)
            return
        self.connection_file = path
        log.info("operator console: .venv/bin/parity --local dlq list (connection file %s)", path)

    def _remove_connection_file(self) -> None:
        """Only the file this stack wrote, and only while it still says so."""
        path, self.connection_file = self.connection_file, None
        if path is None:
            return
        try:
            if json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError, AttributeError):
            pass

    # ------------------------------------------------------------------------------- endpoints

    def _endpoints(self, routes, template: dict) -> list[Endpoint]:
        config = self.config
        endpoints = [
            Endpoint("GET", "/health", lambda request, params: json_response(200, {"status": "ok"})),
            Endpoint("GET", "/_local/changes", self._changes),
            Endpoint("GET", "/_local/events/{source}/{eventId}", self._event_status),
            # The operator console's page: no credential needed to load it, none in it.
            Endpoint("GET", "/console", lambda request, params: Response(308, b"", {"location": "/console/"})),
            Endpoint("GET", "/console/", lambda request, params: console_asset("")),
            Endpoint("GET", "/console/{asset}", lambda request, params: console_asset(params["asset"])),
        ]
        if config.demo_auth:
            self.demo_keys = DemoKeys(
                config.auth_issuer, config.auth_audiences[0] if config.auth_audiences else DEMO_AUDIENCE
            )
            endpoints += [
                # Not /.well-known/jwks.json: that path serves the entitlement signing keys.
                Endpoint("GET", DEMO_JWKS_PATH, lambda request, params: json_response(200, self.demo_keys.jwks())),
                Endpoint("POST", "/_demo/token", self._demo_token),
            ]
        if self.demo_stores is not None:
            endpoints += self.demo_stores.endpoints()
        jwks_url = config.auth_jwks_url or f"{config.base_url}{DEMO_JWKS_PATH}"
        verifier = JwtVerifier(jwks_url, config.auth_issuer, config.auth_audiences)
        # CORS_ALLOW_ORIGINS on the API whose template CorsConfiguration says how (API Gateway's behaviour)
        cors = CorsPolicy.from_template(template, cors_origins(os.environ.get("CORS_ALLOW_ORIGINS")))
        for route in routes:
            endpoint = self._front_door(route, function_endpoint(route, verifier, config.admin_token))
            endpoints.append(cors.wrap(endpoint) if cors.covers(route.api) else endpoint)
        return endpoints + cors.preflights(route.path for route in routes if cors.covers(route.api))

    def _front_door(self, route, endpoint: Endpoint) -> Endpoint:
        """A webhook's endpoint, counted while it answers (local/priority.py: deliveries first)."""
        if route.kind != "function_url":
            return endpoint
        return Endpoint(endpoint.method, endpoint.path, self.front.track(endpoint.handle))

    def routes_summary(self) -> list[str]:
        return [f"{endpoint.method} {endpoint.path}" for endpoint in self._httpd.router.endpoints]

    def _changes(self, request: Request, params: dict) -> Response:
        """Local only: the last change-bus events (entitlement.changed), oldest first."""
        return json_response(200, {"changes": self.tap.recent() if self.tap else []})

    def _event_status(self, request: Request, params: dict) -> Response:
        """Local only: a stored store event and what processing made of it (no body)."""
        from parity.adapters.dynamodb import event_key

        source, event_id = unquote(params["source"]), unquote(params["eventId"])
        if not (limits.is_key_id(source, 64) and limits.is_key_id(event_id)):
            return error_response(400, "invalid_event_id", "The source and event id are not ids Parity stores.")
        item = self._dynamodb.get_item(
            TableName=os.environ["TABLE_NAME"], Key=event_key(source, event_id), ConsistentRead=True
        ).get("Item")
        if item is None:
            return error_response(404, "not_found", f"No {source} event {event_id} was stored.")
        stored = {key: TypeDeserializer().deserialize(value) for key, value in item.items() if key != "body"}
        return json_response(
            200,
            {
                "source": source,
                "eventId": event_id,
                "eventType": stored.get("eventType"),
                "receivedAt": stored.get("receivedAt"),
                "processedAt": stored.get("processedAt"),
                "outcome": stored.get("outcome"),
                "changes": json.loads(stored["changes"]) if stored.get("changes") else [],
            },
        )

    def _demo_token(self, request: Request, params: dict) -> Response:
        """Demo configuration only: a user token signed by the stack's demo key."""
        try:
            document = limits.loads(request.body or b"{}")
            sub = document.get("sub") if isinstance(document, dict) else None
        except limits.MalformedJson:
            sub = None
        if not isinstance(sub, str) or not sub:
            return error_response(400, "bad_request", 'Send {"sub": "<user id>"}.')
        if not limits.is_user_id(sub):
            return error_response(400, "invalid_user_id", limits.USER_ID_RULE)
        ttl = 3600
        return json_response(200, {"token": self.demo_keys.token(sub, ttl), "tokenType": "Bearer", "expiresIn": ttl})
