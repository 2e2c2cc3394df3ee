"""App Store test fixtures: a certificate chain shaped like Apple's, generated at test time, and signed
notifications, transactions and renewal info built like Apple's (nothing pasted in).

The chain mirrors Apple's: a P-384 root (like Apple Root CA - G3), a P-384 intermediate with Apple's WWDR
marker OID, a P-256 leaf with the receipt-signing marker OID, ECDSA-SHA384 certificate signatures.
Valid JWS are signed with PyJWT (an implementation independent of the verifier under test); the
forged variants are built by hand because PyJWT rightly refuses to produce them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

BUNDLE_ID = "com.example.parity"
APP_APPLE_ID = 1234567890
INTERMEDIATE_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.2.1")
LEAF_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.11.1")
DAY_MS = 86_400_000
_ids = itertools.count(2_000_000_000_000_001)


def now_ms() -> int:
    return int(time.time() * 1000)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Parity Test Certification Authority"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Parity Tests"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        ]
    )


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    ca: bool,
    marker: x509.ObjectIdentifier | None,
    not_before: datetime,
    not_after: datetime,
    path_length: int | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer_key is not key:  # like Apple's (and as OpenSSL's strict mode requires), below the root
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    if marker is not None:
        # Apple's marker extensions carry an ASN.1 NULL (05 00) and are not critical.
        builder = builder.add_extension(x509.UnrecognizedExtension(marker, b"\x05\x00"), critical=False)
    return builder.sign(issuer_key, hashes.SHA384())


@dataclass(frozen=True)
class Chain:
    """Leaf, intermediate and root certificates with their keys; `x5c()` is the JWS header value."""

    root: x509.Certificate
    root_key: ec.EllipticCurvePrivateKey
    intermediate: x509.Certificate
    intermediate_key: ec.EllipticCurvePrivateKey
    leaf: x509.Certificate
    leaf_key: ec.EllipticCurvePrivateKey

    def x5c(self) -> list[str]:
        return [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in self.certificates()]

    def certificates(self) -> tuple[x509.Certificate, x509.Certificate, x509.Certificate]:
        return (self.leaf, self.intermediate, self.root)

    def root_der(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.DER)

    def root_pem(self) -> bytes:
        return self.root.public_bytes(serialization.Encoding.PEM)

    def write_root(self, directory: Path, pem: bool = True) -> Path:
        """The root as a file for APPLE_ROOT_CERTS (PEM or DER)."""
        path = Path(directory) / f"root-{self.root.serial_number:x}.{'pem' if pem else 'cer'}"
        path.write_bytes(self.root_pem() if pem else self.root_der())
        return path


def make_chain(
    *,
    root: Chain | None = None,
    intermediate: Chain | None = None,
    leaf_oid: bool = True,
    intermediate_oid: bool = True,
    leaf_not_before: datetime | None = None,
    leaf_not_after: datetime | None = None,
    leaf_is_ca: bool = False,
    leaf_curve: ec.EllipticCurve | None = None,
    impostor_intermediate: bool = False,
) -> Chain:
    """A fresh chain. Reuse `root` (and `intermediate`) of another chain to issue a new leaf under them.

    `impostor_intermediate`: an intermediate with the same name as `root`'s chain's intermediate and
    Apple's OID, but signed by a key of its own (what an attacker can make) while x5c names the real root.
    """
    now = datetime.now(timezone.utc)
    long_ago, far_ahead = now - timedelta(days=3650), now + timedelta(days=3650)
    if root is None:
        root_key = ec.generate_private_key(ec.SECP384R1())
        root_cert = _certificate(
            "Parity Test Root CA - G3", root_key, "Parity Test Root CA - G3", root_key, True, None, long_ago, far_ahead
        )
    else:
        root_key, root_cert = root.root_key, root.root
    root_name = root_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    if intermediate is not None:
        intermediate_key, intermediate_cert = intermediate.intermediate_key, intermediate.intermediate
    else:
        intermediate_key = ec.generate_private_key(ec.SECP384R1())
        signer = ec.generate_private_key(ec.SECP384R1()) if impostor_intermediate else root_key
        intermediate_cert = _certificate(
            "Parity Test WWDR CA - G6",
            intermediate_key,
            issuer=root_name,
            issuer_key=signer,
            ca=True,
            marker=INTERMEDIATE_OID if intermediate_oid else None,
            not_before=long_ago,
            not_after=far_ahead,
            path_length=0,
        )
    leaf_key = ec.generate_private_key(leaf_curve or ec.SECP256R1())
    leaf_cert = _certificate(
        "Parity Test App Store Receipt Signing",
        leaf_key,
        issuer="Parity Test WWDR CA - G6",
        issuer_key=intermediate_key,
        ca=leaf_is_ca,
        marker=LEAF_OID if leaf_oid else None,
        not_before=leaf_not_before or now - timedelta(days=365),
        not_after=leaf_not_after or now + timedelta(days=365),
    )
    return Chain(root_cert, root_key, intermediate_cert, intermediate_key, leaf_cert, leaf_key)


@lru_cache(maxsize=1)
def default_chain() -> Chain:
    """One chain for the whole test session (key generation costs milliseconds)."""
    return make_chain()


# --------------------------------------------------------------------------- JWS


def sign(payload: dict, chain: Chain | None = None, x5c: list[str] | None = None, **header: Any) -> str:
    """An ES256 JWS of `payload` signed with the chain's leaf, x5c = the chain (or `x5c` given)."""
    chain = chain or default_chain()
    headers = {"x5c": chain.x5c() if x5c is None else x5c, **header}
    return jwt.encode(payload, chain.leaf_key, algorithm="ES256", headers=headers)


