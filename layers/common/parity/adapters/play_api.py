"""The Google Play Developer API (androidpublisher v3), the calls Parity makes: a subscription
(`purchases.subscriptionsv2.get`), a one-time product purchase (`purchases.products.get`), their
acknowledgements (`purchases.subscriptions.acknowledge`, `purchases.products.acknowledge`) and the
voided purchases list (`purchases.voidedpurchases.list`, page after page).

google-api-python-client builds the service from the discovery document the package ships (no network
at build time or cold start), with `api_endpoint` = GOOGLE_API_BASE when set. Credentials are the
service account of GOOGLE_SERVICE_ACCOUNT_FILE (google-auth; the file's `token_uri` is where access
tokens come from), over one httplib2 connection with a timeout that the token requests share. The
service-account key is checked when the client is built; the Google libraries are imported, and the
service built, at the first call (or `prepare()`), so that a function which may never call Google (the
receipts function answering an App Store claim) does not pay for them. The libraries ship in the Google
layer (layers/google), which only the functions that talk to Google attach.

Failures are `PlayApiError` (a `StoreApiError`): `retryable` for throttling (429, or 403 with a
rate-limit reason), Google's 5xx, timeouts, unreachable hosts and token endpoint outages, once the
bounded retries here are spent; not retryable when Google refuses the request (401/403: the
credentials or the service account's access in Play Console; 404/410: an unknown or expired token;
other 4xx) or the token endpoint refuses the service account.

Not thread-safe (one httplib2 connection pool): one client per Lambda container, used by one request
at a time.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..domain.errors import StoreApiError
from ..settings import ConfigurationError

if TYPE_CHECKING:
    from google.oauth2.service_account import Credentials
from .backoff import Backoff, retry_after_seconds

SCOPE = "https://www.googleapis.com/auth/androidpublisher"
DEFAULT_BASE_URL = "https://androidpublisher.googleapis.com/"  # the discovery document's rootUrl
SERVICE, VERSION = "androidpublisher", "v3"
# voidedpurchases.list `type`: 0 voided one-time purchases only (Google's default), 1 subscriptions too.
VOIDED_ONE_TIME_ONLY, VOIDED_WITH_SUBSCRIPTIONS = 0, 1
# 403 reasons that mean "slow down", not "forbidden" (as googleapiclient's own retry logic reads them).
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
REQUIRED_SERVICE_ACCOUNT_FIELDS = ("client_email", "private_key", "token_uri")


class PlayApiError(StoreApiError):
    """A failed Play Developer API call: HTTP `status` (None if no answer), Google's error `reason`."""

    def __init__(
        self,
        message: str,
        retryable: bool,
        status: int | None = None,
        reason: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, retryable, status, retry_after)
        self.reason = reason


@dataclass(frozen=True)
class VoidedPurchasesPage:
    voided_purchases: tuple[Mapping[str, Any], ...]
    next_page_token: str | None


