"""App Store signed-data verification throughput: `SignedDataVerifier` on generated Apple-shaped chains,
notifications (three JWS each) verified per second with the chain cache off and on, and the chain
validations it did (the cache must make a known chain cost no validation). With `--compare-python`, also
the import time of Apple's `app-store-server-library` verifier in that interpreter, next to ours.

    PYTHONPATH=layers/common:. .venv/bin/python -m bench.verify [--seconds 2] [--compare-python PYTHON]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from bench.common import ROOT, table

CACHE_MODES = (("off", 0), ("on (default, 32 chains)", None))
APPLE_LIBRARY_IMPORT = "from appstoreserverlibrary.signed_data_verifier import SignedDataVerifier"
OUR_VERIFIER_IMPORT = "from parity.webhooks.apple import SignedDataVerifier"


@dataclass
class VerifyResult:
    mode: str
    rates: list[float]  # notifications per second, one per round
    notifications: int
    chain_validations: int

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)


def verifier_throughput(seconds: float, rounds: int = 3) -> list[VerifyResult]:
    """Notification bodies verified per second by one verifier per cache mode (one warm container).

    Each body is `{"signedPayload": <JWS>}` with a signed transaction and renewal info inside: three JWS,
    three signature checks and three chain look-ups. 50 distinct notifications, all signed by one leaf
    (as Apple signs with a handful of leaves at a time). Rounds alternate between modes.
    """
    from parity.webhooks.apple import CHAIN_CACHE_SIZE, SignedDataVerifier
    from tests.support import apple as fx

    signer = fx.AppleSigner()  # Production: the app Apple id is checked too
    bodies = [
        signer.notification_body(transaction=signer.transaction(), renewal_info=signer.renewal_info())
        for _ in range(50)
    ]
    verifiers = {
        mode: SignedDataVerifier(
            [signer.chain.root],
            fx.BUNDLE_ID,
            "Production",
            fx.APP_APPLE_ID,
            cache_size=CHAIN_CACHE_SIZE if size is None else size,
        )
        for mode, size in CACHE_MODES
    }
    results = {mode: VerifyResult(mode, [], 0, 0) for mode, _ in CACHE_MODES}
    for _ in range(rounds):
        for mode, verifier in verifiers.items():
            count, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds / rounds:
                verifier.verify_and_decode_notification_body(bodies[count % len(bodies)])
                count += 1
            results[mode].rates.append(count / (time.perf_counter() - started))
            results[mode].notifications += count
    for mode, verifier in verifiers.items():
        results[mode].chain_validations = verifier.chain_validations
    return list(results.values())


def import_ms(python: str, statement: str, runs: int) -> float:
    """Median time of `statement` in fresh processes of `python` (after one warm-up run)."""
    code = f"import time; s = time.perf_counter(); {statement}; print((time.perf_counter() - s) * 1000)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)])}
    samples = [
        float(subprocess.run([python, "-c", code], env=env, check=True, capture_output=True, text=True).stdout)
        for _ in range(runs + 1)
    ]
    return statistics.median(samples[1:])


def compare_imports(other_python: str, runs: int) -> list[tuple[str, float]]:
    """Our verifier's import time here, next to Apple's library's in `other_python` (ms, median)."""
    return [
        (f"`{OUR_VERIFIER_IMPORT}` (this interpreter)", import_ms(sys.executable, OUR_VERIFIER_IMPORT, runs)),
        (f"`{APPLE_LIBRARY_IMPORT}` (`--compare-python`)", import_ms(other_python, APPLE_LIBRARY_IMPORT, runs)),
    ]


def render(
    verify: list[VerifyResult], seconds: float, runs: int, compared: list[tuple[str, float]] | None
) -> list[str]:
    """The throughput section, and the import comparison when there is one."""
    rows = [
        (
            result.mode,
            f"{result.rate:,.0f}",
            f"{3 * result.rate:,.0f}",
            f"{1e6 / (3 * result.rate):,.0f}",
            f"{3 * result.notifications:,}",
            f"{result.chain_validations:,}",
        )
        for result in verify
    ]
    header = ("chain cache", "notifications/s", "JWS/s", "µs per JWS", "JWS verified", "chain validations")
    out = [
        "## App Store: signed-data verification throughput",
        "",
        "`parity.webhooks.apple.SignedDataVerifier` on a generated chain shaped like Apple's (P-384 root and",
        "intermediate, P-256 leaf, Apple's marker OIDs), one thread. A notification is the webhook body",
        '`{"signedPayload": <JWS>}` carrying a signed transaction and a signed renewal info: three JWS, so three',
        "ES256 signature checks and three chain look-ups. 50 distinct notifications from one leaf, one verifier",
        f"per mode for the whole run (a warm container), {seconds:g} s per mode in 3 alternating rounds, median",
        "rate. Cache off: every JWS validates its chain (three certificates parsed, two certificate signatures,",
        "roles, OIDs); on: validated chains are kept by the SHA-256 of their three certificates.",
        "",
        *table(header, "lrrrrr", rows),
    ]
    if compared:
        out += ["", f"Verifier import, fresh process (median of {runs}):", ""]
        out += table(("import", "ms"), "lr", ((label, f"{ms:.1f}") for label, ms in compared))
    return out + [""]


if __name__ == "__main__":
    from bench import run

    raise SystemExit(run.main(["--only", "verify", *sys.argv[1:]]))
