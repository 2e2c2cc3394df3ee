"""What each function ships: the Stripe SDK goes with the functions that build a Stripe API client,
and only with them (it is imported lazily, so a missing package would fail at the first Stripe call)."""

from __future__ import annotations

import re
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
# The bootstrap builders that construct `StripeApiClient` (through `bootstrap.stripe_api_client`).
BUILDS_STRIPE_CLIENT = re.compile(r"bootstrap\.(event_processor|receipt_service|reconciler)\(")


def ships_stripe(function: Path) -> bool:
    requirements = function / "requirements.txt"
    return requirements.exists() and any(
        re.match(r"stripe\b", line.strip()) for line in requirements.read_text().splitlines()
    )


def test_functions_that_call_the_stripe_api_and_only_they_ship_stripe_python():
    for app in sorted(FUNCTIONS.glob("*/app.py")):
        calls_stripe = bool(BUILDS_STRIPE_CLIENT.search(app.read_text()))
        assert ships_stripe(app.parent) == calls_stripe, app.parent.name
