"""Where the entitlement signing key lives: a PEM file (the local stack, ENTITLEMENT_SIGNING_KEY_FILE) or a
Secrets Manager secret of its own (AWS).

The secret's value is the PEM text. A rotation is one `put-secret-value` with a new key: Secrets Manager
moves the old value to the `AWSPREVIOUS` stage, which the JWKS keeps publishing, so answers signed with
the previous key (by a container that read it before the rotation, or cached by an app) still verify.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..domain.errors import ConfigurationError
from ..signing import EntitlementSigner, jwks_of

if TYPE_CHECKING:
    from ..settings import SigningSettings

JWKS_REFRESH_SECONDS = 300  # how long a container serves the JWKS it read (a rotation shows within this)


class SecretKeys:
    """The signing key's secret: the current version signs; the JWKS holds the current and previous."""

    def __init__(self, secret_id: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("secretsmanager")
        self._secret_id = secret_id
        self._client = client

    def _version(self, stage: str) -> str | None:
        try:
            answer = self._client.get_secret_value(SecretId=self._secret_id, VersionStage=stage)
        except self._client.exceptions.ResourceNotFoundException:
            if stage == "AWSCURRENT":
                raise
            return None  # no previous version yet
        return answer.get("SecretString")

    def current(self) -> EntitlementSigner:
        what = f"the entitlement signing key secret ({self._secret_id})"
        return EntitlementSigner.from_pem(self._version("AWSCURRENT"), what=what)

    def published(self) -> dict:
        signers = [self.current()]
        previous = self._version("AWSPREVIOUS")
        if previous:
            try:
                signers.append(EntitlementSigner.from_pem(previous, what="the previous signing key"))
            except ConfigurationError:  # the placeholder the template created the secret with
                pass
        return jwks_of(signers)


def file_signer(path: str) -> EntitlementSigner:
    try:
        pem = Path(path).read_bytes()
    except OSError as error:
        raise ConfigurationError(f"ENTITLEMENT_SIGNING_KEY_FILE {path!r} cannot be read: {error}") from None
    return EntitlementSigner.from_pem(pem)


def signer(settings: SigningSettings, client: Any = None) -> EntitlementSigner:
    """The signer a container keeps: read once (the file, else the secret's current version)."""
    if settings.key_file:
        return file_signer(settings.key_file)
    if settings.secret_id:
        return SecretKeys(settings.secret_id, client).current()
    raise _not_configured()


def check_configured(settings: SigningSettings) -> None:
    """A key file or a secret is named (what `signer` reads, without reading it)."""
    if not (settings.key_file or settings.secret_id):
        raise _not_configured()


def _not_configured() -> ConfigurationError:
    return ConfigurationError(
        "ENTITLEMENT_SIGNING_KEY_FILE is not set (on AWS the template sets ENTITLEMENT_SIGNING_KEY_SECRET)"
    )


class PublishedKeys:
    """The JWKS, read again after `JWKS_REFRESH_SECONDS` so that a rotation is published without a deploy."""

    def __init__(self, read: Callable[[], dict], clock: Callable[[], float] = time.monotonic) -> None:
        self._read = read
        self._clock = clock
        self._jwks: dict | None = None
        self._read_at = 0.0

    def jwks(self) -> dict:
        now = self._clock()
        if self._jwks is None or now - self._read_at >= JWKS_REFRESH_SECONDS:
            self._jwks, self._read_at = self._read(), now
        return self._jwks


def published_keys(settings: SigningSettings, client: Any = None) -> PublishedKeys:
    if settings.key_file:
        path = settings.key_file
        return PublishedKeys(lambda: file_signer(path).jwks())
    if settings.secret_id:
        return PublishedKeys(SecretKeys(settings.secret_id, client).published)
    raise _not_configured()
