"""Verification of Apple's signed data: App Store Server Notifications V2 (`signedPayload`), the signed
transaction and renewal info inside them or in App Store Server API answers, and StoreKit 2 signed
transactions sent by apps.

Every item is a compact JWS, verified as Apple's `app-store-server-library` (SignedDataVerifier) does:

1. `alg` is ES256 and nothing else; `x5c` holds exactly leaf, intermediate and root (base64 DER).
2. The root is one of the trusted roots (`APPLE_ROOT_CERTS`, else the bundled Apple Root CA G3, itself
   refused unless its SHA-256 fingerprint is Apple's); the intermediate is issued by it, the leaf by the
   intermediate; both are CA/end-entity as they should be; the intermediate carries Apple's OID
   1.2.840.113635.100.6.2.1 and the leaf 1.2.840.113635.100.6.11.1.
3. The signature is checked with the leaf's P-256 key.
4. The validity periods of all three certificates must include the payload's `signedDate` (else
   `receiptCreationDate`, else now). Apple's library makes the same choice when online checks are off:
   a StoreKit 2 transaction signed months ago, or a notification Apple retries for days, stays
   verifiable after the leaf that signed it expired. The date is read only once the signature is good.
5. Bundle id, app Apple id (Production data) and environment are compared with the configuration: one
   of the configured apps; a Production stack accepts Production and Sandbox data, a Sandbox stack
   Sandbox data only (`parity.webhooks.apple_apps`).

There is no mode that skips a check: Apple's Xcode and LocalTesting environments (which its library
trusts unsigned) are refused as configuration. Revocation (OCSP) is not checked, as in Apple's library
with online checks off. Validating a chain (step 2) is cached by the certificates' fingerprints, so a
known chain costs two hash lookups; the signature and the dates are checked every time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtensionOID

from ..domain import limits
from ..domain.apple.verified import VerifiedNotification
from ..settings import ConfigurationError
from .apple_apps import ENVIRONMENTS, AppleApps, RejectedSignedData
from .apple_roots import APPLE_ROOT_CA_G3_SHA256, BUNDLED_ROOT, check_root_fingerprint, fingerprint, root_files

__all__ = [
    "APPLE_ROOT_CA_G3_SHA256",
    "BUNDLED_ROOT",
    "ENVIRONMENTS",
    "RejectedSignedData",
    "SignedDataVerifier",
    "check_root_fingerprint",
    "fingerprint",
    "load_trust_anchors",
]

INTERMEDIATE_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.2.1")  # Apple WWDR intermediate marker
LEAF_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.11.1")  # App Store receipt-signing marker
CHAIN_CACHE_SIZE = 32  # Apple signs with a handful of leaves at a time

_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_STRONG_HASHES = (hashes.SHA256, hashes.SHA384, hashes.SHA512)
# Critical extensions this verifier understands; any other critical one makes a certificate unusable
# (RFC 5280 4.2), as OpenSSL's verification in Apple's library would say.
_HANDLED_CRITICAL = {
    ExtensionOID.BASIC_CONSTRAINTS,
    ExtensionOID.KEY_USAGE,
    ExtensionOID.EXTENDED_KEY_USAGE,
    INTERMEDIATE_OID,
    LEAF_OID,
}


# --------------------------------------------------------------------------- trust anchors


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """The certificates in a file's bytes: one DER certificate, or one or more PEM certificates."""
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


def load_trust_anchors(paths: Sequence[str] = ()) -> tuple[x509.Certificate, ...]:
    """The trusted roots: the files named in `APPLE_ROOT_CERTS`, else the bundled Apple Root CA G3.

    Fails closed with a ConfigurationError when neither is usable.
    """
    anchors: list[x509.Certificate] = []
    for path, data in zip(paths or (BUNDLED_ROOT,), root_files(paths, BUNDLED_ROOT), strict=True):
        try:
            anchors.extend(load_certificates(data))
        except ValueError as error:
            raise ConfigurationError(f"APPLE_ROOT_CERTS: {str(path)!r} is not a readable certificate: {error}") from None
    return tuple(anchors)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class _ValidChain:
    leaf_key: ec.EllipticCurvePublicKey
    not_before: float  # the three certificates are all valid between these (epoch seconds)
    not_after: float


