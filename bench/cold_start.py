"""Cold start: every `functions/*/app.py` imported by path in fresh processes, as the Lambda runtime does,
next to a boto3 baseline; with the layer's byte code and without it; and the heaviest imports of each.

    PYTHONPATH=layers/common:. .venv/bin/python -m bench.cold_start [--runs 15]

(the same as `bench/run.py --only cold`, which adds the Play client's first call, `bench/play.py`).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT, cold_env, p90, run_python, scratch, table, tagged, verdict, write_apple_root
from bench.importtime import (
    GOOGLE_TOP_LEVEL,
    IMPORT_MARK,
    by_package,
    google_subtrees,
    heaviest_imports,
    modules_cell,
    packages_cell,
)

BASELINE = "baseline (boto3 + 1 DynamoDB client)"
PLAY_PROCESSOR = "event_processor + Play (GOOGLE_SERVICE_ACCOUNT_FILE)"


def _targets() -> dict[str, Path]:
    """The baseline, every function, and the event processor again with Play configured (next to it)."""
    targets = {BASELINE: ROOT / "bench" / "baseline_handler.py"}
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        targets[app.parent.name] = app
        if app.parent.name == "event_processor":
            targets[PLAY_PROCESSOR] = app
    return targets


TARGETS = _targets()
COLD_RATIO_TARGET = {"entitlements": 1.3}
# What the warm-up import must have built (the configured path); the run fails otherwise (wrong env).
# The receipts function builds its App Store verifier at the first App Store receipt (`parity.lazy`).
BUILT_AT_IMPORT = {
    "apple_webhook": ("apple_verifier",),
    "google_webhook": ("push_verifier",),
    PLAY_PROCESSOR: ("play_client",),
}
# No target imports a Google library at import: the Google webhook checks Pub/Sub's tokens with
# `cryptography` and attaches no Google layer; receipts and the processor import the Play client's
# libraries at its first call.
GOOGLE_AT_IMPORT: set[str] = set()
# Layer packages the functions import, shipped without byte code in the "layer without byte code" runs.
LAYER_PACKAGES = ("aws_lambda_powertools", "cryptography", "google.auth")

_IMPORT = textwrap.dedent(
    """
    import importlib.util, json, sys, time
    sys.stderr.write({mark!r} + "\\n"); sys.stderr.flush()
    start = time.perf_counter()
    spec = importlib.util.spec_from_file_location("app", {path!r})
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    print("--bench-time--", time.perf_counter() - start)
    if {facts!r}:  # after the timing: what the import built, and whether it imported Google libraries
        import gc
        gc.unfreeze()  # what init built is frozen (parity.end_of_init): get_objects lists no frozen object
        def instances(module_name, class_name):
            cls = getattr(sys.modules.get(module_name), class_name, None)
            return [o for o in gc.get_objects() if isinstance(o, cls)] if cls is not None else []
        push = instances("parity.webhooks.google", "PubSubPushVerifier")
        play = instances("parity.adapters.play_api", "PlayDeveloperApi")
        print("--bench-facts--", json.dumps({{
            "apple_verifier": bool(instances("parity.webhooks.apple", "SignedDataVerifier")),
            "push_verifier": bool(push),
            "certs_fetches": sum(verifier.certs_cache.fetches for verifier in push),
            "play_client": bool(play),
            "play_prepared": any(client._purchases is not None for client in play),
            "google_modules": sorted(m for m in sys.modules if m.split(".")[0] in {google!r}),
        }}))
    """
)


@dataclass
class ColdResult:
    name: str
    samples: list[float]
    top_imports: list[tuple[str, float]]
    deployed_samples: list[float]
    google_roots: list[tuple[str, float]]  # top-level Google imports (cumulative ms), under importtime
    google_by_package: list[tuple[str, float]]  # self ms by package under those imports

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def deployed_median_ms(self) -> float:
        return statistics.median(self.deployed_samples) * 1000

    @property
    def p90_ms(self) -> float:
        return p90(self.samples) * 1000


def write_service_account(directory: Path, token_uri: str = "https://oauth2.googleapis.com/token") -> Path:
    """A Play service-account key file (tests.support.play_api: a freshly generated RSA key)."""
    from tests.support import play_api

    state = play_api.PlayApiState(private_key=play_api.generate_key())
    return state.write_service_account(directory / "play-service-account.json", token_uri=token_uri)


def deployed_layer(directory: Path) -> Path:
    """The layer as SAM's default python builder would ship it: `parity`, Powertools, cryptography and
    google-auth without byte code (and /opt is read-only). `layers/common/Makefile` and
    `layers/google/Makefile` ship byte code; this shows what that saves."""
    import importlib

    layer = directory / "python"
    no_cache = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "layers" / "common" / "parity", layer / "parity", ignore=no_cache)
    for package in LAYER_PACKAGES:  # google.auth: a namespace package's part, merged with the venv's
        source = Path(importlib.import_module(package).__file__).parent
        shutil.copytree(source, layer.joinpath(*package.split(".")), ignore=no_cache)
    return layer


def import_once(
    path: Path,
    env: dict[str, str],
    importtime: bool = False,
    layer: Path | None = None,
    facts: bool = False,
) -> tuple[float, str, dict | None]:
    """Seconds to import the handler at `path` in a fresh process, its stderr, and (with `facts`) what
    the import built; with `layer`, the layer's packages come from there without byte code."""
    code = _IMPORT.format(mark=IMPORT_MARK, path=str(path), facts=facts, google=set(GOOGLE_TOP_LEVEL))
    env = dict(env)
    if layer is not None:  # compiled on every import, as on Lambda
        env.update(PYTHONPATH=os.pathsep.join([str(layer), str(ROOT)]), PYTHONDONTWRITEBYTECODE="1")
    try:
        done = run_python(code, env, importtime)
    except RuntimeError as error:
        raise RuntimeError(f"importing {path}: {error}") from None
    found = json.loads(tagged(done.stdout, "--bench-facts--")) if facts else None
    return float(tagged(done.stdout, "--bench-time--")), done.stderr, found


