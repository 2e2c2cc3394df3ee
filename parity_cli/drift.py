"""The drift scan from the console: run it now, check purchases now, read the reports. The same
services as the functions (built by `parity.bootstrap`, through `parity_cli.wiring`), against the
resources the console resolved; the checks themselves are made by the reconcile worker (on AWS the
Lambda function, locally the stack's queue poller), which holds the store credentials."""

from __future__ import annotations

import json
import time
from typing import Any

from parity_cli import wiring
from parity_cli.errors import CliError


def requeue_parked(ctx) -> int:
    """Send the events parked unresolved back to the store-events queue (as the nightly scan does)."""
    intake = wiring.event_intake(ctx)
    return intake.requeue_parked() if intake else 0


def start_scan(ctx, progress) -> dict[str, Any]:
    return wiring.drift_scan(ctx).run(progress=lambda n: progress.update(n))


def queue_checks(ctx, purchase_ids: list[str], report_id: str) -> None:
    """Queue checks of these purchases under `report_id` (as the scan does)."""
    from parity.services.drift_scan import check_message

    queue = wiring.reconcile_queue(ctx)
    bodies = [check_message(pid, report_id) for pid in purchase_ids]
    for start in range(0, len(bodies), 10):
        queue.send_batch(bodies[start : start + 10])


def report(ctx, report_id: str) -> dict[str, Any]:
    found = wiring.repository(ctx).report(report_id)
    return {"reportId": report_id, "counts": {}} if found is None else plain(found)


def plain(document: Any) -> Any:
    """DynamoDB's Decimals as JSON numbers."""
    return json.loads(json.dumps(document, default=lambda n: int(n) if n == int(n) else float(n)))


def checked(counts: dict[str, Any]) -> int:
    """Checks the workers reported (each check has one status)."""
    from parity.services.drift_scan import checks_reported

    return checks_reported(counts)


def wait_for(ctx, report_id: str, expected: int, timeout: float, progress) -> dict[str, Any]:
    """Poll the report until the workers have reported `expected` checks (or `timeout` passed)."""
    deadline = time.monotonic() + timeout
    while True:
        current = report(ctx, report_id)
        done = checked(current.get("counts", {}))
        progress.update(done, total=expected)
        if done >= expected:
            return current
        if time.monotonic() > deadline:
            raise CliError(
                f"{done} of {expected} checks reported after {timeout:.0f} s; the workers may be behind "
                f"(`parity dlq list`), or not running: report {report_id}",
                "timeout",
                1,
            )
        time.sleep(0.5)


def render_report(data: dict[str, Any]) -> str:
    counts = data.get("counts", {})
    selected = data.get("selected", counts.get("selected", "?"))  # a scheduled scan's shards add theirs to counts
    lines = [f"report {data.get('reportId')}: {selected} selected, status {data.get('status', '?')}"]
    if counts:
        lines.append("  " + ", ".join(f"{name} {int(value)}" for name, value in sorted(counts.items())))
    for example in data.get("examples", [])[:10]:
        before, after = example.get("before") or {}, example.get("after") or {}
        change = f"{before.get('state')} → {after.get('state')}, {before.get('expiresAt')} → {after.get('expiresAt')}" if before else ""
        lines.append(f"  - {example.get('subject')}: {', '.join(example.get('kinds', []))}  {change}".rstrip())
    return "\n".join(lines)
