"""The local stack keeps its table and queues across restarts: an event acknowledged with a 200 survives
the process being killed a moment later (SIGKILL: no clean stop) and is processed by the next start;
a clean stop keeps what was processed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
import uuid

from tests.e2e.conftest import ROOT, Parity, free_port, local_stack, stack_environment, stripe_event, wait_until
from tests.support import stripe as s


def _healthy(base_url: str, process: subprocess.Popen) -> bool:
    assert process.poll() is None, "the stack exited while starting"
    try:
        with urllib.request.urlopen(base_url + "/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _stored_in_state(state_dir, event_id: str) -> dict | None:
    """The event's item as the state directory last recorded it (None: not there)."""
    last = None
    for name in ("snapshot.jsonl", "journal.jsonl"):
        path = state_dir / name
        if path.exists():
            for line in path.read_text().splitlines():
                record = json.loads(line)
                if record.get("key") == {"PK": {"S": f"EVENT#stripe#{event_id}"}, "SK": {"S": "EVENT"}}:
                    last = record
    return last["item"] if last else None


def test_an_acknowledged_event_survives_a_kill_and_is_processed_after_the_restart(tmp_path, idp, t0):
    user, tag = f"u_{uuid.uuid4().hex[:12]}", uuid.uuid4().hex[:12]
    subscription = s.subscription(f"sub_{tag}", "active", t0 + 30 * 86400, customer=f"cus_{tag}", user_id=user)
    event = stripe_event("customer.subscription.created", subscription, t0)

    # GIVEN a stack (its state in tmp_path/state) that acknowledges a delivery...
    port = free_port()
    env = stack_environment(tmp_path, idp, port)
    with open(tmp_path / "first.log", "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "local"], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _healthy(base_url, process), timeout=60)
        reply = Parity(base_url, idp).post_stripe(event)
        assert reply.status == 200, reply.raw
        # ...WHEN it is killed right after the 200 (no clean stop, nothing flushed on the way out)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    # the event was on disk when the process died (usually not processed yet: processing waits for a
    # quiet moment after a delivery)
    assert _stored_in_state(tmp_path / "state", event["id"]) is not None

    # THEN the next stack on the same state directory processes it: the user is entitled
    with local_stack(tmp_path, idp) as parity:
        outcome = parity.wait_processed(event["id"])
        assert outcome["outcome"] == "applied", outcome
        assert parity.read(user)["entitlements"]["pro"]["active"] is True

    # AND a clean stop and another start keep what was processed
    with local_stack(tmp_path, idp) as parity:
        assert parity.stored_event(event["id"]).json["processedAt"]
        assert parity.read(user)["entitlements"]["pro"]["active"] is True
        assert "restored" in parity.log_text()
