"""Processing CPU per event, per store, against a zero-latency store: the event processor
(`EventProcessor.process_message`, what the event_processor function runs for each SQS record) on the
in-memory fakes of tests/support/fakes.py (MemoryStore, FakeStripeApi, FakePlayApi: no network, no moto,
no latency), so what is timed is Parity's own work: parsing the stored body, normalizing, the ordering
rule, ownership, the projection and the commit as the fake applies it (a dict update, cheaper than
building DynamoDB's request; the moto figure beside it says how much building requests adds).

    PYTHONPATH=layers/common:. .venv/bin/python bench/processing.py [--events 400]

Each case processes N events in one process (after a warm-up of the same kind), timing process CPU
(`time.process_time`); events/s per worker = 1000 / CPU ms (a worker waiting on nothing). Results go into
docs/BENCHMARKS.md by hand, with this command.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

if __package__ in (None, ""):  # run as a script (bench/processing.py): the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bench.common  # noqa: F401 - the repository and the layer on sys.path

TARGET_STRIPE_MS = 5.0


def _world(**options):
    from parity.domain.catalog import Catalog
    from tests.support import play_payloads as play
    from tests.support.domain import TEST_CATALOG
    from tests.support.fakes import FakeClock
    from tests.support.services import World

    catalog = {"products": {**TEST_CATALOG["products"], play.MONTHLY: ["pro"], "com.example.pro.monthly": ["pro"]}}
    return World(clock=FakeClock(datetime.now(timezone.utc)), catalog=Catalog.from_document(catalog), **options)


def _timed(messages: list[dict], process: Callable[[dict], object]) -> list[float]:
    """CPU ms of each message's processing."""
    samples = []
    for message in messages:
        started = time.process_time()
        outcome = process(message)
        samples.append(1000 * (time.process_time() - started))
        status = getattr(outcome, "status", None)
        assert status in ("applied", "customer_linked"), (message.get("eventId"), outcome)
    return samples


def _message(source: str, event_id: str, body: bytes) -> dict:
    from parity.services.ingest import queue_message

    return json.loads(queue_message(source, event_id, body))


def stripe_cases(n: int, with_api: bool) -> dict[str, list[float]]:
    """Stripe: a new subscription (new user, new purchase), then an update of each (a renewal)."""
    from tests.support import stripe
    from tests.support.fakes import FakeStripeApi

    world = _world(stripe_api=FakeStripeApi() if with_api else None)
    processor, t0 = world.processor(), int(time.time())

    def events(kind: str, offset: int, period: int, tag: str) -> list[dict]:
        out = []
        for i in range(n):
            sub = f"sub_{tag}_{i}"
            body = stripe.subscription(sub, "active", t0 + period, user_id=f"u_{tag}_{i}")
            if world.stripe_api is not None:
                world.stripe_api.subscriptions[sub] = body
            event = stripe.event(kind, body, created=t0 + offset)
            out.append(_message("stripe", event["id"], stripe.encode(event)))
        return out

    _timed(events("customer.subscription.created", 0, 30 * stripe.DAY, "warm"), processor.process_message)
    created = _timed(events("customer.subscription.created", 0, 30 * stripe.DAY, "s"), processor.process_message)
    updated = _timed(events("customer.subscription.updated", 10, 60 * stripe.DAY, "s"), processor.process_message)
    return {"created (new user, new purchase)": created, "updated (renewal of a known purchase)": updated}


def app_store_cases(n: int) -> dict[str, list[float]]:
    """App Store: SUBSCRIBED for a user's appAccountToken (a claim), then DID_RENEW of each."""
    from tests.support import apple as fx

    world = _world()
    processor, signer = world.processor(), fx.AppleSigner()

    def notifications(kind: str, subtype: str | None, tag: str, period_days: int) -> list[dict]:
        out, now = [], fx.now_ms()
        for i in range(n):
            original = f"{tag}{i:08d}"
            token = world.reader().read(f"u_apple_{tag}_{i}").app_account_token if kind == "SUBSCRIBED" else None
            fields = {"originalTransactionId": original, "transactionId": f"{original}{kind[:1]}", "signedDate": now}
            expires = now + period_days * 86_400_000
            body = signer.notification_body(
                kind,
                subtype,
                transaction=signer.transaction(**fields, appAccountToken=token, expiresDate=expires),
                renewal_info=signer.renewal_info(originalTransactionId=original, appAccountToken=token, signedDate=now),
                signedDate=now,
            )
            out.append(_message("app_store", json.loads(body)["signedPayload"][-16:] + f"-{kind}-{i}", body))
        return out

    _timed(notifications("SUBSCRIBED", "INITIAL_BUY", "9", 30), processor.process_message)
    subscribed = _timed(notifications("SUBSCRIBED", "INITIAL_BUY", "3", 30), processor.process_message)
    renewed = _timed(notifications("DID_RENEW", None, "3", 60), processor.process_message)
    return {"SUBSCRIBED with the user's appAccountToken (a claim)": subscribed, "DID_RENEW of a known purchase": renewed}


