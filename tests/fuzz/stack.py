"""The stack the fuzzer attacks: the local stack configured for every store, like a deployment.

Stripe (webhook secret and a local imitation of the Stripe API), the App Store (a generated trusted
root, the App Store Server API imitation and its key), Google Play (Pub/Sub push tokens checked against
a local certs endpoint, the Play Developer API imitation), an identity provider for app JWTs, and an
admin token: with everything configured, no answer may be a 503 `not_configured`. The DynamoDB table is
read through moto's endpoint, found in the connection file the stack writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.e2e.conftest import ADMIN_TOKEN, IdentityProvider, Parity, local_stack
from tests.support import apple
from tests.support import google as push
from tests.support.app_store_api import app_store_api_server
from tests.support.play_api import generate_key, play_api_server
from tests.support.stripe_api import stripe_api_server

APPLE_KEY_ID, APPLE_ISSUER_ID = "FUZZKEY001", "fuzz-issuer-0000"


@dataclass
class Target:
    """A running stack and what the fuzzer needs to speak to it (and to forge for it)."""

    parity: Parity
    idp: IdentityProvider
    apple_signer: apple.AppleSigner
    admin_token: str
    table: str
    dynamodb: Any  # a boto3 DynamoDB client on the stack's moto server

    @property
    def base_url(self) -> str:
        return self.parity.base_url

    def table_keys(self) -> dict[tuple[str, str], dict]:
        """Every item of the table by (PK, SK), with its attributes (a full Scan: moto holds little)."""
        items: dict[tuple[str, str], dict] = {}
        kwargs: dict[str, Any] = {"TableName": self.table}
        while True:
            page = self.dynamodb.scan(**kwargs)
            for item in page.get("Items", []):
                items[(item["PK"]["S"], item["SK"]["S"])] = item
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@contextmanager
def fuzz_stack(workdir: Path) -> Iterator[Target]:
    """The fully configured local stack (a subprocess), with its fakes; stopped cleanly at the end."""
    workdir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        idp = IdentityProvider()
        stack.callback(idp.close)
        signer = apple.AppleSigner(environment="Sandbox")
        certs = stack.enter_context(push.certs_server())
        play = stack.enter_context(play_api_server(generate_key()))
        stripe_api = stack.enter_context(stripe_api_server())
        api_key = ec.generate_private_key(ec.SECP256R1())
        app_store = stack.enter_context(
            app_store_api_server(
                api_key.public_key(), APPLE_KEY_ID, APPLE_ISSUER_ID, environment="Sandbox", app_apple_id=None,
                bundle_id=signer.bundle_id,
            )
        )  # fmt: skip
        key_file = workdir / "AuthKey.p8"
        key_file.write_bytes(
            api_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        connection = workdir / "local.json"
        parity = stack.enter_context(
            local_stack(
                workdir,
                idp,
                PARITY_LOCAL_FILE=str(connection),
                STRIPE_API_KEY="sk_test_parity_fuzz",
                STRIPE_API_BASE=stripe_api.base_url,
                APPLE_BUNDLE_ID=signer.bundle_id,
                APPLE_ENVIRONMENT="Sandbox",
                APPLE_ROOT_CERTS=str(signer.chain.write_root(workdir)),
                APPLE_API_BASE=app_store.base_url,
                APPLE_SANDBOX_API_BASE=app_store.base_url,
                APPLE_KEY_ID=APPLE_KEY_ID,
                APPLE_ISSUER_ID=APPLE_ISSUER_ID,
                APPLE_PRIVATE_KEY_FILE=str(key_file),
                GOOGLE_PACKAGE_NAME=push.PACKAGE,
                GOOGLE_PUBSUB_AUDIENCE=push.AUDIENCE,
                GOOGLE_PUBSUB_SERVICE_ACCOUNT=push.SERVICE_ACCOUNT,
                GOOGLE_OIDC_CERTS_URL=certs.url,
                GOOGLE_API_BASE=play.base_url,
                GOOGLE_SERVICE_ACCOUNT_FILE=str(play.write_service_account(workdir / "play-service-account.json")),
            )
        )
        document = json.loads(connection.read_text())
        dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=document["endpointUrl"],
            region_name=document["region"],
            aws_access_key_id="parity-local",
            aws_secret_access_key="parity-local",
        )
        table = document["resources"]["ParityTable"]["ref"]
        yield Target(parity, idp, signer, ADMIN_TOKEN, table, dynamodb)
