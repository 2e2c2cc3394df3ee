"""The App Store Server API, read-only: subscription statuses, one transaction, transaction history.

Standard library HTTP (urllib) and `cryptography` for the ES256 bearer token, so the functions that
use it import no HTTP or JWT library. Each call is made for one app (the token's `bid` is its bundle
id) in one environment: a Production transaction goes to APPLE_API_BASE, a Sandbox one (App Review,
TestFlight, on a Production stack too) to APPLE_SANDBOX_API_BASE. A lookup by transaction id alone
asks each configured app, the Production environment before the Sandbox, until one knows the id. Every signed item in an answer (signedTransactionInfo,
signedRenewalInfo, signedTransactions) is verified with `SignedDataVerifier` exactly like a
notification, and returned decoded.

Failures are `AppStoreApiError` (a `StoreApiError`): `retryable` for throttling (429), Apple's 5xx,
timeouts and unreachable hosts, once the bounded retries here are spent; not retryable when Apple
refuses the request (401: the credentials; 404: an unknown id; other 4xx) or answers with signed data
that does not verify.
"""

from __future__ import annotations

import base64
import http.client
import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ..domain.errors import StoreApiError
from ..settings import ConfigurationError
from ..webhooks.apple_apps import RejectedSignedData
from .backoff import Backoff, retry_after_seconds

if TYPE_CHECKING:  # the verifier (cryptography.x509) may be built at the first App Store item
    from ..webhooks.apple import SignedDataVerifier

PRODUCTION_BASE_URL = "https://api.storekit.itunes.apple.com"
SANDBOX_BASE_URL = "https://api.storekit-sandbox.itunes.apple.com"
AUDIENCE = "appstoreconnect-v1"
TOKEN_LIFETIME = 30 * 60  # Apple refuses tokens that live longer than 60 minutes
TOKEN_REFRESH_MARGIN = 5 * 60  # sign a new one this long before the current one expires
MAX_RESPONSE_BYTES = 4 << 20


class AppStoreApiError(StoreApiError):
    """A failed App Store Server API call: HTTP `status` (None if no answer), Apple's `error_code`."""

    def __init__(
        self,
        message: str,
        retryable: bool,
        status: int | None = None,
        error_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, retryable, status, retry_after)
        self.error_code = error_code


@dataclass(frozen=True)
class SubscriptionStatus:
    """One subscription of Get All Subscription Statuses, with its latest transaction and renewal info."""

    subscription_group_identifier: str | None
    status: int | None  # 1 active, 2 expired, 3 billing retry, 4 grace period, 5 revoked (raw if unknown)
    original_transaction_id: str | None
    transaction: Mapping[str, Any] | None
    renewal_info: Mapping[str, Any] | None


@dataclass(frozen=True)
class HistoryPage:
    transactions: tuple[Mapping[str, Any], ...]
    revision: str | None
    has_more: bool