def play_cases(n: int) -> dict[str, list[float]]:
    """Play: SUBSCRIPTION_PURCHASED (4) read from the Play API fake, then SUBSCRIPTION_RENEWED (2)."""
    from tests.support import play_payloads as play
    from tests.support.fakes import FakePlayApi

    world = _world(play_api=FakePlayApi())
    processor = world.processor()
    now = world.clock.now()

    def pushes(kind: int, tag: str, days: int) -> list[dict]:
        out = []
        for i in range(n):
            token = f"tok-{tag}-{i}"
            world.play_api.subscriptions[(play.PACKAGE, token)] = play.subscription(account=None, expiry=now + timedelta(days=days))
            envelope = play.push_envelope(play.subscription_notification(kind, token=token, event_time=now))
            out.append(_message("play_store", envelope["message"]["messageId"], json.dumps(envelope).encode()))
        return out

    _timed(pushes(4, "warm", 30), processor.process_message)
    purchased = _timed(pushes(4, "p", 30), processor.process_message)
    renewed = _timed(pushes(2, "p", 60), processor.process_message)
    return {"SUBSCRIPTION_PURCHASED (4), read from the API": purchased, "SUBSCRIPTION_RENEWED (2) of a known purchase": renewed}


def stripe_on_moto(n: int) -> dict[str, list[float]]:
    """Stripe through the DynamoDB adapter on moto in-process, the time spent inside moto taken out (what
    is left: Parity's work and botocore building and parsing each request, as on Lambda)."""
    from bench.common import quiet_stack
    from bench.drift import moto_timer
    from tests.support import stripe

    t0, results = int(time.time()), {}
    with moto_timer() as moto, quiet_stack() as stack:
        processor = stack.processor.service

        def run(kind: str, offset: int, period: int, tag: str) -> list[float]:
            samples = []
            for i in range(n):
                body = stripe.subscription(f"sub_{tag}_{i}", "active", t0 + period, user_id=f"u_{tag}_{i}")
                event = stripe.event(kind, body, created=t0 + offset)
                message = _message("stripe", event["id"], stripe.encode(event))
                moto.seconds, started = 0.0, time.perf_counter()
                assert processor.process_message(message).status == "applied"
                samples.append(1000 * (time.perf_counter() - started - moto.seconds))
            return samples

        run("customer.subscription.created", 0, 30 * stripe.DAY, "warm")
        results["created (new user, new purchase), on moto, moto's time excluded"] = run("customer.subscription.created", 0, 30 * stripe.DAY, "m")
        results["updated (renewal of a known purchase), on moto, moto's time excluded"] = run("customer.subscription.updated", 10, 60 * stripe.DAY, "m")
    return results


def measure(n: int) -> list[tuple[str, str, list[float]]]:
    rows = []
    for label, samples in stripe_cases(n, with_api=False).items():
        rows.append(("Stripe", f"{label}, the event's own facts", samples))
    for label, samples in stripe_cases(n, with_api=True).items():
        rows.append(("Stripe", f"{label}, subscription re-read from the API (fake)", samples))
    rows += [("Stripe", label, samples) for label, samples in stripe_on_moto(n).items()]
    rows += [("App Store", label, samples) for label, samples in app_store_cases(n).items()]
    rows += [("Play", label, samples) for label, samples in play_cases(n).items()]
    return rows


def render(rows: list[tuple[str, str, list[float]]], n: int) -> list[str]:
    lines = [
        "| store | event | events | CPU ms per event (mean) | median | p90 | events / s per worker | target |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for store, label, samples in rows:
        mean = statistics.fmean(samples)
        p90 = statistics.quantiles(samples, n=10, method="inclusive")[8]
        target = f"≤ {TARGET_STRIPE_MS:g} ms: {'met' if mean <= TARGET_STRIPE_MS else '**not met**'}" if store == "Stripe" else "–"
        lines.append(
            f"| {store} | {label} | {len(samples)} | {mean:.2f} | {statistics.median(samples):.2f} | {p90:.2f} "
            f"| {1000 / mean:,.0f} | {target} |"
        )
    now = datetime.now(timezone.utc)
    lines += ["", f"run {now:%Y-%m-%d %H:%M} UTC, Python {sys.version.split()[0]}, {os.cpu_count()} cores, {n} events per case"]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=400, help="events per case (default 400)")
    args = parser.parse_args(argv)
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Parity")
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # the metrics' EMF lines
        rows = measure(args.events)
    print("\n".join(render(rows, args.events)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
