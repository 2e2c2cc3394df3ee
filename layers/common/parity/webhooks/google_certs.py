"""Google's OIDC signing certificates for Pub/Sub push tokens: fetched, cached, refreshed on rotation.

The certificates (Google's v1 format, `{"<kid>": "<PEM certificate>"}`, at `GOOGLE_OIDC_CERTS_URL`) are
cached (`CertsCache`) for the `Cache-Control: max-age` Google sends (minus `Age`), refetched early, at
most once a minute, when a token names a key id the cached set lacks (rotation), and kept in use while a
refetch fails (up to a day past their max-age). When none can be had `CertsUnavailable` is raised (the
push is answered 503: our outage, not the sender's fault). The fetch uses urllib3 (already loaded by
boto3), not `requests`; any google-auth `transport.Request` can be passed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
CERTS_DEFAULT_TTL = 300  # when the certs answer has no usable max-age
CERTS_MAX_TTL = 24 * 3600
CERTS_MIN_REFRESH_INTERVAL = 60  # an unknown kid triggers at most one refetch per interval
CERTS_RETRY_AFTER_FAILURE = 10  # while serving stale certs, the next fetch attempt waits this long
CERTS_MAX_STALE = 24 * 3600  # how long past their max-age certs stay in use while the endpoint fails
CERTS_FETCH_TIMEOUT = 5.0


@dataclass(frozen=True)
class FetchedCerts:
    """One answer of the certs endpoint, and how long it may be used."""

    certs: Mapping[str, str]  # kid → PEM certificate
    ttl: float  # seconds the answer may be used for


class CertsUnavailable(Exception):
    """The certificates could not be fetched or read."""


def max_age(headers: Mapping[str, str] | None) -> float | None:
    """Freshness lifetime of an answer: `Cache-Control: max-age` minus `Age`; 0 for no-cache/no-store."""
    headers = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    directives = [d.strip().lower() for d in headers.get("cache-control", "").split(",")]
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    for directive in directives:
        name, _, value = directive.partition("=")
        if name.strip() == "max-age":
            try:
                lifetime = float(int(value.strip().strip('"')))
            except ValueError:
                return None
            try:
                age = float(int(headers.get("age", "0")))
            except ValueError:
                age = 0.0
            return max(0.0, lifetime - max(0.0, age))
    return None


class _Urllib3Request:
    """The slice of google-auth's `transport.Request` protocol used here, on one urllib3 pool."""

    def __init__(self) -> None:
        import urllib3

        self._http = urllib3.PoolManager(num_pools=2, maxsize=2)
        self._urllib3 = urllib3

    def __call__(self, url: str, method: str = "GET", body=None, headers=None, timeout=None, **kwargs):
        return self._http.request(
            method,
            url,
            body=body,
            headers=headers,
            timeout=self._urllib3.Timeout(total=timeout or CERTS_FETCH_TIMEOUT),
            retries=self._urllib3.Retry(total=1, connect=1, read=0, redirect=2, status=0),
            preload_content=True,
        )


def fetch_certs(request: Callable[..., Any], url: str, timeout: float = CERTS_FETCH_TIMEOUT) -> FetchedCerts:
    """GET Google's v1 certs document with a google-auth style `request`; raises CertsUnavailable."""
    try:
        answer = request(url, method="GET", timeout=timeout)
        status, data, headers = answer.status, answer.data, answer.headers
    except Exception as error:  # any transport failure is the same outage to the caller
        raise CertsUnavailable(f"fetching {url} failed: {type(error).__name__}") from error
    if status != 200:
        raise CertsUnavailable(f"{url} answered HTTP {status}")
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        raise CertsUnavailable(f"{url} did not answer JSON") from None
    if not (
        isinstance(document, dict)
        and document
        and all(isinstance(k, str) and isinstance(v, str) and "BEGIN CERTIFICATE" in v for k, v in document.items())
    ):
        raise CertsUnavailable(f'{url} did not answer Google\'s v1 format {{"<kid>": "<PEM certificate>"}}')
    lifetime = max_age(headers)
    ttl = CERTS_DEFAULT_TTL if lifetime is None else min(lifetime, CERTS_MAX_TTL)
    return FetchedCerts(dict(document), ttl)


class CertsCache:
    """Google's signing certificates, fetched when needed and reused while fresh (thread-safe)."""

    def __init__(
        self,
        url: str = GOOGLE_CERTS_URL,
        request: Callable[..., Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        min_refresh_interval: float = CERTS_MIN_REFRESH_INTERVAL,
        retry_after_failure: float = CERTS_RETRY_AFTER_FAILURE,
    ) -> None:
        self.url = normalize_url(url)
        self._request = request
        self._clock = clock
        self._min_refresh = min_refresh_interval
        self._retry_after_failure = retry_after_failure
        self._lock = threading.Lock()
        self._certs: Mapping[str, str] | None = None
        self._fresh_until = 0.0
        self._next_attempt = 0.0
        self.fetches = 0  # attempts, for tests and logs

    def certs(self, kid: str | None = None) -> Mapping[str, str]:
        """The current certificates; refetched when stale, or early when `kid` is not among them."""
        with self._lock:
            now = self._clock()
            if self._certs is None:
                return self._refresh(now)
            if (kid is None or kid in self._certs) and now < self._fresh_until:
                return self._certs
            # Stale, or a kid the set lacks (a rotation not seen yet, or a forged kid): refetch, but not
            # twice within the minimum interval (nor right after a failure), whatever tokens arrive.
            if now < self._next_attempt:
                return self._certs
            return self._refresh(now)

    def _refresh(self, now: float) -> Mapping[str, str]:
        if self._request is None:
            self._request = _Urllib3Request()
        self.fetches += 1
        try:
            fetched = fetch_certs(self._request, self.url)
        except CertsUnavailable:
            if self._certs is None or now > self._fresh_until + CERTS_MAX_STALE:
                self._certs = None  # too old to trust without Google's word
                raise
            self._next_attempt = now + self._retry_after_failure  # keep the known keys meanwhile
            return self._certs
        self._certs = fetched.certs
        self._fresh_until = now + fetched.ttl
        self._next_attempt = now + min(self._min_refresh, fetched.ttl)
        return self._certs


def normalize_url(url: str | None) -> str:
    """The certs URL as configured, with or without a trailing slash; Google's when unset."""
    return (url or "").strip().rstrip("/") or GOOGLE_CERTS_URL

