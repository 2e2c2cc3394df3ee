"""Fault injection (`make chaos`): generated store events for many users, duplicated and reordered,
through the real functions while 20 % of the calls they make fail on purpose; then the DLQ redriven.
The end state must equal a fault-free run of the same deliveries: 0 lost, 0 double grants, 0 stuck.

    PYTHONPATH=layers/common:. .venv/bin/python bench/chaos.py [--users 500] [--events 10000] [--seed 11]
        [--fault-rate 0.2] [--crash-rate 0.05] [--not-delete-rate 0.05] [--bad-deploy 21600,43200]
        [--parallel] [--json FILE]

What runs, and how the figures are defined: docs/RELIABILITY.md ("Fault injection"), tests/chaos/.
Exit status 0 when the verdict is PASS, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT, ROOT / "layers" / "common"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--crash-rate", type=float, default=0.05, help="per successful processor commit")
    parser.add_argument("--not-delete-rate", type=float, default=0.05, help="per processed batch")
    parser.add_argument(
        "--bad-deploy",
        default="21600,43200",
        help="AFTER,SECONDS: AFTER seconds after the last first delivery, the processor fails every record for "
        "SECONDS (simulated; messages use up their receives and are dead-lettered, then redriven); 'none' for none",
    )
    parser.add_argument("--parallel", action="store_true", help="the fault-free run in a forked process meanwhile")
    parser.add_argument("--json", type=Path, help="also write the figures there")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "CRITICAL")

    from tests.chaos import run_pair

    def say(line: str) -> None:
        if not args.quiet:
            print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)

    numbers, verdict, text = run_pair(
        seed=args.seed,
        users=args.users,
        events=args.events,
        fault_rate=args.fault_rate,
        crash_rate=args.crash_rate,
        not_delete_rate=args.not_delete_rate,
        bad_deploy=None if args.bad_deploy == "none" else tuple(int(v) for v in args.bad_deploy.split(",")),
        parallel=args.parallel,
        progress=say,
    )
    print(text)
    if args.json:
        args.json.write_text(json.dumps({**numbers, "findings": verdict.__dict__}, indent=2, default=str))
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
