"""Cold start in instructions: what importing each handler costs, counted by valgrind (callgrind), so two
trees can be compared on a busy machine where wall and CPU times are noise.

Each function's `app.py` is loaded by path in a fresh interpreter under `valgrind --tool=callgrind`, in
the cold-start benchmark's environment (`common.cold_env`); an empty interpreter's count is subtracted,
and the ratio is taken to the baseline (boto3 + one DynamoDB client), as `cold_start.py` does with times.
One run each: the count is deterministic to a few parts in a thousand. Byte code is compiled first. Each
program ends with `os._exit(0)`: the interpreter's teardown (a last garbage collection over everything
imported) is not part of a cold start, and would count more for the larger programs.

    PYTHONPATH=layers/common:. .venv/bin/python bench/cold_instructions.py [--root TREE] [function ...]

`--root` measures another checkout (a worktree of an older commit) with this one's interpreter.
"""

from __future__ import annotations

import argparse
import compileall
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, cold_env, scratch, write_apple_root  # noqa: E402

BASELINE = 'import boto3; boto3.client("dynamodb")'


def instructions(code: str, root: Path, env: dict[str, str]) -> int:
    """Instructions executed by `python -c code` in `root` (callgrind's "Collected"), up to its end: the
    interpreter's teardown is skipped."""
    program = f"{code}\nimport os; os._exit(0)"
    run = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", program],
        cwd=root, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", run.stderr)
    if found is None:
        raise SystemExit(f"valgrind gave no count:\n{run.stderr[-2000:]}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the tree to measure (default: this one)")
    parser.add_argument("functions", nargs="*", help="default: every functions/*/app.py")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    root = args.root.resolve()
    names = args.functions or sorted(p.parent.name for p in (root / "functions").glob("*/app.py"))
    compileall.compile_dir(str(root / "layers" / "common"), quiet=1)
    compileall.compile_dir(str(root / "functions"), quiet=1)
    with scratch("parity-bench-ir-") as directory:
        env = cold_env(write_apple_root(directory))
        env["PYTHONPATH"] = f"{root / 'layers' / 'common'}:{root}"
        empty = instructions("pass", root, env)
        base = instructions(BASELINE, root, env) - empty
        print(f"Instructions importing each handler ({root}), baseline = boto3 + 1 DynamoDB client\n")
        print("| function | M instructions | × baseline |\n| --- | ---: | ---: |")
        print(f"| baseline | {base / 1e6:.0f} | 1.000 |")
        for name in names:
            count = instructions(f"import runpy; runpy.run_path('functions/{name}/app.py')", root, env) - empty
            print(f"| {name} | {count / 1e6:.0f} | {count / base:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