class PlayDeveloperApi:
    """Reads and acknowledges Google Play purchases. Build once per container."""

    def __init__(
        self,
        service_account_info: Mapping[str, Any],
        base_url: str | None = None,
        timeout: float = 5.0,
        max_attempts: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 4.0,
        max_retry_after: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._info = _checked_service_account(service_account_info)
        self._base = base_url.rstrip("/") + "/" if base_url else None  # None: the document's rootUrl
        self._timeout = timeout
        self._retry = Backoff(max(1, max_attempts), backoff, max_backoff, max_retry_after, sleep, jitter)
        self._purchases: Any = None  # the `purchases` resource, built by prepare()

    @classmethod
    def from_service_account_file(cls, path: str | Path, **kwargs: Any) -> PlayDeveloperApi:
        try:
            info = json.loads(Path(path).read_text())
        except (OSError, ValueError) as error:
            raise ConfigurationError(f"GOOGLE_SERVICE_ACCOUNT_FILE is not a readable JSON file: {error}") from None
        return cls(info, **kwargs)

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> PlayDeveloperApi | None:
        """The client for GOOGLE_SERVICE_ACCOUNT_FILE (or, on AWS, the GOOGLE_SERVICE_ACCOUNT secret: the
        key file's JSON text) and GOOGLE_API_BASE; None when no service account is configured."""
        kwargs.setdefault("base_url", settings.google.api_base)
        if settings.google.service_account_file:
            return cls.from_service_account_file(settings.google.service_account_file, **kwargs)
        text = settings.google.service_account.get()
        if not text:
            return None
        try:
            return cls(json.loads(text), **kwargs)
        except ValueError as error:
            raise ConfigurationError(f"the GOOGLE_SERVICE_ACCOUNT secret is not the key file's JSON: {error}") from None

    @property
    def service_account_email(self) -> str:
        return self._info["client_email"]

    def prepare(self) -> None:
        """Import the Google libraries and build the service now (during a Lambda's init phase, say)
        instead of at the first call. No network: the discovery document is the one the package ships,
        and the first access token is fetched by the first call."""
        if self._purchases is not None:
            return
        import google_auth_httplib2
        import httplib2
        from google.oauth2 import service_account
        from googleapiclient.discovery import build_from_document
        from googleapiclient.discovery_cache import get_static_doc

        document = get_static_doc(SERVICE, VERSION)
        if document is None:
            raise ConfigurationError(f"googleapiclient ships no {SERVICE}.{VERSION} discovery document")
        credentials = _without_access_boundary_lookup(service_account.Credentials).from_service_account_info(
            self._info, scopes=[SCOPE]
        )
        # One timeout for API and token requests (google-auth's httplib2 transport uses this Http too).
        # No proxies from the environment; no redirects (a 3xx is a refusal, like the App Store client's).
        transport = httplib2.Http(timeout=self._timeout, proxy_info=None)
        transport.follow_redirects = False
        authorized = google_auth_httplib2.AuthorizedHttp(credentials, http=transport)
        service = build_from_document(
            document, http=authorized, client_options={"api_endpoint": self._base} if self._base else None
        )
        self._purchases = service.purchases()

    # ----------------------------------------------------------------------- calls

    def get_subscription_v2(self, package_name: str, token: str) -> dict[str, Any]:
        """purchases.subscriptionsv2.get: the SubscriptionPurchaseV2 of a purchase token."""
        return self._object(
            "subscriptionsv2.get",
            lambda p: p.subscriptionsv2().get(packageName=package_name, token=token),
        )

    def acknowledge_subscription(
        self, package_name: str, subscription_id: str, token: str, developer_payload: str | None = None
    ) -> None:
        """purchases.subscriptions.acknowledge. `subscription_id`: the product id of the purchase (a
        subscriptionsv2 line item's `productId`)."""
        body = {"developerPayload": developer_payload} if developer_payload is not None else {}
        self._call(
            "subscriptions.acknowledge",
            lambda p: p.subscriptions().acknowledge(
                packageName=package_name, subscriptionId=subscription_id, token=token, body=body
            ),
        )

    def get_product(self, package_name: str, product_id: str, token: str) -> dict[str, Any]:
        """purchases.products.get: the ProductPurchase of a one-time product's purchase token."""
        return self._object(
            "products.get",
            lambda p: p.products().get(packageName=package_name, productId=product_id, token=token),
        )

    def acknowledge_product(
        self, package_name: str, product_id: str, token: str, developer_payload: str | None = None
    ) -> None:
        """purchases.products.acknowledge."""
        body = {"developerPayload": developer_payload} if developer_payload is not None else {}
        self._call(
            "products.acknowledge",
            lambda p: p.products().acknowledge(packageName=package_name, productId=product_id, token=token, body=body),
        )

    def get_voided_purchases_page(
        self,
        package_name: str,
        start_time: datetime | int | None = None,
        end_time: datetime | int | None = None,
        page_token: str | None = None,
        max_results: int | None = None,
        include_subscriptions: bool = True,
    ) -> VoidedPurchasesPage:
        """purchases.voidedpurchases.list, one page. Times: aware datetimes or epoch milliseconds
        (Google: `start_time` at most 30 days back, the default). Subscriptions are included unless
        `include_subscriptions` is False (Google's `type` 1 versus 0)."""
        query: dict[str, Any] = {
            "packageName": package_name,
            "type": VOIDED_WITH_SUBSCRIPTIONS if include_subscriptions else VOIDED_ONE_TIME_ONLY,
        }
        if start_time is not None:
            query["startTime"] = _millis(start_time)
        if end_time is not None:
            query["endTime"] = _millis(end_time)
        if page_token:
            query["token"] = page_token
        if max_results is not None:
            query["maxResults"] = max_results
        body = self._object("voidedpurchases.list", lambda p: p.voidedpurchases().list(**query))
        items = body.get("voidedPurchases") or ()
        next_token = (body.get("tokenPagination") or {}).get("nextPageToken") or None
        return VoidedPurchasesPage(tuple(item for item in items if isinstance(item, Mapping)), next_token)

    def iter_voided_purchases(
        self,
        package_name: str,
        start_time: datetime | int | None = None,
        end_time: datetime | int | None = None,
        max_results: int | None = None,
        include_subscriptions: bool = True,
        max_pages: int = 50,
    ) -> Iterator[Mapping[str, Any]]:
        """Every voided purchase of the window, following `nextPageToken` (the same window on every page)."""
        page_token = None
        for _ in range(max_pages):
            page = self.get_voided_purchases_page(
                package_name, start_time, end_time, page_token, max_results, include_subscriptions
            )
            yield from page.voided_purchases
            if not page.next_page_token:
                return
            page_token = page.next_page_token
        raise PlayApiError(f"Voided purchases longer than {max_pages} pages", retryable=False)

    # ----------------------------------------------------------------------- plumbing

    def _object(self, what: str, build: Callable[[Any], Any]) -> dict[str, Any]:
        answer = self._call(what, build)
        if not isinstance(answer, dict):
            raise PlayApiError(
                f"Play Developer API {what} answered with something that is not a JSON object", retryable=True
            )
        return answer

    def _call(self, what: str, build: Callable[[Any], Any]) -> Any:
        self.prepare()
        for attempt in range(1, self._retry.max_attempts + 1):
            try:
                return build(self._purchases).execute(num_retries=0)  # the retries are ours
            except Exception as error:
                failure, retry_here = _failure(what, error)  # re-raises what it does not know
                again = failure.retryable and retry_here and attempt < self._retry.max_attempts
                delay = self._retry.delay(attempt, failure.retry_after) if again else None
                if delay is None:
                    raise failure from error
            self._retry.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover



def _without_access_boundary_lookup(credentials_class: Any) -> type[Credentials]:
    """Service-account credentials that talk to `token_uri` and the API only.

    Since 2.55, google-auth follows every token refresh with a Regional Access Boundary lookup: a GET
    of iamcredentials.googleapis.com/.../allowedLocations carrying the access token, from a background
    daemon thread. Parity has no use for it (the Play Developer API is a global endpoint); it would be an
    undeclared egress to a host that is neither GOOGLE_API_BASE nor `token_uri`, a thread left running in
    a frozen Lambda sandbox, and (seen with CPython 3.12) an occasional crash at interpreter exit while
    the thread is still resolving. google-auth has no public switch (googleapis/google-cloud-python#17653),
    so the hook that decides it is overridden; should it be renamed, the lookup simply comes back.
    """

    class PlayServiceAccountCredentials(credentials_class):
        def _is_regional_access_boundary_lookup_required(self) -> bool:
            return False

    return PlayServiceAccountCredentials


# --------------------------------------------------------------------------- failures


def _failure(what: str, error: Exception) -> tuple[PlayApiError, bool]:
    """The PlayApiError for what a call raised, and whether to retry it here if it is retryable.
    Anything unknown is re-raised as is."""
    import http.client

    import httplib2
    from google.auth import exceptions as auth_errors
    from googleapiclient.errors import HttpError

    if isinstance(error, HttpError):
        return _refusal(what, error), True
    if isinstance(error, auth_errors.RefreshError):
        # The token endpoint answered with an error. google-auth already retried it (3 attempts with
        # backoff) when it looked transient, so a retryable one is not retried again here.
        detail = error.args[0] if error.args else error
        retryable = bool(getattr(error, "retryable", False))
        verb = "failed" if retryable else "refused the service account"
        return PlayApiError(f"Google's token endpoint {verb} ({detail})", retryable=retryable), False
    if isinstance(error, (auth_errors.TransportError, httplib2.HttpLib2Error, http.client.HTTPException, OSError)):
        # Unreachable, reset, timed out (TimeoutError is an OSError), for the API or the token endpoint.
        reason = str(error) or type(error).__name__
        return PlayApiError(f"Play Developer API {what} unreachable: {reason}", retryable=True), True
    raise error


def _refusal(what: str, answer: Any) -> PlayApiError:
    status = int(answer.resp.status)
    try:
        detail = json.loads(answer.content or b"{}").get("error")
    except (ValueError, AttributeError):
        detail = None
    detail = detail if isinstance(detail, dict) else {}
    errors = detail.get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    reason = first.get("reason") or detail.get("status")
    text = detail.get("message") or getattr(answer.resp, "reason", "") or ""
    retryable = status == 429 or status >= 500 or (status == 403 and reason in RATE_LIMIT_REASONS)
    if status in (401, 403) and not retryable:
        message = (
            f"Play Developer API {what} rejected the credentials ({status}: {text}); check that the service "
            "account has access to the app in Play Console"
        )
    else:
        message = f"Play Developer API {what} answered {status}" + (f" ({reason}: {text})" if reason else f" ({text})")
    return PlayApiError(
        message,
        retryable=retryable,
        status=status,
        reason=reason if isinstance(reason, str) else None,
        retry_after=retry_after_seconds(answer.resp.get("retry-after")) if retryable else None,
    )


# --------------------------------------------------------------------------- helpers


def _checked_service_account(info: Mapping[str, Any]) -> dict[str, Any]:
    """The service-account JSON, checked without the Google libraries (fail fast at cold start)."""
    if not isinstance(info, Mapping):
        raise ConfigurationError("GOOGLE_SERVICE_ACCOUNT_FILE must hold a JSON object (a service account key)")
    if info.get("type", "service_account") != "service_account":
        raise ConfigurationError(f"GOOGLE_SERVICE_ACCOUNT_FILE is a {info.get('type')!r} key, not a service account")
    missing = [
        name for name in REQUIRED_SERVICE_ACCOUNT_FIELDS if not isinstance(info.get(name), str) or not info[name]
    ]
    if missing:
        raise ConfigurationError(f"GOOGLE_SERVICE_ACCOUNT_FILE lacks {', '.join(missing)}")
    try:
        # A shape check (~0 ms): google-auth loads the key again, validating it (~40 ms), in prepare().
        key = serialization.load_pem_private_key(
            info["private_key"].encode(), password=None, unsafe_skip_rsa_key_validation=True
        )
    except (ValueError, TypeError) as error:
        raise ConfigurationError(f"GOOGLE_SERVICE_ACCOUNT_FILE private_key is not a PEM private key: {error}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigurationError("GOOGLE_SERVICE_ACCOUNT_FILE private_key must be an RSA key (RS256)")
    return dict(info)


def _millis(moment: datetime | int) -> str:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("voided purchases window: use aware datetimes")
        return str(int(moment.timestamp() * 1000))
    return str(int(moment))


