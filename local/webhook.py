"""The app's backend webhook on this machine: what the template's API destination does on AWS.

With `WEBHOOK_URL` set, the template's `ChangeWebhookRule` (its event pattern and retry policy, read from
`template.yaml`) is created on the local change bus with a local queue as its target, in place of the API
destination. `WebhookDelivery` reads that queue and POSTs each event to `WEBHOOK_URL` as EventBridge's
event JSON (`version`, `id`, `detail-type`, `source`, `account`, `time`, `region`, `resources`, `detail`),
one event per request, with `Authorization: <WEBHOOK_AUTHORIZATION>`, as EventBridge would:

- a 2xx answer delivers the event;
- a connection error, a timeout (5 s, EventBridge's), or 401, 407, 409, 429 or a 5xx is retried with
  exponential backoff and jitter (1 s, 2 s, 4 s, ... up to a minute apart) until the rule's
  `MaximumRetryAttempts` or `MaximumEventAgeInSeconds` is reached;
- any other answer (another 4xx, a redirect) is not retried.

An event given up on goes to the dead-letter queue (`ChangeWebhookDeadLetters`, created from the template
like every queue) with EventBridge's `ERROR_CODE` and `ERROR_MESSAGE` attributes. A failing event never
holds back the others: each waits for its own next attempt. Pending retries end with the stack (its whole
state does).

`Outbox` is the delivery logic without threads, clocks or sockets (unit-tested); `HttpSender` makes one
POST; `WebhookDelivery` is the thread that feeds the outbox from the bus and runs it.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from local.resources import ACCOUNT, REGION, STACK_NAME

log = logging.getLogger("local.webhook")

RULE = "ChangeWebhookRule"
DEAD_LETTERS = "ChangeWebhookDeadLetters"
# The keys of an event EventBridge delivers, in its order (moto adds others, e.g. `ingestion-time`).
EVENT_KEYS = ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")
# EventBridge retries an API destination's 401, 407, 409, 429 and 5xx answers, and no other status.
RETRIED_STATUSES = frozenset({401, 407, 409, 429})
TIMEOUT_SECONDS = 5.0  # EventBridge's client execution timeout for API destinations
USER_AGENT = "Amazon/EventBridge/ApiDestinations"  # what EventBridge sends; backends may filter on it


@dataclass(frozen=True)
class RetryPolicy:
    """The rule target's RetryPolicy, and the backoff between attempts (exponential, with jitter)."""

    max_retries: int = 185  # MaximumRetryAttempts
    max_age: float = 86400.0  # MaximumEventAgeInSeconds
    first_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 60.0
    jitter: float = 0.2  # each delay is shortened by up to this fraction, at random

    def delay(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds before retry number `retry` (1 for the first retry)."""
        base = min(self.max_delay, self.first_delay * self.factor ** (retry - 1))
        return base * (1.0 - self.jitter * rand())

    @classmethod
    def of_target(cls, target: dict, parameters: dict) -> RetryPolicy:
        """The policy of a rule target from the template (a `!Ref` to a parameter: its default)."""
        policy = target.get("RetryPolicy") or {}

        def number(name: str, default: float) -> float:
            value = policy.get(name, default)
            if hasattr(value, "name") and value.name == "Ref":  # local.resources._Tag
                value = (parameters.get(value.value) or {}).get("Default", default)
            return float(value)

        return cls(
            max_retries=int(number("MaximumRetryAttempts", cls.max_retries)),
            max_age=number("MaximumEventAgeInSeconds", cls.max_age),
        )


def event_json(event: dict) -> dict:
    """The event as EventBridge delivers it: its keys only, in its order (moto's SQS copy lacks `account`)."""
    event = {"version": "0", "account": ACCOUNT, "region": REGION, "resources": [], **event}
    return {key: event[key] for key in EVENT_KEYS if key in event}


@dataclass(frozen=True)
class Attempt:
    """What one POST came to: a status (None: no answer) and, without one, why."""

    status: int | None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retried(self) -> bool:
        return self.status is None or self.status in RETRIED_STATUSES or self.status >= 500

    def describe(self) -> str:
        return f"HTTP {self.status}" if self.status is not None else (self.error or "no answer")


@dataclass(order=True)
class Pending:
    due: float
    seq: int
    event: dict = field(compare=False)
    body: bytes = field(compare=False)
    received: float = field(compare=False)
    attempts: int = field(default=0, compare=False)


class Outbox:
    """Events waiting for their next attempt, earliest first. No thread: `run_due` does the due work."""

    def __init__(
        self,
        send: Callable[[bytes], Attempt],
        policy: RetryPolicy,
        dead_letter: Callable[[dict, Attempt, int], None],
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._send, self.policy, self._dead_letter, self._rand = send, policy, dead_letter, rand
        self._heap: list[Pending] = []
        self._seq = itertools.count()
        self.delivered = 0
        self.dead_lettered = 0

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, event: dict, now: float) -> None:
        event = event_json(event)
        body = json.dumps(event, separators=(",", ":")).encode()
        heapq.heappush(self._heap, Pending(now, next(self._seq), event, body, now))

    def next_due(self) -> float | None:
        return self._heap[0].due if self._heap else None

    def run_due(self, now: float, halt: threading.Event | None = None) -> int:
        """One attempt for each event due at `now`; returns how many attempts were made."""
        made = 0
        while self._heap and self._heap[0].due <= now and not (halt and halt.is_set()):
            pending = heapq.heappop(self._heap)
            pending.attempts += 1
            made += 1
            self._settle(pending, self._send(pending.body), now)
        return made

    def _settle(self, pending: Pending, attempt: Attempt, now: float) -> None:
        label = f"{pending.event.get('detail-type')} {pending.event.get('id')}"
        if attempt.delivered:
            self.delivered += 1
            log.info("webhook: delivered %s (attempt %d)", label, pending.attempts)
            return
        retries = pending.attempts  # the retries made so far, plus the one this would be
        delay = self.policy.delay(retries, self._rand)
        if not attempt.retried:
            why = f"{attempt.describe()} is not retried"
        elif retries > self.policy.max_retries:
            why = f"{attempt.describe()}, {self.policy.max_retries} retries made"
        elif now + delay - pending.received > self.policy.max_age:
            why = f"{attempt.describe()}, older than {self.policy.max_age:.0f} s"
        else:
            log.warning("webhook: %s failed (%s); retry %d in %.1f s", label, attempt.describe(), retries, delay)
            pending.due = now + delay
            heapq.heappush(self._heap, pending)
            return
        self.dead_lettered += 1
        log.warning("webhook: %s given up after %d attempt(s) (%s): dead-lettered", label, pending.attempts, why)
        self._dead_letter(pending.event, attempt, pending.attempts)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a 3xx is an answer, as for EventBridge: not followed
        return None


class HttpSender:
    """One POST of an event body to the backend, with its Authorization header."""

    def __init__(self, url: str, authorization: str | None, timeout: float = TIMEOUT_SECONDS, opener=None) -> None:
        self.url, self.authorization, self.timeout = url, authorization, timeout
        self._opener = opener or urllib.request.build_opener(_NoRedirects)

    def request(self, body: bytes) -> urllib.request.Request:
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT}
        if self.authorization:
            headers["Authorization"] = self.authorization
        return urllib.request.Request(self.url, data=body, method="POST", headers=headers)

    def __call__(self, body: bytes) -> Attempt:
        try:
            with self._opener.open(self.request(body), timeout=self.timeout) as response:
                response.read()
                return Attempt(response.status)
        except urllib.error.HTTPError as error:
            error.close()
            return Attempt(error.code)
        except (OSError, ValueError) as error:  # refused, reset, timed out, unresolvable, bad URL
            return Attempt(None, f"{type(error).__name__}: {error}")


class WebhookDelivery(threading.Thread):
    """The API destination of this machine: the rule's queue → the outbox → the backend."""

    def __init__(self, sqs, outbox: Outbox, queue_url: str, stop: threading.Event, clock=time.monotonic) -> None:
        super().__init__(name="change-webhook", daemon=True)
        self._sqs, self.outbox, self.queue_url, self._halt, self._clock = sqs, outbox, queue_url, stop, clock

    @classmethod
    def create(cls, template: dict, resources, sqs, events, bus_name: str, sender: HttpSender, stop: threading.Event):
        """The template's rule on the local bus, a local queue as its target, dead letters to its DLQ."""
        rule = template["Resources"][RULE]["Properties"]
        (target,) = rule["Targets"]
        name = f"{STACK_NAME}-change-webhook"
        queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        rule_arn = events.put_rule(Name=name, EventBusName=bus_name, EventPattern=json.dumps(rule["EventPattern"]))[
            "RuleArn"
        ]
        events.put_targets(Rule=name, EventBusName=bus_name, Targets=[{"Id": target["Id"], "Arn": queue_arn}])
        dead_letters = DeadLetters(sqs, resources.queue_url(DEAD_LETTERS), rule_arn, sender.url)
        policy = RetryPolicy.of_target(target, template.get("Parameters", {}))
        return cls(sqs, Outbox(sender, policy, dead_letters), queue_url, stop)

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                self._step()
            except Exception:  # the delivery must outlive any one failure
                if self._halt.is_set():
                    break
                log.exception("webhook delivery failed; going on in 1 s")
                self._halt.wait(1)
        if len(self.outbox):
            log.info("webhook: %d event(s) waiting for a retry end with the stack", len(self.outbox))

    def _step(self) -> None:
        due = self.outbox.next_due()
        wait = 1 if due is None or due - self._clock() >= 1 else 0
        messages = self._sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait
        ).get("Messages", [])
        for message in messages:
            self.outbox.add(json.loads(message["Body"]), self._clock())
        if messages:
            self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
        if not self.outbox.run_due(self._clock(), self._halt) and not messages and wait == 0:
            due = self.outbox.next_due()
            self._halt.wait(max(0.0, min(0.25, (due or 0) - self._clock())))


class DeadLetters:
    """EventBridge's dead letter: the event as the body, why in ERROR_CODE / ERROR_MESSAGE attributes."""

    def __init__(self, sqs, queue_url: str, rule_arn: str, target: str) -> None:
        self._sqs, self.queue_url, self.rule_arn, self.target = sqs, queue_url, rule_arn, target

    def __call__(self, event: dict, attempt: Attempt, attempts: int) -> None:
        code = "SDK_CLIENT_ERROR" if attempt.status is None else f"HTTP_{attempt.status}"
        attributes = {
            "ERROR_CODE": code,
            "ERROR_MESSAGE": f"{attempt.describe()} after {attempts} attempt(s)",
            "RULE_ARN": self.rule_arn,
            "TARGET_ARN": self.target,
        }
        self._sqs.send_message(
            QueueUrl=self.queue_url,
            MessageBody=json.dumps(event, separators=(",", ":")),
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )
