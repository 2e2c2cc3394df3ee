"""Demo stores for `make demo`: an App Store and a Google Play app the local stack can verify, demo only.

Started only when the stack runs the demo configuration's identity provider (AUTH_JWKS_URL unset) and
the store is not configured (APPLE_BUNDLE_ID, GOOGLE_PACKAGE_NAME unset); a stack configured for real
never trusts any of this. Built from the test imitations in `tests/support`:

- App Store: a certificate chain generated at start (`tests.support.apple`), its root the only one in
  APPLE_ROOT_CERTS, for the demo app `com.example.parity` (Sandbox). `POST /_demo/apple/sign` signs a
  JSON payload with the chain's leaf, as Apple signs notifications and transactions.
- Google Play: the demo package `com.example.parity`; Pub/Sub push tokens signed by a key generated at
  start whose certs a local endpoint serves (`tests.support.google`), and the Play Developer API with its
  token endpoint imitated locally (`tests.support.play_api`). `POST /_demo/google/purchase` records a
  subscription purchase in the imitation and answers the push Google would send: envelope and bearer.

The keys live in this process only (the root certificate and the service-account file in a temporary
directory removed at stop). Every route binds to 127.0.0.1, like the rest of the stack.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import MutableMapping
from contextlib import ExitStack
from pathlib import Path

from local.server import Endpoint, Request, Response, error_response, json_response
from parity.domain import limits

DEMO_APP = "com.example.parity"
DEMO_APP_APPLE_ID = "1234567890"
DEMO_PLAY_PRODUCT = "pro_monthly"
# In this run's Play purchase tokens and Pub/Sub message ids: the state directory keeps earlier runs'
# purchases and events, whose ids a fresh counter would repeat.
RUN = str(int(time.time() * 1000))


class DemoStores:
    def __init__(self) -> None:
        self._resources = ExitStack()
        self.directory: Path | None = None
        self.chain = None
        self.play = None
        self.google_key = None
        self.audience: str | None = None
        self.described: list[str] = []

    @classmethod
    def start(cls, base_url: str, environ: MutableMapping[str, str]) -> DemoStores:
        stores = cls()
        apple = not environ.get("APPLE_BUNDLE_ID")
        google = not environ.get("GOOGLE_PACKAGE_NAME")
        if apple or google:
            stores.directory = Path(tempfile.mkdtemp(prefix="parity-demo-stores-"))
        if apple:
            stores._start_apple(environ)
        if google:
            stores._start_google(base_url, environ)
        return stores

    def _start_apple(self, environ: MutableMapping[str, str]) -> None:
        from tests.support import apple

        self.chain = apple.make_chain()
        environ.update(
            APPLE_BUNDLE_ID=DEMO_APP,
            APPLE_APP_APPLE_ID=DEMO_APP_APPLE_ID,
            APPLE_ENVIRONMENT="Sandbox",
            APPLE_ROOT_CERTS=str(self.chain.write_root(self.directory)),
        )
        self.described.append(
            f"App Store: demo app {DEMO_APP} (Sandbox) trusting a root generated now (POST /_demo/apple/sign)"
        )

    def _start_google(self, base_url: str, environ: MutableMapping[str, str]) -> None:
        from tests.support import google
        from tests.support.play_api import generate_key, play_api_server

        self.google_key = google.signing_key("parity-demo")
        certs = self._resources.enter_context(google.certs_server(self.google_key))
        self.play = self._resources.enter_context(play_api_server(generate_key()))
        account = self.play.write_service_account(self.directory / "play-service-account.json")
        environ.update(
            GOOGLE_PACKAGE_NAME=DEMO_APP,
            GOOGLE_PUBSUB_AUDIENCE=f"{base_url}/webhooks/google",
            GOOGLE_PUBSUB_SERVICE_ACCOUNT=google.SERVICE_ACCOUNT,
            GOOGLE_OIDC_CERTS_URL=certs.url,
            GOOGLE_API_BASE=self.play.base_url,
            GOOGLE_SERVICE_ACCOUNT_FILE=str(account),
        )
        self.audience = f"{base_url}/webhooks/google"
        self.described.append(
            f"Google Play: demo package {DEMO_APP}, Pub/Sub and the Play API imitated locally (POST /_demo/google/purchase)"
        )

    def stop(self) -> None:
        self._resources.close()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)

    # ------------------------------------------------------------------------------- routes

    def endpoints(self) -> list[Endpoint]:
        endpoints = []
        if self.chain is not None:
            endpoints.append(Endpoint("POST", "/_demo/apple/sign", self._apple_sign))
        if self.play is not None:
            endpoints.append(Endpoint("POST", "/_demo/google/purchase", self._google_purchase))
        return endpoints

    def _apple_sign(self, request: Request, params: dict) -> Response:
        """Signs the JSON object sent (a notification, transaction or renewal info) with the demo chain."""
        from tests.support import apple

        payload = _object(request)
        if payload is None:
            return error_response(400, "bad_request", "Send the JSON object to sign.")
        return json_response(200, {"jws": apple.sign(payload, self.chain)})

    def _google_purchase(self, request: Request, params: dict) -> Response:
        """A subscription bought in the demo app: recorded in the Play imitation; answers the push."""
        from tests.support import google

        document = _object(request)
        if document is None:
            return error_response(400, "bad_request", 'Send {"obfuscatedExternalAccountId": "...", "productId": "..."}.')
        account, product = document.get("obfuscatedExternalAccountId"), document.get("productId") or DEMO_PLAY_PRODUCT
        if not isinstance(product, str) or (account is not None and not isinstance(account, str)):
            return error_response(400, "bad_request", "obfuscatedExternalAccountId and productId are strings.")
        token = google.purchase_token().replace(".", f"{RUN}.", 1)
        fields = {"externalAccountIdentifiers": {"obfuscatedExternalAccountId": account}} if account else {}
        self.play.add_subscription(token, package=DEMO_APP, product_id=product, **fields)
        notification = google.subscription_notification(token, package=DEMO_APP)
        message_id = f"{RUN}{google.new_message_id()[-6:]}"
        body = google.push_body(notification, message_id=message_id)
        bearer = google.bearer(google.mint_token(self.google_key, audience=self.audience))
        return json_response(
            200, {"purchaseToken": token, "messageId": message_id, "body": body.decode(), "authorization": bearer}
        )


def _object(request: Request) -> dict | None:
    try:
        document = limits.loads(request.body or b"{}")
    except limits.MalformedJson:
        return None
    return document if isinstance(document, dict) else None
