"""Failure records: why processing an event failed, on its event log item, redacted (read back by the
operator console: `parity dlq show`)."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from .schema import event_key, iso
from .table import OnTable

# What looks like a secret or a payload, never stored in a failure record.
_SECRETS = (
    r"eyJ[\w-]+\.[\w-]*(?:\.[\w-]*)?",  # a JWT / JWS
    r"\b(?:sk|rk|pk|whsec)_[A-Za-z0-9_]+",  # Stripe keys and webhook secrets
    r"(?i)\b(?:bearer|basic)\s+\S+",  # credentials in a header
    r"\bv1=[0-9a-f]+",  # a Stripe-Signature value
    r"[A-Za-z0-9+/=_.-]{40,}",  # any other long opaque token (purchase tokens, base64)
)


class DynamoFailureRecords(OnTable):
    """Failure records on the event log's items (`lastError`, `lastErrorAt`, `failures`)."""

    FAILURE_TEXT_LIMIT = 300

    def record_failure(
        self, source: str, event_id: str, error: BaseException | str, now: datetime | None = None
    ) -> bool:
        """Why processing the event failed, on its log item: `lastError` (the error's type and message,
        redacted and truncated), `lastErrorAt`, and `failures` counted. Only onto an event the log holds
        (nothing is created); False when it holds none."""
        return self._table.update_if(
            self._table.update(
                event_key(source, event_id),
                "SET lastError = :error, lastErrorAt = :at ADD failures :one",
                {":error": self.failure_text(error), ":at": iso(now or datetime.now(timezone.utc)), ":one": 1},
                ConditionExpression="attribute_exists(PK)",
            )
        )

    @classmethod
    def failure_text(cls, error: BaseException | str) -> str:
        """`Type: message`, first line only, with anything that looks like a secret or a payload
        (JWTs and other long opaque tokens, API keys, bearer credentials, signatures) replaced."""
        if isinstance(error, BaseException):
            message = str(error).strip().splitlines()[0] if str(error).strip() else ""
            text = f"{type(error).__name__}: {message}" if message else type(error).__name__
        else:
            text = (str(error).strip().splitlines() or [""])[0]
        for pattern in _SECRETS:
            text = re.sub(pattern, "[redacted]", text)
        limit = cls.FAILURE_TEXT_LIMIT
        return text if len(text) <= limit else text[: limit - 1] + "…"
