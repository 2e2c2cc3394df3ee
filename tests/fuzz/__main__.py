"""`python -m tests.fuzz [--inputs N] [--seed S]` (`make fuzz`): start a fully configured local stack,
send N malformed, forged and hostile inputs across every HTTP route, print the answers by route and
status, and exit non-zero if any rule was broken (an answer >= 500, a forged input accepted, an item
stored for one, an unhealthy stack afterwards)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.fuzz.runner import run
from tests.fuzz.stack import fuzz_stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("--inputs", type=int, default=10_000, help="how many inputs to send (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0: reproducible)")
    args = parser.parse_args(argv)

    def progress(done: int, total: int) -> None:
        if done % 500 == 0 or done == total:
            print(f"\r  {done}/{total} inputs sent", end="", file=sys.stderr, flush=True)

    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="parity-fuzz-") as scratch:
        try:
            with fuzz_stack(Path(scratch)) as target:
                print(f"fuzzing {target.base_url} with {args.inputs} inputs (seed {args.seed})", file=sys.stderr)
                report = run(target, args.inputs, args.seed, progress=progress)
                print(file=sys.stderr)
                print(report.table())
                failures += report.failures()
        except AssertionError as stack_failure:  # the stack did not stop cleanly, or logged a crash
            failures.append(f"the stack: {str(stack_failure)[:4000]}")
    for line in failures:
        print("FAIL " + line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
