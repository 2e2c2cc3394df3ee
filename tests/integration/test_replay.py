"""`parity replay` against moto: a generated event log (webhooks shuffled and duplicated, claims under
each strategy, refunds, a manual association, a merge) rebuilds exactly the stored state. Divergences
and their repair are tested on the in-memory fakes: tests/unit/test_replayer.py."""

from __future__ import annotations

import io
import json
import random

import pytest

from parity_cli.main import run
from tests.integration.test_ownership import claim
from tests.support import stripe
from tests.support.harness import running_stack

DAY = stripe.DAY


def replay(*argv: str, expect: int = 0) -> dict:
    """`parity replay ARGV --json` in-process, against the harness's resources."""
    out, err = io.StringIO(), io.StringIO()
    code = run(["replay", *argv, "--json"], stdout=out, stderr=err, tty=False)
    assert code == expect, (code, out.getvalue(), err.getvalue())
    return json.loads(out.getvalue())


def generated_log(stack, t0: int, seed: int) -> None:
    """Stripe lifecycles for a few users, delivered shuffled with duplicates, then App Store claims by
    several users, a manual association and a merge."""
    rng = random.Random(seed)
    events = []
    for n in range(4):
        sub, user, end = f"sub_r{n}", f"u_r{n}", t0 + (n + 1) * DAY
        events.append(stripe.event("customer.subscription.created", stripe.subscription(sub, "active", end, user_id=user), created=t0))
        events.append(stripe.event("invoice.paid", stripe.paid_invoice(f"in_r{n}", sub, end + 30 * DAY), created=t0 + 10))
        if n % 2:
            events.append(stripe.event("invoice_payment.paid", stripe.invoice_payment(f"in_r{n}", f"pi_r{n}", f"ch_r{n}"), created=t0 + 20))
            events.append(stripe.event("charge.refunded", stripe.charge(f"ch_r{n}", f"pi_r{n}"), created=t0 + 30))
        if n == 2:
            canceled = stripe.subscription(sub, "active", end + 30 * DAY, user_id=user, cancel_at_period_end=True)
            events.append(stripe.event("customer.subscription.updated", canceled, created=t0 + 40))
    deliveries = events + rng.sample(events, 3)  # duplicates
    rng.shuffle(deliveries)
    for event in deliveries:
        stack.deliver(event)
        stack.drain()  # a refund ahead of the payment it refunds fails: SQS delivers it again
    for _ in range(3):
        if not stack.redeliver_failed():
            break
        stack.drain()
    assert stack.queue_depth() == 0
    for n, user in enumerate(rng.choices(["u_a", "u_b", "u_c"], k=6)):
        claim(stack, user, t0 + n, store_key="2000000000000777", days=30 + n)
    stack.assign_owner("app_store:2000000000000777", "u_b")
    claim(stack, "u_c", t0 + 100, store_key="2000000000000777", days=60)  # refused: manual association
    claim(stack, "u_m", t0, store_key="2000000000000888")
    assert stack.merge("u_r0", "u_m").status == 200


@pytest.mark.parametrize("strategy,seed", [("LAST", 1), ("FIRST", 2), ("ALL", 3)])
def test_replay_of_a_generated_log_reproduces_the_stored_state_exactly(tmp_path, t0, strategy, seed):
    with running_stack(catalog_dir=tmp_path, env={"ENTITLEMENT_STRATEGY": strategy}) as stack:
        generated_log(stack, t0, seed)

        # WHEN every purchase and user is rebuilt from the log
        result = replay("--all")

        # THEN each purchase is rebuilt from its steps, and nothing differs
        assert result["consistent"] is True, result
        assert result["purchases"] == 6, result
        assert result["differences"] == [] and result["entitlements"] == {}
        assert result["steps"] >= 15 and result["unreplayable"] == {}
        # AND so does the replay of one user (their purchases, the merged alias's included)
        one = replay("--user", "u_r0")
        assert one["consistent"] is True and one["purchases"] == 2, one

