"""What the benchmarks share: the repository on `sys.path`, the environment Lambda would set, generated
store credentials, a fresh Python process to time something in, and Markdown tables for the report."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT, ROOT / "layers" / "common"):  # parity and tests.support, without PYTHONPATH
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))


def cold_env(apple_root: Path | None = None) -> dict[str, str]:
    """What Lambda would set (fake names; nothing at import may reach the network)."""
    from tests.support import apple as fx
    from tests.support import google as gx
    from tests.support.signing import write_key

    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)]),
        "LANG": "C.UTF-8",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "AWS_LAMBDA_FUNCTION_NAME": "parity-bench",  # init runs as on Lambda (parity/__init__.py)
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "TABLE_NAME": "parity-bench",
        "EVENTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/parity-bench-store-events.fifo",
        "RECONCILE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/parity-bench-reconcile",
        "EVENT_BUS_NAME": "parity-bench-changes",
        "CATALOG_FILE": str(ROOT / "layers" / "common" / "catalog.json"),
        "STRIPE_WEBHOOK_SECRET": "whsec_bench",
        # App Store, as the template's Globals set it (Sandbox needs no APPLE_APP_APPLE_ID). On AWS the
        # layer's bundled Apple Root CA G3 (DER) is the anchor; here a generated root, also DER.
        "APPLE_BUNDLE_ID": fx.BUNDLE_ID,
        "APPLE_ENVIRONMENT": "Sandbox",
        **({"APPLE_ROOT_CERTS": str(apple_root)} if apple_root else {}),
        # The entitlement signing key (on AWS a Secrets Manager secret, read once at cold start).
        "ENTITLEMENT_SIGNING_KEY_FILE": str(write_key(apple_root.parent if apple_root else Path(tempfile.mkdtemp()))),
        # Google Play pushes, as the template's Globals set them: the webhook builds its verifier at
        # import (Google's signing certificates are fetched at the first push, not at import).
        "GOOGLE_PACKAGE_NAME": gx.PACKAGE,
        "GOOGLE_PUBSUB_AUDIENCE": gx.AUDIENCE,
        "GOOGLE_PUBSUB_SERVICE_ACCOUNT": gx.SERVICE_ACCOUNT,
        "ENTITLEMENT_STRATEGY": "LAST",
        "OFFLINE_GRACE_SECONDS": "86400",
        "POWERTOOLS_SERVICE_NAME": "parity",
        "POWERTOOLS_METRICS_NAMESPACE": "Parity",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "LOG_LEVEL": "INFO",
    }


def write_apple_root(directory: Path) -> Path:
    """The generated test root (tests.support.apple) as a DER file, for APPLE_ROOT_CERTS."""
    from tests.support import apple as fx

    return fx.default_chain().write_root(directory, pem=False)


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A temporary directory for one benchmark's files, removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def quiet_stack(**options: Any) -> Iterator[Any]:
    """The local stack in-process (`tests.support.harness.running_stack`, moto), with what its functions
    print and Powertools' "no metrics" warning kept out of the benchmark's output."""
    from tests.support.harness import running_stack

    with (
        running_stack(**options) as stack,
        contextlib.redirect_stdout(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
        yield stack


def run_python(code: str, env: dict[str, str], importtime: bool = False) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter (this one), as a Lambda container starts it: a failure raises with
    the end of its stderr."""
    args = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", code]
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark process failed:\n{done.stderr[-3000:]}")
    return done


def tagged(stdout: str, tag: str) -> str:
    """What a benchmark process printed after `tag` (its other output is the code's own)."""
    return next(line[len(tag) :].strip() for line in stdout.splitlines() if line.startswith(tag))


def p90(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=10, method="inclusive")[8]


def table(header: Sequence[str], align: str, rows: Iterable[Sequence[object]]) -> list[str]:
    """A Markdown table: `align` has one letter per column, `l` (text) or `r` (numbers)."""
    rule = {"l": "---", "r": "---:"}
    return [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(rule[letter] for letter in align) + " |",
        *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows),
    ]


def verdict(met: bool | None) -> str:
    """A target's `met` cell: yes, **no**, or – when the row has no target."""
    return "–" if met is None else ("yes" if met else "**no**")
