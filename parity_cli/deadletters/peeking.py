"""Looking at dead letters without consuming them, with the failure the event log recorded for each."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from parity_cli.deadletters.queues import DeadLetterQueue, receive_page, release
from parity_cli.progress import Progress

HOLD_SECONDS = 30  # how long `peek` keeps a page out of sight at most (released at once when done)


def _iso_from_millis(value: str | None) -> str | None:
    if not value:
        return None
    moment = datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class DeadLetter:
    message_id: str
    source: str | None
    event_id: str | None
    group: str | None
    receive_count: int
    sent_at: str | None
    first_received_at: str | None
    event_type: str | None = None
    in_event_log: bool | None = None  # None: not looked up (no table known, or no event in the body)
    last_error: str | None = None
    last_error_at: str | None = None
    failures: int | None = None
    processed_at: str | None = None
    outcome: str | None = None
    subject: dict[str, Any] = field(default_factory=dict)  # a body that names no event: its short ids
    problem: str | None = None  # why the body could not be read as a message (not JSON, not an object, ...)

    def to_json(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "source": self.source,
            "eventId": self.event_id,
            "subject": self.subject,
            "eventType": self.event_type,
            "messageGroupId": self.group,
            "receiveCount": self.receive_count,
            "sentAt": self.sent_at,
            "firstReceivedAt": self.first_received_at,
            "inEventLog": self.in_event_log,
            "failure": None
            if self.last_error is None
            else {"error": self.last_error, "at": self.last_error_at, "failures": self.failures},
            "processedAt": self.processed_at,
            "outcome": self.outcome,
            "problem": self.problem,
        }


# Never shown from a body, whatever the queue: payloads and credentials.
_PRIVATE_KEYS = ("body", "payload", "token", "signature", "secret", "receipt", "key", "password")


def _subject(body: dict) -> dict[str, Any]:
    """The short scalar fields of a body that names no event (`{"kind", "purchaseId", "reportId"}`)."""
    return {
        name: value
        for name, value in body.items()
        if isinstance(value, (str, int, float))
        and not isinstance(value, bool)
        and len(str(value)) <= 80
        and not any(word in name.lower() for word in _PRIVATE_KEYS)
    }


def _parsed(text: str) -> tuple[dict, str | None]:
    """The message body as a JSON object, and why not when it is none."""
    if not text.strip():
        return {}, "the body is empty"
    try:
        body = json.loads(text)
    except ValueError as error:
        return {}, f"the body is not JSON ({error}): {text[:80]!r}"
    if not isinstance(body, dict):
        return {}, f"the body is JSON but not an object (a {type(body).__name__})"
    return body, None


def _dead_letter(message: dict) -> DeadLetter:
    attributes = message.get("Attributes") or {}
    body, problem = _parsed(message.get("Body") or "")
    source, event_id = body.get("source"), body.get("eventId")
    return DeadLetter(
        message_id=message["MessageId"],
        source=source if isinstance(source, str) else None,
        event_id=event_id if isinstance(event_id, str) else None,
        group=attributes.get("MessageGroupId"),
        receive_count=int(attributes.get("ApproximateReceiveCount", 0)),
        sent_at=_iso_from_millis(attributes.get("SentTimestamp")),
        first_received_at=_iso_from_millis(attributes.get("ApproximateFirstReceiveTimestamp")),
        subject={} if isinstance(source, str) and isinstance(event_id, str) else _subject(body),
        problem=problem,
    )


def peek(
    sqs,
    repository,
    dlq: DeadLetterQueue,
    max_messages: int,
    progress: Progress | None = None,
    hold_seconds: int = HOLD_SECONDS,
) -> list[DeadLetter]:
    """Up to `max_messages` dead letters with their recorded failure (read from `repository`'s event log
    when there is one), none consumed."""
    letters: dict[str, DeadLetter] = {}
    held: list[dict] = []
    try:
        while len(letters) < max_messages:
            page = receive_page(sqs, dlq.url, max_messages - len(letters), hold_seconds)
            held += page
            fresh = [_dead_letter(m) for m in page if m["MessageId"] not in letters]
            if not fresh:
                break
            if repository is not None:
                look_up_failures(repository, fresh)
            for letter in fresh[: max_messages - len(letters)]:
                letters[letter.message_id] = letter
            if progress is not None:
                progress.update(len(letters))
    finally:
        release(sqs, dlq.url, held)
    return list(letters.values())


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def look_up_failures(repository, letters: Sequence[DeadLetter]) -> None:
    """The event log's record of each letter's event (failure reason, processed or not): one BatchGetItem."""
    events = [(letter.source, letter.event_id) for letter in letters if letter.source and letter.event_id]
    records = repository.event_failures(events)
    for letter in letters:
        if not (letter.source and letter.event_id):
            continue
        record = records.get((letter.source, letter.event_id))
        letter.in_event_log = record is not None
        if record is None:
            continue
        letter.event_type = record.event_type
        letter.last_error = record.last_error
        letter.last_error_at = _time(record.last_error_at)
        letter.failures = record.failures
        letter.processed_at = _time(record.processed_at)
        letter.outcome = record.outcome