# --------------------------------------------------------------------------- the verifier


class SignedDataVerifier:
    """Verifies and decodes Apple JWS for the configured apps (bundle ids, app Apple ids, one or several)
    from the environments the stack accepts (`apple_apps.AppleApps`)."""

    def __init__(
        self,
        trust_anchors: Iterable[x509.Certificate],
        bundle_id: str | Sequence[str],
        environment: str,
        app_apple_id: int | None | Sequence[int | None] = None,
        cache_size: int = CHAIN_CACHE_SIZE,
    ) -> None:
        self.apps = AppleApps(bundle_id, environment, app_apple_id)
        # The SHA-256 of the DER encoding, as the x5c cache keys are (no serialization module needed).
        self._anchors = {cert.fingerprint(hashes.SHA256()): cert for cert in trust_anchors}
        if not self._anchors:
            raise ConfigurationError("No trusted Apple root certificate is configured")
        self.bundle_id = self.apps.bundle_ids[0]  # the first app's
        self.environment = environment
        self._cache: OrderedDict[bytes, _ValidChain] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.chain_validations = 0  # full chain validations done (cache misses); for tests and the bench

    @classmethod
    def from_settings(cls, settings: Any) -> SignedDataVerifier:
        """Built from `parity.settings.Settings` (APPLE_* names); raises ConfigurationError when unusable."""
        return cls(
            load_trust_anchors(settings.apple.root_certs),
            bundle_id=settings.apple.bundle_ids,
            environment=settings.apple.environment,
            app_apple_id=settings.apple.app_apple_ids,
        )

    # ----------------------------------------------------------------------- public surface

    def verify_and_decode_notification_body(self, body: bytes) -> VerifiedNotification:
        """A webhook request body, `{"signedPayload": "<JWS>"}`, verified and decoded."""
        try:
            document = limits.loads(body)
        except limits.MalformedJson as error:
            raise RejectedSignedData("malformed_body", str(error)) from None
        if not isinstance(document, dict) or not isinstance(document.get("signedPayload"), str):
            raise RejectedSignedData("malformed_body", 'The body is not {"signedPayload": "<JWS>"}.')
        return self.verify_and_decode_notification(document["signedPayload"])

    def verify_and_decode_notification(self, signed_payload: str) -> VerifiedNotification:
        """An App Store Server Notification V2 `signedPayload`, with its signed items, verified and decoded."""
        payload = self._verify_jws(signed_payload)
        data = payload.get("data")
        summary = payload.get("summary")
        token = payload.get("externalPurchaseToken")
        app_data = payload.get("appData")
        # Where the app and environment are named depends on the notification type (as in Apple's library).
        if isinstance(data, dict):
            source, environment = data, data.get("environment")
        elif isinstance(summary, dict):
            source, environment = summary, summary.get("environment")
        elif isinstance(token, dict):
            source = token
            environment = (
                "Sandbox" if str(token.get("externalPurchaseId") or "").startswith("SANDBOX") else "Production"
            )
        elif isinstance(app_data, dict):
            source, environment = app_data, app_data.get("environment")
        else:
            source, environment = {}, None
        self.apps.check_app(source.get("bundleId"), source.get("appAppleId"), environment)

        nested = data if isinstance(data, dict) else {}
        nested_app = app_data if isinstance(app_data, dict) else {}
        notification = VerifiedNotification(
            payload=payload,
            transaction=self._optional(nested, "signedTransactionInfo", self.verify_and_decode_signed_transaction),
            renewal=self._optional(nested, "signedRenewalInfo", self.verify_and_decode_renewal_info),
            app_transaction=self._optional(
                nested_app, "signedAppTransactionInfo", self.verify_and_decode_app_transaction
            ),
        )
        self.apps.check_same_environment(environment, notification.transaction, notification.renewal)
        return notification

    def verify_and_decode_signed_transaction(self, signed_transaction: str) -> Mapping[str, Any]:
        """A JWS transaction (notification, API answer, or StoreKit 2 `jwsRepresentation`), decoded."""
        transaction = self._verify_jws(signed_transaction)
        self.apps.check_bundle(transaction.get("bundleId"))
        self.apps.check_environment(transaction.get("environment"))
        return transaction

    def verify_and_decode_renewal_info(self, signed_renewal_info: str) -> Mapping[str, Any]:
        """A JWS renewal info, decoded. It names no bundle id: only its environment can be compared."""
        renewal_info = self._verify_jws(signed_renewal_info)
        self.apps.check_environment(renewal_info.get("environment"))
        return renewal_info

    def verify_and_decode_app_transaction(self, signed_app_transaction: str) -> Mapping[str, Any]:
        """A JWS app transaction (its environment is `receiptType`), decoded."""
        app_transaction = self._verify_jws(signed_app_transaction)
        self.apps.check_app(
            app_transaction.get("bundleId"), app_transaction.get("appAppleId"), app_transaction.get("receiptType")
        )
        return app_transaction

    # ----------------------------------------------------------------------- checks

    def _optional(self, container: Mapping, key: str, verify) -> Mapping[str, Any] | None:
        value = container.get(key)
        if value is None:
            return None
        return verify(value)

    def _verify_jws(self, token: Any) -> dict[str, Any]:
        if not isinstance(token, str):
            raise RejectedSignedData("malformed_jws", "The signed data is not a compact JWS.")
        parts = token.split(".")
        if len(parts) != 3:
            raise RejectedSignedData("malformed_jws", "The signed data is not a compact JWS.")
        header = _json_segment(parts[0])
        if header.get("alg") != "ES256":
            raise RejectedSignedData("unsupported_algorithm", "Only ES256 signed data is accepted.")
        if "crit" in header:
            raise RejectedSignedData(
                "malformed_jws", "The JWS header has critical parameters this verifier does not know."
            )
        x5c = header.get("x5c")
        if not x5c:
            raise RejectedSignedData("missing_certificate_chain", "The JWS header has no x5c certificate chain.")
        if not isinstance(x5c, list) or len(x5c) != 3 or not all(isinstance(item, str) for item in x5c):
            raise RejectedSignedData(
                "invalid_certificate_chain", "The x5c chain must hold leaf, intermediate and root."
            )
        try:
            ders = [base64.b64decode(item, validate=True) for item in x5c]
        except (binascii.Error, ValueError):
            raise RejectedSignedData("invalid_certificate_chain", "The x5c chain is not base64 DER.") from None

        chain = self._valid_chain(ders)

        signature = _b64url(parts[2])
        if len(signature) != 64:
            raise RejectedSignedData("invalid_signature", "The ES256 signature does not have the right length.")
        der_signature = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            chain.leaf_key.verify(der_signature, f"{parts[0]}.{parts[1]}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise RejectedSignedData("invalid_signature", "The signature does not match the signed data.") from None

        payload = _json_segment(parts[1])
        at = _effective_time(payload)
        if not chain.not_before <= at <= chain.not_after:
            raise RejectedSignedData(
                "certificate_not_valid", "A certificate of the chain was not valid when the data was signed."
            )
        return payload

    # ----------------------------------------------------------------------- the chain, cached

    def _valid_chain(self, ders: list[bytes]) -> _ValidChain:
        key = b"".join(hashlib.sha256(der).digest() for der in ders)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        chain = self._validate_chain(ders)  # raises; only good chains are cached
        with self._lock:
            self.chain_validations += 1
            self._cache[key] = chain
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return chain

    def _validate_chain(self, ders: list[bytes]) -> _ValidChain:
        try:
            leaf, intermediate, root = (x509.load_der_x509_certificate(der) for der in ders)
        except ValueError:
            raise RejectedSignedData("invalid_certificate_chain", "An x5c certificate cannot be parsed.") from None
        anchor = self._anchors.get(hashlib.sha256(ders[2]).digest())
        if anchor is None:
            raise RejectedSignedData("untrusted_root", "The certificate chain does not end at a trusted root.")
        for issuer, subject in ((anchor, intermediate), (intermediate, leaf)):
            if not isinstance(subject.signature_hash_algorithm, _STRONG_HASHES):
                raise RejectedSignedData(
                    "invalid_certificate_chain", "A certificate is signed with a weak or unknown hash."
                )
            try:
                subject.verify_directly_issued_by(issuer)
            except (ValueError, TypeError, InvalidSignature):
                raise RejectedSignedData(
                    "invalid_certificate_chain", "The certificate chain is not signed link by link."
                ) from None
        for cert, is_ca in ((anchor, True), (intermediate, True), (leaf, False)):
            _check_role(cert, is_ca)
        _check_path_length(anchor)
        if not _has_extension(intermediate, INTERMEDIATE_OID):
            raise RejectedSignedData(
                "missing_apple_extension", "The intermediate certificate is not Apple's WWDR intermediate."
            )
        if not _has_extension(leaf, LEAF_OID):
            raise RejectedSignedData(
                "missing_apple_extension", "The leaf certificate is not an App Store signing certificate."
            )
        leaf_key = leaf.public_key()
        if not isinstance(leaf_key, ec.EllipticCurvePublicKey) or not isinstance(leaf_key.curve, ec.SECP256R1):
            raise RejectedSignedData(
                "invalid_certificate_chain", "The leaf certificate's key is not a P-256 key (ES256)."
            )
        certs = (leaf, intermediate, anchor)
        return _ValidChain(
            leaf_key=leaf_key,
            not_before=max(cert.not_valid_before_utc.timestamp() for cert in certs),
            not_after=min(cert.not_valid_after_utc.timestamp() for cert in certs),
        )


# --------------------------------------------------------------------------- helpers


def _b64url(segment: str) -> bytes:
    if not _B64URL.fullmatch(segment):
        raise RejectedSignedData("malformed_jws", "The signed data is not a compact JWS (base64url segments).")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise RejectedSignedData("malformed_jws", "The signed data is not base64url.") from None


def _json_segment(segment: str) -> dict[str, Any]:
    try:
        value = limits.loads(_b64url(segment))
    except limits.MalformedJson as error:
        raise RejectedSignedData("malformed_jws", f"A JWS segment is not usable JSON: {error}") from None
    if not isinstance(value, dict):
        raise RejectedSignedData("malformed_jws", "A JWS segment is not a JSON object.")
    return value


def _effective_time(payload: Mapping[str, Any]) -> float:
    """The moment the certificates must have been valid at: when Apple signed the data (ms → s)."""
    for name in ("signedDate", "receiptCreationDate"):
        value = payload.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RejectedSignedData("malformed_jws", f"{name} is not a number of milliseconds.")
        return value / 1000
    return time.time()


def _has_extension(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> bool:
    try:
        cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return False
    return True


def _check_role(cert: x509.Certificate, is_ca: bool) -> None:
    """A CA must say so and may sign certificates; the leaf must not be a CA and may sign data."""
    extensions = cert.extensions
    for extension in extensions:
        if extension.critical and extension.oid not in _HANDLED_CRITICAL:
            raise RejectedSignedData(
                "invalid_certificate_chain", "A certificate has a critical extension this verifier does not know."
            )
    try:
        constraints = extensions.get_extension_for_class(x509.BasicConstraints).value
        ca = constraints.ca
    except x509.ExtensionNotFound:
        ca = False
    if ca != is_ca:
        raise RejectedSignedData(
            "invalid_certificate_chain", "A certificate's CA flag does not fit its place in the chain."
        )
    try:
        usage = extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if (is_ca and not usage.key_cert_sign) or (not is_ca and not usage.digital_signature):
        raise RejectedSignedData(
            "invalid_certificate_chain", "A certificate's key usage does not fit its place in the chain."
        )


def _check_path_length(anchor: x509.Certificate) -> None:
    # One CA (the intermediate) sits below the root, so a root path length of 0 forbids this chain.
    constraints = anchor.extensions.get_extension_for_class(x509.BasicConstraints).value
    if constraints.path_length is not None and constraints.path_length < 1:
        raise RejectedSignedData("invalid_certificate_chain", "The root does not allow an intermediate CA below it.")
