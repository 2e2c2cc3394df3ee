"""Parity benchmarks: (1) cold import time of each function, (2) App Store signed-data verification
throughput, (3) AWS calls per operation, (4) deployed size of each function, (5) the local stack under
load (100,000 items in its table).

    PYTHONPATH=layers/common:. .venv/bin/python bench/run.py [--runs 15] [--seconds 2] [--write]
        [--only cold|verify|calls|size|local] [--compare-python /path/to/python-with-app-store-server-library]

One module per benchmark, each runnable alone (`python -m bench.<module>`, the same as `--only`):
(1) `bench/cold_start.py`, with the Play client's first call from `bench/play.py`; (2) `bench/verify.py`;
(3) `bench/calls.py`, with the cost of signing a read from `bench/signing.py`; (4) `bench/sizes.py`, with GoogleLayer against an unpruned install from
`bench/google_layer.py`; (5) `bench/local_stack.py`. Their docstrings say what each measures and how.

`--write` puts the tables into docs/BENCHMARKS.md, above `<!-- notes -->` (the notes are kept).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script (bench/run.py): the repository root holds `bench`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import calls, cold_start, local_stack, play, signing, sizes, verify
from bench.common import ROOT

BENCH_DATE = "2026-11-22"
COMMAND = (
    "scripts/check_template.sh  # sam build: .aws-sam/build, for the size section\n"
    "make bench  # = PYTHONPATH=layers/common:. .venv/bin/python bench/run.py [--runs 15] [--seconds 2] [--write]"
)
DOC = ROOT / "docs" / "BENCHMARKS.md"
NOTES = "<!-- notes -->"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per function (default 15)")
    parser.add_argument("--write", action="store_true", help="write the tables into docs/BENCHMARKS.md")
    parser.add_argument("--seconds", type=float, default=2.0, help="verification time per cache mode (default 2)")
    parser.add_argument("--only", choices=["cold", "verify", "calls", "signing", "size", "local"], help="run one part only")
    parser.add_argument(
        "--compare-python", help="an interpreter with app-store-server-library: compare its verifier's import time"
    )
    return parser.parse_args(argv)


def _heading() -> list[str]:
    return [
        "# Benchmarks",
        "",
        f"Date: {BENCH_DATE}. Machine: {os.cpu_count()} cores, {platform.machine()}, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()} ({sys.executable.replace(str(ROOT) + '/', '')}).",
        "",
        "Reproduce:",
        "",
        "```sh",
        COMMAND,
        "```",
        "",
    ]


def report(args: argparse.Namespace) -> str:
    """Run the benchmarks `args` select, in the order they have always run, and render their sections
    in the order of docs/BENCHMARKS.md (cold start, size, verification, calls, signing, local stack)."""
    wanted = {args.only} if args.only else {"cold", "size", "verify", "calls", "signing", "local"}
    out = _heading()
    if "cold" in wanted:
        cold, first_call = cold_start.cold_starts(args.runs), play.play_first_call(args.runs)
        out += cold_start.render(cold, args.runs, play.google_import_row(first_call)) + play.render(first_call)
    if "size" in wanted:
        measured = sizes.deployed_sizes()
        if measured is None:
            print(f"size: skipped: {sizes.SIZE_SKIPPED}", file=sys.stderr)
        out += sizes.render(measured or sizes.SIZE_SKIPPED)
    if "verify" in wanted:
        throughput = verify.verifier_throughput(args.seconds)
        compared = verify.compare_imports(args.compare_python, args.runs) if args.compare_python else None
        out += verify.render(throughput, args.seconds, args.runs, compared)
    if "calls" in wanted:
        out += calls.render(calls.count_calls())
    if "signing" in wanted:
        out += signing.render(signing.per_read(), signing.cold_cost())
    if "local" in wanted:
        out += local_stack.render(local_stack.run(100_000, 200, 8, 10.0, 200))
    return "\n".join(out)


def write(text: str) -> None:
    """`text` into docs/BENCHMARKS.md, in place of what is above the notes marker (the notes are kept)."""
    current = DOC.read_text() if DOC.exists() else ""
    notes = current.split(NOTES, 1)[1] if NOTES in current else ""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text + "\n" + NOTES + (notes or "\n"))
    print(f"\nwritten to {DOC.relative_to(ROOT)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    text = report(args)
    print(text)
    if args.write:
        write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