def sign_without_x5c(payload: dict, chain: Chain | None = None) -> str:
    return jwt.encode(payload, (chain or default_chain()).leaf_key, algorithm="ES256")


def forge_alg_none(payload: dict, chain: Chain | None = None) -> str:
    """`alg: none` with the real chain in x5c and an empty signature."""
    header = {"alg": "none", "x5c": (chain or default_chain()).x5c()}
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}."


def forge_hs256(payload: dict, chain: Chain | None = None) -> str:
    """The classic confusion attack: HS256 with the leaf's public key (PEM) as the HMAC secret."""
    chain = chain or default_chain()
    header = {"alg": "HS256", "x5c": chain.x5c()}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    secret = chain.leaf.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"{signing_input}.{b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def tamper_payload(token: str, **changes: Any) -> str:
    """The same header and signature over a payload with `changes` applied."""
    header, payload, signature = token.split(".")
    document = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    document.update(changes)
    return f"{header}.{b64url(json.dumps(document).encode())}.{signature}"


def with_header(token: str, **changes: Any) -> str:
    """The same payload and signature under a header with `changes` applied."""
    header, payload, signature = token.split(".")
    document = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    document.update(changes)
    return f"{b64url(json.dumps(document).encode())}.{payload}.{signature}"


def tamper_signature(token: str) -> str:
    """The same header and payload with one bit of the signature flipped."""
    header, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[10] ^= 0x01
    return f"{header}.{payload}.{b64url(bytes(raw))}"


def decode_unverified(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


# --------------------------------------------------------------------------- Apple's payloads


@dataclass(frozen=True)
class AppleSigner:
    """Builds and signs payloads shaped like Apple's for one app, environment and chain."""

    chain: Chain = field(default_factory=default_chain)
    bundle_id: str = BUNDLE_ID
    app_apple_id: int | None = APP_APPLE_ID
    environment: str = "Production"

    def with_(self, **changes: Any) -> AppleSigner:
        return replace(self, **changes)

    def sign(self, payload: dict) -> str:
        return sign(payload, self.chain)

    def transaction(self, **overrides: Any) -> dict:
        """A JWSTransactionDecodedPayload of an auto-renewable subscription, one month from now."""
        t, transaction_id = now_ms(), str(next(_ids))
        return {
            "transactionId": transaction_id,
            "originalTransactionId": transaction_id,
            "webOrderLineItemId": str(next(_ids)),
            "bundleId": self.bundle_id,
            "productId": "com.example.pro.monthly",
            "subscriptionGroupIdentifier": "21000000",
            "purchaseDate": t - 60_000,
            "originalPurchaseDate": t - 60_000,
            "expiresDate": t + 30 * DAY_MS,
            "quantity": 1,
            "type": "Auto-Renewable Subscription",
            "appAccountToken": "6f1c0c3e-3b7e-4e5b-9a57-7f8a2f0c1d11",
            "inAppOwnershipType": "PURCHASED",
            "signedDate": t,
            "environment": self.environment,
            "transactionReason": "PURCHASE",
            "storefront": "USA",
            "storefrontId": "143441",
            "price": 9990,
            "currency": "USD",
            "appTransactionId": "704000000000000001",
            **overrides,
        }

    def renewal_info(self, **overrides: Any) -> dict:
        """A JWSRenewalInfoDecodedPayload: auto-renew on, renewing in a month."""
        t = now_ms()
        return {
            "originalTransactionId": "2000000000000001",
            "autoRenewProductId": "com.example.pro.monthly",
            "productId": "com.example.pro.monthly",
            "autoRenewStatus": 1,
            "isInBillingRetryPeriod": False,
            "signedDate": t,
            "environment": self.environment,
            "recentSubscriptionStartDate": t - 60_000,
            "renewalDate": t + 30 * DAY_MS,
            "appAccountToken": "6f1c0c3e-3b7e-4e5b-9a57-7f8a2f0c1d11",
            **overrides,
        }

    def signed_transaction(self, **overrides: Any) -> str:
        return self.sign(self.transaction(**overrides))

    def signed_renewal_info(self, **overrides: Any) -> str:
        return self.sign(self.renewal_info(**overrides))

    def notification(
        self,
        notification_type: str = "SUBSCRIBED",
        subtype: str | None = "INITIAL_BUY",
        *,
        transaction: dict | str | None = None,
        renewal_info: dict | str | None = None,
        data: dict | None = None,
        **fields: Any,
    ) -> dict:
        """A ResponseBodyV2DecodedPayload; dict items are signed with this signer, strings used as given."""
        inner = {
            "appAppleId": self.app_apple_id,
            "bundleId": self.bundle_id,
            "bundleVersion": "1",
            "environment": self.environment,
            "status": 1,
        }
        if transaction is not None:
            inner["signedTransactionInfo"] = self.sign(transaction) if isinstance(transaction, dict) else transaction
        if renewal_info is not None:
            inner["signedRenewalInfo"] = self.sign(renewal_info) if isinstance(renewal_info, dict) else renewal_info
        body = {
            "notificationType": notification_type,
            "notificationUUID": str(uuid.uuid4()),
            "data": {**inner, **(data or {})},
            "version": "2.0",
            "signedDate": now_ms(),
            **fields,
        }
        if subtype is not None:
            body["subtype"] = subtype
        return body

    def signed_notification(self, *args: Any, **kwargs: Any) -> str:
        return self.sign(self.notification(*args, **kwargs))

    def notification_body(self, *args: Any, **kwargs: Any) -> bytes:
        """The webhook request body Apple POSTs: `{"signedPayload": "<JWS>"}`."""
        return json.dumps({"signedPayload": self.signed_notification(*args, **kwargs)}).encode()