def check_facts(name: str, facts: dict) -> None:
    """The warm-up import of `name` took its configured path, and imported Google only if expected."""
    problems = [
        f"no {fact} was built at import: its path is not configured"
        for fact in BUILT_AT_IMPORT.get(name, ())
        if not facts[fact]
    ]
    if name in GOOGLE_AT_IMPORT and not facts["google_modules"]:
        problems.append("no Google library was imported at import")
    if name not in GOOGLE_AT_IMPORT and facts["google_modules"]:
        problems.append(f"Google libraries imported at import: {', '.join(facts['google_modules'][:5])}")
    if facts["certs_fetches"]:
        problems.append("the Pub/Sub push verifier fetched Google's certificates at import (network)")
    if facts["play_prepared"]:
        problems.append("the Play client was prepared at import (its Google imports must stay lazy)")
    if problems:
        raise RuntimeError(f"{name}: " + "; ".join(problems))


def target_envs(directory: Path) -> dict[str, dict[str, str]]:
    """Each target's environment: the template's, plus a Play key file for the Play row."""
    base = cold_env(write_apple_root(directory))
    account = write_service_account(directory)
    play = {**base, "GOOGLE_SERVICE_ACCOUNT_FILE": str(account)}
    return {name: play if name == PLAY_PROCESSOR else base for name in TARGETS}


def cold_starts(runs: int) -> dict[str, ColdResult]:
    """`runs` imports of every target with the layer's byte code and as many without, interleaved after
    one checked warm-up each, then one `-X importtime` import each for the heaviest imports."""
    with scratch("parity-bench-") as directory:
        envs = target_envs(directory)
        for name, path in TARGETS.items():  # warm-up: byte code compiled, files in the page cache
            check_facts(name, import_once(path, envs[name], facts=True)[2])
        layer = deployed_layer(directory / "layer")
        samples: dict[str, list[float]] = {name: [] for name in TARGETS}
        deployed: dict[str, list[float]] = {name: [] for name in TARGETS}
        for _ in range(runs):
            for name, path in TARGETS.items():
                samples[name].append(import_once(path, envs[name])[0])
                deployed[name].append(import_once(path, envs[name], layer=layer)[0])
        results = {}
        for name, path in TARGETS.items():
            stderr = import_once(path, envs[name], importtime=True)[1]
            roots, inside = google_subtrees(stderr)
            results[name] = ColdResult(
                name, samples[name], heaviest_imports(stderr), deployed[name], roots, by_package(inside)
            )
        return results


# -- the report


