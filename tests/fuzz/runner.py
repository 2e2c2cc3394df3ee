"""Sends the cases to the stack over raw HTTP, counts the answers, and checks the rules.

Raw sockets, not an HTTP client: request targets and header values are sent exactly as the case says
(control characters, 60 KB paths, malformed percent-encoding), which `http.client` would refuse to send.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from hypothesis import HealthCheck, Phase, given, seed, settings

from tests.fuzz.cases import FORGED, MALFORMED, Case, Cases

TIMEOUT = 30


@dataclass
class Answer:
    case: Case
    status: int  # 0: no HTTP answer at all
    body: bytes = b""


@dataclass
class Report:
    answers: list[Answer] = field(default_factory=list)
    stored_for_forged: list[str] = field(default_factory=list)  # table keys nobody authenticated may own
    healthy_after: bool = False
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return len(self.answers)

    @property
    def by_route_and_status(self) -> Counter:
        return Counter((a.case.route, a.status) for a in self.answers)

    @property
    def server_errors(self) -> list[Answer]:
        return [a for a in self.answers if a.status >= 500 or a.status == 0]

    @property
    def forged_accepted(self) -> list[Answer]:
        return [a for a in self.answers if a.case.kind == FORGED and 200 <= a.status < 300]

    @property
    def malformed_not_refused(self) -> list[Answer]:
        return [a for a in self.answers if a.case.kind == MALFORMED and not 400 <= a.status < 500]

    @property
    def without_error_shape(self) -> list[Answer]:
        """4xx and 5xx answers whose body is not `{"error": {"code", "message"}}`."""
        bad = []
        for answer in self.answers:
            if answer.status < 400 or answer.case.method == "HEAD":
                continue
            try:
                document = json.loads(answer.body)
                ok = set(document) == {"error"} and set(document["error"]) == {"code", "message"}
            except (ValueError, TypeError, AttributeError):
                ok = False
            if not ok:
                bad.append(answer)
        return bad

    def failures(self) -> list[str]:
        lines = []
        for title, answers in (
            ("answered 5xx (or not at all)", self.server_errors),
            ("forged and accepted", self.forged_accepted),
            ("malformed and not refused with a 4xx", self.malformed_not_refused),
            ("error without the contract's shape", self.without_error_shape),
        ):
            for answer in answers[:10]:
                case = answer.case
                lines.append(
                    f"{title}: {case.route} [{case.kind}: {case.why}] {case.method} {case.path[:120]!r} "
                    f"body {case.body[:120]!r} -> {answer.status} {answer.body[:200]!r}"
                )
        lines += [f"stored for no authenticated user: {key}" for key in self.stored_for_forged[:10]]
        if not self.healthy_after:
            lines.append("GET /health did not answer 200 {\"status\": \"ok\"} afterwards")
        return lines

    def table(self) -> str:
        """Inputs by route and answer status, as a text table."""
        statuses = sorted({status for _, status in self.by_route_and_status})
        routes = sorted({route for route, _ in self.by_route_and_status})
        width = max(len(r) for r in routes) if routes else 10
        head = f"{'route':<{width}} " + " ".join(f"{s:>6}" for s in statuses) + f" {'total':>7}"
        lines = [head, "-" * len(head)]
        counts = self.by_route_and_status
        for route in routes:
            row = [counts.get((route, s), 0) for s in statuses]
            lines.append(f"{route:<{width}} " + " ".join(f"{n:>6}" for n in row) + f" {sum(row):>7}")
        totals = [sum(counts.get((r, s), 0) for r in routes) for s in statuses]
        lines.append("-" * len(head))
        lines.append(f"{'all routes':<{width}} " + " ".join(f"{n:>6}" for n in totals) + f" {sum(totals):>7}")
        kinds = Counter(a.case.kind for a in self.answers)
        lines.append(
            f"\n{self.total} inputs in {self.seconds:.1f} s ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}); "
            f"answers >= 500: {len(self.server_errors)}; forged accepted: {len(self.forged_accepted)}; "
            f"items stored for forged inputs: {len(self.stored_for_forged)}; "
            f"healthy afterwards: {'yes' if self.healthy_after else 'NO'}"
        )
        return "\n".join(lines)


def send(base_url: str, case: Case) -> Answer:
    """One request on a fresh connection, written byte for byte."""
    parts = urlsplit(base_url)
    target = case.path.encode("utf-8", "surrogatepass")
    lines = [case.method.encode("latin-1", "replace") + b" " + target + b" HTTP/1.1", f"Host: {parts.netloc}".encode()]
    for name, value in case.headers:
        clean = value.replace("\r", "").replace("\n", "")
        lines.append(f"{name}: ".encode() + clean.encode("utf-8", "surrogatepass"))
    lines += [f"Content-Length: {len(case.body)}".encode(), b"Connection: close"]
    request = b"\r\n".join(lines) + b"\r\n\r\n" + case.body
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=TIMEOUT) as sock:
            sock.sendall(request)
            response = http.client.HTTPResponse(sock, method=case.method)
            response.begin()
            body = b"" if case.method == "HEAD" else response.read()
            return Answer(case, response.status, body)
    except (OSError, http.client.HTTPException) as error:
        return Answer(case, 0, repr(error).encode())


def owned_by(item: dict, user: str) -> bool:
    """Whether a table item is the fuzzer's own user's (genuine tokens are issued for it only)."""
    pk = item["PK"]["S"]
    if pk in (f"USER#{user}", f"AUDIT#{user}"):
        return True
    return pk.startswith("TOKEN#") and item.get("userId", {}).get("S") == user


def run(target, inputs: int, seed_value: int = 0, user: str | None = None, progress=None) -> Report:
    """Send the hand-made cases, then hypothesis-drawn ones up to `inputs` in all; check the table."""
    user = user or f"fz_{seed_value}_{int(time.time())}"
    cases = Cases(target, user)
    report = Report()
    started = time.monotonic()
    before = target.table_keys()

    def record(case: Case) -> None:
        report.answers.append(send(target.base_url, case))
        if progress is not None:
            progress(report.total, inputs)

    for case in cases.hand_made()[:inputs]:
        record(case)
    strategy = cases.strategy()
    attempt = 0
    while report.total < inputs:
        remaining = inputs - report.total

        @seed(seed_value * 1_000 + attempt)
        @settings(
            max_examples=remaining,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(strategy)
        def drawn(case: Case) -> None:
            if report.total < inputs:
                record(case)

        drawn()
        attempt += 1

    after = target.table_keys()
    report.stored_for_forged = sorted(
        f"{key[0][:80]} / {key[1][:80]}"
        for key, item in after.items()
        if before.get(key) != item and not owned_by(item, user)
    )
    health = send(target.base_url, Case("GET /health", "probe", "GET", "/health"))
    report.healthy_after = health.status == 200 and json.loads(health.body or b"{}") == {"status": "ok"}
    report.seconds = time.monotonic() - started
    return report
