"""What `signedEntitlements` costs a read: the CPU time of building the payload and signing it (ES256),
per read, by the number of entitlements a user has; and what loading the signing key adds to a cold start
(importing `cryptography`'s EC code once boto3 is loaded, and reading the PEM).

    PYTHONPATH=layers/common:. .venv/bin/python -m bench.signing

No AWS call is added to a read: the key is read once per container (`bench/calls.py` keeps checking that
a read is exactly one DynamoDB request).
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import replace
from datetime import timedelta

from bench.common import cold_env, run_python, scratch, table, tagged
from parity import views
from parity.domain.entitlements import cache_until, compute_entitlements
from parity.openapi import examples
from parity.signing import EntitlementSigner, generate_pem

SIZES = (1, 5, 20)
ROUNDS = 2000
TAG = "RESULT"
COLD_CODE = f"""
import time, boto3
from parity.settings import Settings  # loaded by every function before its signer
settings = Settings.from_env()
started = time.process_time()
from parity.adapters.signing_keys import signer
signer(settings.signing)
print("{TAG}", (time.process_time() - started) * 1000)
"""


def _read(entitlement_count: int):
    """The example user with `entitlement_count` entitlements, each from a purchase of its own."""
    base = examples.read()
    purchase = base.purchases[0]
    purchases = tuple(replace(purchase, product_id=f"product_{n}") for n in range(entitlement_count))
    catalog = replace(base.catalog, products={f"product_{n}": (f"entitlement_{n}",) for n in range(entitlement_count)})
    entitlements = compute_entitlements(purchases, catalog, base.now)
    until = cache_until(entitlements.values(), base.now, timedelta(days=1))
    return replace(base, entitlements=entitlements, purchases=purchases, catalog=catalog, cache_until=until)


def _median_us(action, rounds: int = ROUNDS) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1e6)
    return statistics.median(samples)


def per_read() -> list[tuple[int, float, float]]:
    """(entitlements, µs to build the answer without signing, µs to build the payload and sign it)."""
    signer = EntitlementSigner.from_pem(generate_pem())
    rows = []
    for count in SIZES:
        read = _read(count)
        whole = _median_us(lambda read=read: views.entitlements_response(read, signer))
        signing = _median_us(lambda read=read: signer.sign(views.signed_claims(read)))
        rows.append((count, whole - signing, signing))
    return rows


def cold_cost(runs: int = 11) -> float:
    """Median CPU ms, in a fresh process after boto3, of importing the signing code and loading the key."""
    with scratch("parity-bench-signing-") as directory:
        env = cold_env()
        env["ENTITLEMENT_SIGNING_KEY_FILE"] = str(directory / "key.pem")
        (directory / "key.pem").write_bytes(generate_pem())
        return statistics.median(float(tagged(run_python(COLD_CODE, env).stdout, TAG)) for _ in range(runs))


def render(rows: list[tuple[int, float, float]], cold_ms: float) -> list[str]:
    return [
        "## Signed entitlements",
        "",
        f"Median of {ROUNDS} runs in one process: the time of the rest of the answer (views, without the",
        "signature) and of `signedEntitlements` (payload + ES256 signature with `cryptography`), per read. A read",
        "stays one DynamoDB request (see the calls table): signing adds no AWS call.",
        "",
        *table(
            ["entitlements", "rest of the answer (µs)", "signing (µs)"],
            "rrr",
            [(count, f"{rest:.1f}", f"{signing:.1f}") for count, rest, signing in rows],
        ),
        "",
        f"Cold start: importing the signing code and loading the key, after boto3 and the settings, costs {cold_ms:.1f} ms",
        "of CPU (median of 11 fresh processes). On AWS the key comes from Secrets Manager instead: one `GetSecretValue`",
        "per container, at init.",
        "",
    ]


def main() -> int:
    rows, cold_ms = per_read(), cold_cost()
    print("\n".join(render(rows, cold_ms)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
