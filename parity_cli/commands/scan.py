"""`parity scan`: run the drift scan now (the schedule runs it nightly; the local stack has none).

Queues every purchase due for a check; with `--wait`, follows the workers until they reported them
all and prints the report (drift found by kind, repairs, errors, examples).
"""

from __future__ import annotations

import argparse

from parity_cli import drift

HELP = "run the drift scan now: queue the purchases due for a check; --wait for the report"


def register(parser: argparse.ArgumentParser, add) -> None:
    parser.add_argument("--wait", action="store_true", help="wait for the workers and print the report")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait at most (default 600)")
    parser.set_defaults(handler=run)


def run(ctx, args) -> int:
    with ctx.output.progress("selecting", unit="purchases") as progress:
        started = drift.start_scan(ctx, progress)
    data = {"reportId": started["reportId"], "selected": started["selected"]}
    if args.wait:
        from parity.services.drift_scan import CATCH_UPS

        expected = started["selected"] + len(CATCH_UPS)  # the catch-ups (Play voids, Stripe payments) travel with every scan
        with ctx.output.progress("checking", total=expected, unit="checks") as progress:
            data = drift.wait_for(ctx, started["reportId"], expected, args.timeout, progress)
    ctx.output.result(data, drift.render_report)
    return 0
