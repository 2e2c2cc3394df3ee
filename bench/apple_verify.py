"""Apple signed-data verification: throughput and cold import cost.

    PYTHONPATH=layers/common:. .venv/bin/python bench/apple_verify.py [--seconds 2] [--runs 11]
        [--compare-python /path/to/python-with-app-store-server-library]

(1) Notifications verified per second by `SignedDataVerifier` with a generated Apple-shaped chain:
each notification carries a signed transaction and signed renewal info, so one notification is three
JWS (three signatures, three chain look-ups). "cold" disables the chain cache (every JWS validates its
chain), "cached" is the steady state of a warm Lambda container.

(2) Import time of the modules in a fresh process (median of `--runs`, perf_counter inside the
process), and optionally of Apple's `app-store-server-library` verifier in another interpreter.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT, ROOT / "layers" / "common"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from parity.webhooks.apple import SignedDataVerifier  # noqa: E402
from tests.support import apple as fx  # noqa: E402

IMPORTS = {
    "parity.webhooks.apple": "import parity.webhooks.apple",
    "parity.adapters.app_store_api": "import parity.adapters.app_store_api",
}
APPLE_LIBRARY = "from appstoreserverlibrary.signed_data_verifier import SignedDataVerifier"


def throughput(cache_size: int, seconds: float) -> tuple[float, int]:
    signer = fx.AppleSigner()
    verifier = SignedDataVerifier(
        [fx.default_chain().root], fx.BUNDLE_ID, "Production", fx.APP_APPLE_ID, cache_size=cache_size
    )
    tokens = [
        signer.signed_notification(transaction=signer.transaction(), renewal_info=signer.renewal_info())
        for _ in range(50)
    ]
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for token in tokens:
            verifier.verify_and_decode_notification(token)
        count += len(tokens)
    return count / (time.perf_counter() - started), verifier.chain_validations


def import_ms(python: str, statement: str, runs: int) -> float:
    code = f"import time; s = time.perf_counter(); {statement}; print((time.perf_counter() - s) * 1000)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)])}
    samples = [
        float(subprocess.run([python, "-c", code], env=env, check=True, capture_output=True, text=True).stdout)
        for _ in range(runs + 1)
    ]
    return statistics.median(samples[1:])  # the first run warms byte code and the page cache


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--compare-python", help="an interpreter with app-store-server-library installed")
    args = parser.parse_args()

    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}\n")
    print("| chain cache | notifications/s (3 JWS each) | JWS/s | chain validations |")
    print("| --- | ---: | ---: | ---: |")
    for label, size in (("off (cold)", 0), ("on", 32)):
        rate, validations = throughput(size, args.seconds)
        print(f"| {label} | {rate:,.0f} | {3 * rate:,.0f} | {validations:,} |")

    print(f"\n| import (fresh process, median of {args.runs}) | ms |")
    print("| --- | ---: |")
    targets = [(name, sys.executable, statement) for name, statement in IMPORTS.items()]
    if args.compare_python:
        targets.append(("appstoreserverlibrary SignedDataVerifier", args.compare_python, APPLE_LIBRARY))
    for name, python, statement in targets:
        print(f"| {name} | {import_ms(python, statement, args.runs):.1f} |")


if __name__ == "__main__":
    main()
