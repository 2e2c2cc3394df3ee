"""The trusted Apple roots as files, checked without parsing a certificate (no `cryptography.x509`):
a function that verifies App Store data only on some requests (receipts) checks its configuration at
cold start with this, and parses the roots at the first App Store item (`apple.load_trust_anchors`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..domain.errors import ConfigurationError

# Apple Root CA - G3, as published at https://www.apple.com/certificateauthority/
APPLE_ROOT_CA_G3_SHA256 = (
    "63:34:3A:BF:B8:9A:6A:03:EB:B5:7E:9B:3F:5F:A7:BE:7C:4F:5C:75:6F:30:17:B3:A8:C4:88:C3:65:3E:91:79"
)
BUNDLED_ROOT = Path(__file__).resolve().parents[1] / "certs" / "AppleRootCA-G3.cer"
_PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"
_DER_SEQUENCE = 0x30  # a DER certificate is an ASN.1 SEQUENCE


def fingerprint(der: bytes) -> str:
    """SHA-256 fingerprint of a DER certificate, as `AB:CD:...` (the form Apple publishes)."""
    return ":".join(f"{byte:02X}" for byte in hashlib.sha256(der).digest())


def check_root_fingerprint(der: bytes, expected: str = APPLE_ROOT_CA_G3_SHA256) -> None:
    """Refuse a root certificate (DER) whose SHA-256 fingerprint is not `expected`."""
    if fingerprint(der) != expected.upper():
        raise ConfigurationError(
            f"the root certificate's SHA-256 fingerprint {fingerprint(der)} is not Apple Root CA G3's ({expected})"
        )


def root_files(paths: Sequence[str] = (), bundled: Path = BUNDLED_ROOT) -> list[bytes]:
    """The bytes of the files named in `APPLE_ROOT_CERTS` (each PEM certificates or one DER certificate
    by its look), else of the bundled root, refused unless it is Apple Root CA G3. A ConfigurationError
    names what is unusable; a file that only looks like a certificate fails when it is parsed."""
    if not paths:
        try:
            der = bundled.read_bytes()
        except OSError:
            raise ConfigurationError(
                "No trusted Apple root: APPLE_ROOT_CERTS is unset and the bundled Apple Root CA G3 "
                f"({bundled}) is missing. Restore it from the repository (layers/common/parity/certs) or set APPLE_ROOT_CERTS."
            ) from None
        check_root_fingerprint(der)
        return [der]
    found = []
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise ConfigurationError(f"APPLE_ROOT_CERTS: {path!r} is not a readable certificate: {error}") from None
        if _PEM_CERTIFICATE not in data and data[:1] != bytes([_DER_SEQUENCE]):
            raise ConfigurationError(f"APPLE_ROOT_CERTS: {path!r} is not a readable certificate: neither PEM nor DER")
        found.append(data)
    return found


def check_settings(settings: Any) -> None:
    """What `SignedDataVerifier.from_settings` refuses (ConfigurationError), short of parsing the roots."""
    from .apple_apps import AppleApps

    AppleApps(settings.apple.bundle_ids, settings.apple.environment, settings.apple.app_apple_ids)
    root_files(settings.apple.root_certs)
