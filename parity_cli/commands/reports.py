"""`parity reports`: the latest drift scan reports, newest first."""

from __future__ import annotations

import argparse

from parity_cli import drift, wiring

HELP = "the latest drift scan reports (counts by kind of drift, repairs, errors, examples)"


def register(parser: argparse.ArgumentParser, add) -> None:
    parser.add_argument("--max", type=int, default=5, help="how many (default 5)")
    parser.set_defaults(handler=run)


def run(ctx, args) -> int:
    reports = [drift.plain(item) for item in wiring.repository(ctx).reports(args.max)]
    ctx.output.result({"reports": reports}, lambda data: "\n\n".join(map(drift.render_report, data["reports"])) or "no reports yet")
    return 0
