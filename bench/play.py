"""The Play client's first call in a container: the event processor imported with the Play Developer API
configured, then `prepare()` (the lazy Google imports and the service build) and two calls timed against
the local fake of the API and token endpoint (`tests.support.play_api`). Helper data for the cold-start
row of the processor with Play configured; `bench/run.py --only cold` runs it after `bench.cold_start`.
"""

from __future__ import annotations

import json
import statistics
import textwrap
from dataclasses import dataclass

from bench.cold_start import PLAY_PROCESSOR, TARGETS
from bench.common import cold_env, p90, run_python, scratch, table, tagged, write_apple_root
from bench.importtime import by_package, heaviest_imports, imports, modules_cell, packages_cell

PREPARE_START, PREPARE_END = "--bench-prepare--", "--bench-prepared--"
_PLAY = textwrap.dedent(
    """
    import gc, importlib.util, json, os, sys, time
    start = time.perf_counter()
    spec = importlib.util.spec_from_file_location("app", {path!r})
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    imported = time.perf_counter()
    from parity.adapters.play_api import SCOPE, PlayDeveloperApi
    gc.unfreeze()  # what init built is frozen (parity.end_of_init): get_objects lists no frozen object
    client = next(o for o in gc.get_objects() if isinstance(o, PlayDeveloperApi))
    sys.stderr.write({start!r} + "\\n"); sys.stderr.flush()
    t0 = time.perf_counter()
    # prepare() in two parts: the modules it imports (imported here first, as it imports them), then
    # the rest of it (key loaded by google-auth, transport, service built from the shipped document).
    import google_auth_httplib2, httplib2
    from google.oauth2 import service_account
    from googleapiclient.discovery import build_from_document
    from googleapiclient.discovery_cache import get_static_doc
    t1 = time.perf_counter()
    client.prepare()
    t2 = time.perf_counter()
    sys.stderr.write({end!r} + "\\n"); sys.stderr.flush()
    first = client.get_subscription_v2({package!r}, {token!r})
    t3 = time.perf_counter()
    second = client.get_subscription_v2({package!r}, {token!r})
    t4 = time.perf_counter()
    assert first["lineItems"] and second["lineItems"]
    # Afterwards, parts of prepare() again, alone (warm): google-auth loading the key; the service build.
    info = json.loads(open(os.environ["GOOGLE_SERVICE_ACCOUNT_FILE"]).read())
    k0 = time.perf_counter()
    service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])
    k1 = time.perf_counter()
    build_from_document(get_static_doc("androidpublisher", "v3"), http=httplib2.Http())
    k2 = time.perf_counter()
    times = {{
        "import": imported - start, "prepare": t2 - t0, "prepare_imports": t1 - t0, "prepare_rest": t2 - t1,
        "key": k1 - k0, "build": k2 - k1, "first": t3 - t2, "second": t4 - t3, "first_total": t3 - t0,
    }}
    print("--bench-play--", json.dumps(times))
    """
)
PLAY_STEPS = (
    ("import", "import of `event_processor/app.py` (Play configured: client built, key's shape checked)"),
    ("prepare", "`prepare()`"),
    ("prepare_imports", "`prepare()`, part 1: the Google modules it imports"),
    ("prepare_rest", "`prepare()`, part 2: key loaded by google-auth, httplib2 transport, service built"),
    ("key", "part 2 in detail: google-auth loading the key (`from_service_account_info`, timed again afterwards)"),
    ("build", "part 2 in detail: `build_from_document`, the shipped androidpublisher v3 document (again afterwards)"),
    ("first", "first call: access-token grant (RS256 JWT, POST to `token_uri`) + `subscriptionsv2.get`"),
    ("second", "second call: `subscriptionsv2.get` (token cached)"),
    ("first_total", "**first Play call of a container: `prepare()` + first call**"),
)


@dataclass
class PlayResult:
    samples: dict[str, list[float]]  # seconds, by step
    prepare_imports: list[tuple[str, float]]  # top-level imports in prepare(), cumulative ms
    prepare_by_package: list[tuple[str, float]]  # self ms by package in prepare()
    token_grants: int
    api_requests: int

    def median_ms(self, step: str) -> float:
        return statistics.median(self.samples[step]) * 1000

    def p90_ms(self, step: str) -> float:
        return p90(self.samples[step]) * 1000


def play_first_call(runs: int) -> PlayResult:
    """`runs` fresh processes (after one warm-up) import the processor with Play configured, then time
    prepare() and two calls against tests.support.play_api's fake of the API and token endpoint."""
    from tests.support import play_api

    token = "bench-play-token"
    with scratch("parity-bench-play-") as directory, play_api.play_api_server(play_api.generate_key()) as fake:
        fake.add_subscription(token)
        env = {
            **cold_env(write_apple_root(directory)),
            "GOOGLE_SERVICE_ACCOUNT_FILE": str(fake.write_service_account(directory / "play-service-account.json")),
            "GOOGLE_API_BASE": fake.base_url,
            "POWERTOOLS_LOG_LEVEL": "ERROR",
        }
        code = _PLAY.format(
            path=str(TARGETS[PLAY_PROCESSOR]),
            start=PREPARE_START,
            end=PREPARE_END,
            package=play_api.PACKAGE,
            token=token,
        )
        samples: dict[str, list[float]] = {step: [] for step, _ in PLAY_STEPS}
        for run in range(runs + 1):
            times = json.loads(tagged(run_python(code, env).stdout, "--bench-play--"))
            if run:  # the first is the warm-up
                for step, _ in PLAY_STEPS:
                    samples[step].append(times[step])
        stderr = run_python(code, env, importtime=True).stderr
        result = PlayResult(
            samples,
            heaviest_imports(stderr, start=PREPARE_START, end=PREPARE_END),
            by_package(imports(stderr, PREPARE_START, PREPARE_END)),
            len(fake.token_requests),
            len(fake.requests),
        )
    processes = runs + 2
    if result.token_grants != processes or result.api_requests != 2 * processes:
        raise RuntimeError(
            f"expected one token grant and two API requests per process ({processes} processes), "
            f"the fake saw {result.token_grants} and {result.api_requests}"
        )
    return result


def google_import_row(play: PlayResult) -> tuple[str, str, str]:
    """The processor's row of the cold-start section's Google imports table: those made by `prepare()`."""
    return "event_processor, `prepare()`", modules_cell(play.prepare_imports), packages_cell(play.prepare_by_package)


def render(play: PlayResult) -> list[str]:
    """The first-call table, below the cold-start section."""
    rows = ((label, f"{play.median_ms(step):.1f}", f"{play.p90_ms(step):.1f}") for step, label in PLAY_STEPS)
    runs = len(play.samples["prepare"])
    return [
        "The Play client's first call (helper data for the row `" + PLAY_PROCESSOR + "`):",
        f"{runs} fresh processes (after one warm-up) import the processor with Play configured and",
        "`GOOGLE_API_BASE` and the key file's `token_uri` pointing at `tests.support.play_api`'s fake of the",
        "Play Developer API and of Google's token endpoint on 127.0.0.1, then time the steps below. The fake",
        "saw one token grant and two API requests per process",
        f"({play.token_grants} and {play.api_requests} in all, the warm-up and importtime runs included).",
        "On AWS the first call also waits for two round trips to Google (token endpoint, API) and the second",
        "for one, which the local fake does not show.",
        "",
        *table(("step", "median (ms)", "p90 (ms)"), "lrr", rows),
        "",
    ]
