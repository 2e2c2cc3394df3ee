"""The local stack's configuration: the contract's environment variables, or a demo configuration.

Every setting has a demo default, so `make dev` works with nothing configured; `Config.demo_defaults`
lists the ones in use so the banner can say so. The AWS side is never configurable: the stack always
talks to its own in-process moto server with fake credentials, whatever the shell exports.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

from local.resources import REGION, Resources, _Tag

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORT = 3000
DEMO_WEBHOOK_SECRET = "whsec_parity_demo"
DEMO_CATALOG = ROOT / "layers" / "common" / "catalog.json"
DEMO_AUDIENCE = "parity-demo"


@dataclass(frozen=True)
class Config:
    port: int
    auth_jwks_url: str | None  # None: the stack signs its own demo tokens and serves their JWKS
    auth_issuer: str | None
    auth_audiences: tuple[str, ...]
    admin_token: str | None
    demo_defaults: tuple[str, ...] = field(default=())
    webhook_url: str | None = None  # change events are POSTed here (local/webhook.py)
    webhook_authorization: str | None = None  # the Authorization header value sent with them

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def demo_auth(self) -> bool:
        return self.auth_jwks_url is None

    @classmethod
    def from_env(cls, environ: MutableMapping[str, str]) -> Config:
        """Reads the contract's variables; fills in (and records) the demo defaults for missing ones."""
        try:
            port = int(environ.get("PORT") or DEFAULT_PORT)
        except ValueError:
            raise SystemExit(f"PORT must be a port number, not {environ['PORT']!r}") from None
        demo = []
        if not environ.get("STRIPE_WEBHOOK_SECRET"):
            environ["STRIPE_WEBHOOK_SECRET"] = DEMO_WEBHOOK_SECRET
            demo.append(f"STRIPE_WEBHOOK_SECRET={DEMO_WEBHOOK_SECRET}")
        if not environ.get("CATALOG_FILE"):
            environ["CATALOG_FILE"] = str(DEMO_CATALOG)
            demo.append(f"CATALOG_FILE={DEMO_CATALOG.relative_to(ROOT)}")
        # No demo admin token: a well-known one would open the admin routes to anything that can reach
        # the port. Without ADMIN_TOKEN they are off (401), as the README says.
        jwks_url = environ.get("AUTH_JWKS_URL") or None
        issuer = environ.get("AUTH_ISSUER") or None
        audiences = tuple(a.strip() for a in (environ.get("AUTH_AUDIENCE") or "").split(",") if a.strip())
        if jwks_url is None:
            issuer = issuer or f"http://127.0.0.1:{port}/"
            audiences = audiences or (DEMO_AUDIENCE,)
            demo.append("AUTH_JWKS_URL=<demo key of this stack> (POST /_demo/token mints user tokens)")
        webhook_url = environ.get("WEBHOOK_URL") or None
        if webhook_url is not None and not webhook_url.startswith(("http://", "https://")):
            raise SystemExit(f"WEBHOOK_URL must be an http:// or https:// URL, not {webhook_url!r}")
        return cls(
            port,
            jwks_url,
            issuer,
            audiences,
            environ.get("ADMIN_TOKEN") or None,
            tuple(demo),
            webhook_url,
            environ.get("WEBHOOK_AUTHORIZATION") or None,
        )


def isolate_aws(environ: MutableMapping[str, str], endpoint_url: str) -> None:
    """Point every boto3 client of this process at the local moto server, never at a real account."""
    for name in list(environ):
        if name.startswith("AWS_ENDPOINT_URL_") or name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
            del environ[name]
    environ.update(
        AWS_ENDPOINT_URL=endpoint_url,
        AWS_ACCESS_KEY_ID="parity-local",
        AWS_SECRET_ACCESS_KEY="parity-local",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )


def function_environment(resources: Resources, environ: Mapping[str, str]) -> dict[str, str | None]:
    """The template's function environment, as the functions of this stack must see it.

    Names bound to a template resource (TABLE_NAME, EVENTS_QUEUE_URL, ...) always name the local
    resources (None: not created locally, so unset, e.g. SECRETS_ID), and names bound to a parameter the
    resources are built with (MAX_RECEIVE_COUNT: the queues' redrive policies) keep the value the local
    resources were built with; for the other names (CATALOG_FILE,
    ENTITLEMENT_STRATEGY, OFFLINE_GRACE_SECONDS, log levels) the user's environment wins over the
    template's values. Variables the template does not list (STRIPE_*, AUTH_*, ...) are read by the
    functions from this process's environment directly.
    """
    variables = resources.environment_variables()
    resolved = resources.function_environment()
    env: dict[str, str | None] = {}
    for name, value in variables.items():
        bound = isinstance(value, _Tag) and value.name in ("Ref", "GetAtt") and _names_resource(resources, value)
        env[name] = resolved.get(name) if bound else environ.get(name) or resolved.get(name)
    return env


def _names_resource(resources: Resources, tag: _Tag) -> bool:
    """A resource, or a parameter some resource is built with (its value must agree with theirs)."""
    target = (tag.value if isinstance(tag.value, str) else ".".join(tag.value)).split(".", 1)[0]
    built = {
        logical: {**resource, "Properties": {k: v for k, v in resource.get("Properties", {}).items() if k != "Environment"}}
        for logical, resource in resources.template["Resources"].items()
    }  # a function's environment passes a parameter on, it builds nothing with it
    return target in resources.template["Resources"] or target in _referenced(built)


def _referenced(node: object) -> set[str]:
    """The names every `!Ref` within a template node refers to."""
    if isinstance(node, _Tag):
        return {node.value} if node.name == "Ref" else _referenced(node.value)
    if isinstance(node, dict):
        return {name for value in node.values() for name in _referenced(value)}
    if isinstance(node, list):
        return {name for value in node for name in _referenced(value)}
    return set()