class BearerTokenSigner:
    """The ES256 JWT Apple asks for (one per app: its `bid`), reused until shortly before it expires."""

    def __init__(
        self,
        private_key_pem: bytes,
        key_id: str,
        issuer_id: str,
        bundle_id: str,
        clock: Callable[[], float] = time.time,
        lifetime: int = TOKEN_LIFETIME,
    ) -> None:
        try:
            key = serialization.load_pem_private_key(private_key_pem, password=None)
        except (ValueError, TypeError) as error:
            raise ConfigurationError(f"APPLE_PRIVATE_KEY_FILE is not a PEM private key: {error}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise ConfigurationError("APPLE_PRIVATE_KEY_FILE must hold an App Store Connect (P-256, ES256) key")
        if not 0 < lifetime <= 3600:
            raise ValueError("an App Store Server API token lives at most 60 minutes")
        self._key, self._key_id, self._issuer_id, self._bundle_id = key, key_id, issuer_id, bundle_id
        self._clock, self._lifetime = clock, lifetime
        self._tokens: dict[str, tuple[str, float]] = {}  # bundle id → (token, expiry)

    def token(self, bundle_id: str | None = None) -> str:
        """A token for `bundle_id`'s app (default: the one the signer was made for)."""
        bundle_id = bundle_id or self._bundle_id
        now = self._clock()
        token, expires = self._tokens.get(bundle_id, (None, 0.0))
        if token is None or now >= expires - TOKEN_REFRESH_MARGIN:
            issued = int(now)
            token, expires = self._sign(issued, issued + self._lifetime, bundle_id), issued + self._lifetime
            self._tokens[bundle_id] = (token, expires)
        return token

    def discard(self, bundle_id: str | None = None) -> None:
        """Forget the current token (Apple refused it); the next call signs a new one."""
        self._tokens.pop(bundle_id or self._bundle_id, None)

    def _sign(self, issued: int, expires: int, bundle_id: str) -> str:
        header = {"alg": "ES256", "kid": self._key_id, "typ": "JWT"}
        claims = {"iss": self._issuer_id, "iat": issued, "exp": expires, "aud": AUDIENCE, "bid": bundle_id}
        signing_input = f"{_b64url_encode(_compact(header))}.{_b64url_encode(_compact(claims))}"
        r, s = decode_dss_signature(self._key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64url_encode(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


AUTO_RENEWABLE = "Auto-Renewable Subscription"


class AppStoreApiClient:
    """Reads from the App Store Server API and verifies what it answers. Build once per container."""

    def __init__(
        self,
        signer: BearerTokenSigner,
        verifier: SignedDataVerifier,
        base_url: str | None = None,
        sandbox_base_url: str | None = None,
        timeout: float = 5.0,
        max_attempts: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 4.0,
        max_retry_after: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        environment: str | None = None,
    ) -> None:
        """`environment`: the stack's (default: the verifier's; given, the verifier is not used until a call)."""
        environment = environment or verifier.environment
        if environment == "Production":
            production, sandbox = base_url or PRODUCTION_BASE_URL, sandbox_base_url or SANDBOX_BASE_URL
        else:  # a Sandbox stack: APPLE_API_BASE has always meant its (Sandbox) base
            production, sandbox = base_url or PRODUCTION_BASE_URL, sandbox_base_url or base_url or SANDBOX_BASE_URL
        self._bases = {"Production": production.rstrip("/"), "Sandbox": sandbox.rstrip("/")}
        self._base = self._bases[environment]  # the stack environment's
        self._signer, self._verifier = signer, verifier
        self._timeout = timeout
        self._retry = Backoff(max(1, max_attempts), backoff, max_backoff, max_retry_after, sleep, jitter)
        # The bearer token goes to Apple (or APPLE_API_BASE / APPLE_SANDBOX_API_BASE) only: no proxies from the environment, and
        # no redirects (urllib would replay the Authorization header to wherever they point).
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())

    @classmethod
    def from_settings(cls, settings: Any, verifier: SignedDataVerifier, **kwargs: Any) -> AppStoreApiClient | None:
        """The client for APPLE_KEY_ID / APPLE_ISSUER_ID and the `.p8` key, or None when none is set.
        `bundle_id` and `environment` (default: the verifier's) spare reading the verifier before a call.

        The key is the file APPLE_PRIVATE_KEY_FILE names, or (on AWS) the PEM text of the APPLE_PRIVATE_KEY
        secret.
        """
        if not settings.apple.api_named:
            return None
        key_text = None if settings.apple.private_key_file else settings.apple.private_key.get()
        names = {
            "APPLE_KEY_ID": settings.apple.key_id,
            "APPLE_ISSUER_ID": settings.apple.issuer_id,
            "APPLE_PRIVATE_KEY_FILE (or the APPLE_PRIVATE_KEY secret)": settings.apple.private_key_file or key_text,
        }
        missing = [name for name, value in names.items() if not value]
        if missing:
            raise ConfigurationError(f"App Store Server API credentials incomplete: {', '.join(missing)} unset")
        try:
            pem = key_text.encode() if key_text else Path(settings.apple.private_key_file).read_bytes()
        except OSError as error:
            raise ConfigurationError(f"APPLE_PRIVATE_KEY_FILE cannot be read: {error}") from None
        bundle_id = kwargs.pop("bundle_id", None) or verifier.bundle_id
        signer = BearerTokenSigner(pem, settings.apple.key_id, settings.apple.issuer_id, bundle_id)
        return cls(
            signer,
            verifier,
            base_url=settings.apple.api_base,
            sandbox_base_url=settings.apple.sandbox_api_base,
            **kwargs,
        )

    # ----------------------------------------------------------------------- calls

    def get_all_subscription_statuses(
        self, transaction_id: str, app: str | None = None, environment: str | None = None
    ) -> list[SubscriptionStatus]:
        """Get All Subscription Statuses: every subscription of the customer who made `transaction_id`.
        `app`, `environment`: whose API to ask (default: the first app, the stack's environment)."""
        target = self._target(app, environment)
        body = self._get(f"/inApps/v1/subscriptions/{_segment(transaction_id)}", target=target)
        statuses = []
        for group in body.get("data") or ():
            for item in group.get("lastTransactions") or ():
                statuses.append(
                    SubscriptionStatus(
                        subscription_group_identifier=group.get("subscriptionGroupIdentifier"),
                        status=item.get("status"),
                        original_transaction_id=item.get("originalTransactionId"),
                        transaction=self._verified(
                            item.get("signedTransactionInfo"),
                            self._verifier.verify_and_decode_signed_transaction,
                            target[1],
                        ),
                        renewal_info=self._verified(
                            item.get("signedRenewalInfo"), self._verifier.verify_and_decode_renewal_info, target[1]
                        ),
                    )
                )
        return statuses

    def get_transaction_info(
        self, transaction_id: str, app: str | None = None, environment: str | None = None
    ) -> Mapping[str, Any]:
        """Get Transaction Info: one transaction, verified and decoded. Without `app` and `environment`,
        each configured app is asked in each accepted environment (Production first) until one knows it."""
        path = f"/inApps/v1/transactions/{_segment(transaction_id)}"
        body: dict[str, Any] = {}
        targets = self._targets(app, environment)
        target = targets[0]
        for position, target in enumerate(targets):
            try:
                body = self._get(path, target=target)
                break
            except AppStoreApiError as error:
                if not error.unknown_at_store or position == len(targets) - 1:
                    raise
        transaction = self._verified(
            body.get("signedTransactionInfo"), self._verifier.verify_and_decode_signed_transaction, target[1]
        )
        if transaction is None:
            raise AppStoreApiError("App Store Server API answered without signedTransactionInfo", retryable=True)
        return transaction

    def current_transaction(
        self,
        transaction_id: str | None,
        transaction: Mapping[str, Any] | None = None,
        app: str | None = None,
        environment: str | None = None,
    ) -> tuple[Mapping[str, Any], Mapping[str, Any] | None, int | None]:
        """The transaction as Apple knows it now (looked up unless given, verified), with the renewal
        info and status of its subscription when it is one: what the receipts and the drift check ask.
        The subscription is asked of the transaction's own app and environment; `app` and `environment`
        (a stored purchase's) say where to look a transaction up by id."""
        if transaction is None:
            if transaction_id is None:
                raise ValueError("current_transaction needs the transaction or its id")
            transaction = self.get_transaction_info(transaction_id, app, environment)
        if transaction.get("type") != AUTO_RENEWABLE:
            return transaction, None, None
        statuses = self.get_all_subscription_statuses(
            transaction["transactionId"], transaction.get("bundleId"), transaction.get("environment")
        )
        for status in statuses:
            if status.original_transaction_id == transaction.get("originalTransactionId") and status.transaction:
                return status.transaction, status.renewal_info, status.status
        return transaction, None, None

    def get_transaction_history_page(
        self,
        transaction_id: str,
        revision: str | None = None,
        *,
        app: str | None = None,
        environment: str | None = None,
        **filters: str | Sequence[str],
    ) -> HistoryPage:
        """Get Transaction History (v2), one page of up to 20. `filters`: Apple's query parameters
        (`sort`, `productId`, `productType`, `startDate`, `endDate`, `revoked`, ...), sent again with
        every revision as Apple requires. `app`, `environment`: whose history (default: the first app,
        the stack's environment)."""
        query = {**filters, **({"revision": revision} if revision else {})}
        target = self._target(app, environment)
        body = self._get(f"/inApps/v2/history/{_segment(transaction_id)}", query, target=target)
        verified = (
            self._verified(signed, self._verifier.verify_and_decode_signed_transaction, target[1])
            for signed in body.get("signedTransactions") or ()
        )
        transactions = tuple(transaction for transaction in verified if transaction is not None)
        return HistoryPage(transactions, body.get("revision"), bool(body.get("hasMore")))

    def iter_transaction_history(
        self,
        transaction_id: str,
        max_pages: int = 50,
        *,
        app: str | None = None,
        environment: str | None = None,
        **filters: str | Sequence[str],
    ) -> Iterator[Mapping[str, Any]]:
        """Every transaction of the customer's history, page after page while Apple says `hasMore`."""
        revision = None
        for _ in range(max_pages):
            page = self.get_transaction_history_page(
                transaction_id, revision, app=app, environment=environment, **filters
            )
            yield from page.transactions
            if not page.has_more or not page.revision:
                return
            revision = page.revision
        raise AppStoreApiError(f"Transaction history longer than {max_pages} pages", retryable=False)

    # ----------------------------------------------------------------------- where to ask

    def _target(self, app: str | None, environment: str | None) -> tuple[str, str]:
        """(bundle id, Apple environment) of a call: the given ones, else the first app and the stack's
        environment. Parity's names (`sandbox`) and Apple's (`Sandbox`) are both understood."""
        return app or self._verifier.bundle_id, _apple_environment(environment) or self._verifier.environment

    def _targets(self, app: str | None, environment: str | None) -> list[tuple[str, str]]:
        """Where a transaction id may be known: the given app and environment, else every configured app
        in every accepted environment, Production first (where paying customers are)."""
        apps = [app] if app else list(self._verifier.apps.bundle_ids)
        given = _apple_environment(environment)
        environments = [given] if given else list(self._verifier.apps.accepted)
        return [(bundle, env) for env in environments for bundle in apps]

    # ----------------------------------------------------------------------- plumbing

    def _verified(
        self, signed: Any, verify: Callable[[str], Mapping[str, Any]], environment: str
    ) -> Mapping[str, Any] | None:
        """A signed item of an answer, verified, and from the environment whose API answered."""
        if signed is None:
            return None
        try:
            decoded = verify(signed)
        except RejectedSignedData as error:
            raise AppStoreApiError(
                f"App Store Server API answered with signed data that does not verify ({error.code})", retryable=False
            ) from error
        if decoded.get("environment") != environment:
            raise AppStoreApiError(
                f"App Store Server API ({environment}) answered with signed data of another environment "
                "(wrong_environment)",
                retryable=False,
            )
        return decoded

    def _get(
        self, path: str, query: Mapping[str, Any] | None = None, target: tuple[str, str] | None = None
    ) -> dict[str, Any]:
        bundle_id, environment = target or self._target(None, None)
        base = self._bases.get(environment, self._base)
        url = base + path + (f"?{urllib.parse.urlencode(query, doseq=True)}" if query else "")
        for attempt in range(1, self._retry.max_attempts + 1):
            request = urllib.request.Request(
                url,
                headers={
                    "Authorization": f"Bearer {self._signer.token(bundle_id)}",
                    "Accept": "application/json",
                    "User-Agent": "parity",
                },
            )
            try:
                with self._opener.open(request, timeout=self._timeout) as response:
                    return _json_object(response.read(MAX_RESPONSE_BYTES))
            except urllib.error.HTTPError as answer:
                failure = self._refusal(answer, bundle_id)
            except (OSError, http.client.HTTPException) as error:  # unreachable, reset, timed out
                reason = getattr(error, "reason", error)
                failure = AppStoreApiError(f"App Store Server API unreachable: {reason}", retryable=True)
            if not failure.retryable:
                raise failure
            delay = self._retry.delay(attempt, failure.retry_after)
            if attempt == self._retry.max_attempts or delay is None:
                raise failure
            self._retry.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _refusal(self, answer: urllib.error.HTTPError, bundle_id: str) -> AppStoreApiError:
        status = answer.code
        try:
            detail = json.loads(answer.read(64 << 10) or b"{}")
        except (ValueError, OSError):
            detail = {}
        finally:
            answer.close()
        detail = detail if isinstance(detail, dict) else {}
        code, text = detail.get("errorCode"), detail.get("errorMessage") or answer.reason
        if status == 401:
            self._signer.discard(bundle_id)
            return AppStoreApiError("App Store Server API rejected the credentials (401)", retryable=False, status=401)
        retryable = status == 429 or status >= 500
        return AppStoreApiError(
            f"App Store Server API answered {status}" + (f" ({code}: {text})" if code else f" ({text})"),
            retryable=retryable,
            status=status,
            error_code=code if isinstance(code, int) else None,
            retry_after=retry_after_seconds(answer.headers.get("Retry-After")) if retryable else None,
        )



# --------------------------------------------------------------------------- helpers


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001 - urllib's signature
        return None  # urllib then raises the 3xx as an HTTPError: a refusal


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _apple_environment(environment: Any) -> str | None:
    """`Production` / `Sandbox` from either Apple's or Parity's spelling; None when not one of them."""
    return {"production": "Production", "sandbox": "Sandbox"}.get(str(environment or "").lower())


def _segment(identifier: str) -> str:
    return urllib.parse.quote(str(identifier), safe="")


def _compact(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise AppStoreApiError("App Store Server API answered with something that is not a JSON object", retryable=True)
    return document