def render(cold: dict[str, ColdResult], runs: int, prepare: tuple[str, str, str] | None = None) -> list[str]:
    """The cold-start section: the timing table, the heaviest imports, and the Google imports (with
    `prepare`, the Play client's row from `bench.play.google_import_row`)."""
    return [
        "## Cold start: importing the handler module in a fresh process",
        "",
        *_method(runs),
        "",
        *_timings(cold),
        "",
        "Heaviest top-level imports (`python -X importtime`, cumulative ms, one run; importtime inflates",
        "absolute times). `parity.adapters.dynamodb` is where the functions first import boto3, so it holds",
        "the baseline's `boto3` cost; `parity.webhooks.apple` holds `cryptography`'s.",
        "",
        *table(("function", "top 5"), "ll", ((name, modules_cell(r.top_imports)) for name, r in cold.items())),
        "",
        *_google_imports(cold, prepare),
    ]


def _method(runs: int) -> list[str]:
    return [
        f"{runs} fresh `python -c` processes per function (every `functions/*/app.py`), interleaved, after one",
        "warm-up each; the time is `time.perf_counter()` around loading `functions/<name>/app.py` by path",
        "(module code, settings, clients built at import). Interpreter start-up is not included, for the",
        "functions or the baseline. The environment is the template's, with the App Store configured",
        "(`APPLE_BUNDLE_ID`, `APPLE_ENVIRONMENT=Sandbox`, `APPLE_ROOT_CERTS` = a generated root, DER): `apple_webhook`",
        "and `receipts` build the verifier (trust anchors loaded) at import, and the warm-up checks they did.",
        "Google Play pushes are configured too (`GOOGLE_PACKAGE_NAME`, `GOOGLE_PUBSUB_AUDIENCE`,",
        "`GOOGLE_PUBSUB_SERVICE_ACCOUNT`): `google_webhook` builds its Pub/Sub push verifier (google-auth) at",
        "import; Google's signing certificates are fetched at the first push, and the warm-up checks that no",
        "fetch happened. The row `" + PLAY_PROCESSOR + "` imports the event processor",
        "with the Play Developer API configured as well (a service-account JSON generated by",
        "`tests.support.play_api`): the client is built and the key's shape checked at import, while the Google",
        "libraries are imported at the first Play call (below). The warm-up also checks that no other target",
        "imports a Google library at import.",
        "The target applies to the first columns (byte code cached), which is how the layers are deployed:",
        "their builds (`layers/common/Makefile`, `layers/google/Makefile`) ship compiled byte code. The last two",
        "columns show what that saves: `parity`, Powertools, cryptography and google-auth imported from a copy",
        "without byte code, with `PYTHONDONTWRITEBYTECODE=1`, as SAM's default python builder would ship them",
        "(no `.pyc`, read-only `/opt`); boto3 keeps its byte code.",
    ]


def _timings(cold: dict[str, ColdResult]) -> list[str]:
    base, deployed_base = cold[BASELINE].median_ms, cold[BASELINE].deployed_median_ms
    rows = []
    for name, result in cold.items():
        ratio, limit = result.median_ms / base, COLD_RATIO_TARGET.get(name)
        rows.append((
            name,
            f"{result.median_ms:.1f}",
            f"{result.p90_ms:.1f}",
            f"{ratio:.2f}",
            f"≤ {limit}× baseline" if limit else "–",
            verdict(ratio <= limit if limit else None),
            f"{result.deployed_median_ms:.1f}",
            f"{result.deployed_median_ms / deployed_base:.2f}",
        ))
    header = (
        "function", "median (ms)", "p90 (ms)", "× baseline (median)", "target", "met",
        "median, layer without byte code (ms)", "× baseline",
    )
    return table(header, "lrrrllrr", rows)


def _google_imports(cold: dict[str, ColdResult], prepare: tuple[str, str, str] | None) -> list[str]:
    rows = [
        (f"{result.name}, at import", modules_cell(result.google_roots), packages_cell(result.google_by_package))
        for result in cold.values()
        if result.google_roots
    ]
    if prepare:
        rows.append(prepare)
    if not rows:
        return []
    return [
        "Google imports (same `-X importtime` runs): the top-level Google imports and, under them, self time",
        "summed by package (`google.*` by its second name), ms. The webhook's happen at import (the push",
        "verifier); the processor's in `prepare()`, i.e. at its first Play call.",
        "",
        *table(("where", "Google imports (cumulative ms)", "by package (self ms)"), "lll", rows),
        "",
    ]


if __name__ == "__main__":
    from bench import run

    raise SystemExit(run.main(["--only", "cold", *sys.argv[1:]]))
