"""The init phase on Lambda: the cyclic garbage collector is off while a handler module is imported, and on
again (with what init built frozen) once its handler is wrapped; elsewhere it is never touched."""

from __future__ import annotations

import json
import subprocess
import sys

# the cold-start benchmarks' Lambda-like environment
from bench.common import ROOT, cold_env, scratch, write_apple_root

HANDLERS = sorted(path.parent.name for path in (ROOT / "functions").glob("*/app.py"))


# Each handler module imported as Lambda's init would, in one interpreter: the collector switched off as
# `import parity` does on Lambda, then the module run; what the collector looks like afterwards is printed.
INIT = """
import gc, json, runpy, sys
import parity
states = {"after_import_parity": gc.isenabled()}
for name in sys.argv[1:]:
    gc.disable()
    runpy.run_path(f"functions/{name}/app.py")
    states[name] = [gc.isenabled(), gc.get_freeze_count() > 0]
print(json.dumps(states))
"""


def run_init(env_extra: dict[str, str]) -> dict:
    with scratch("parity-init-") as directory:
        env = {**cold_env(write_apple_root(directory)), **env_extra}
        done = subprocess.run(
            [sys.executable, "-c", INIT, *HANDLERS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_on_lambda_init_runs_without_the_collector_and_every_handler_turns_it_back_on():
    states = run_init({"AWS_LAMBDA_FUNCTION_NAME": "parity-test"})
    assert states.pop("after_import_parity") is False
    assert states == {name: [True, True] for name in HANDLERS}


def test_elsewhere_importing_parity_leaves_the_collector_alone():
    env = {"AWS_LAMBDA_FUNCTION_NAME": ""}
    script = "import gc, parity; print(gc.isenabled(), gc.get_freeze_count())"
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "layers" / "common"), **env},
        capture_output=True,
        text=True,
    )
    assert done.stdout.split() == ["True", "0"], done.stderr


WEBHOOKS = ("stripe_webhook", "apple_webhook", "google_webhook")
MODEL = "parity.domain.model"


def test_the_app_store_and_play_webhooks_do_not_load_the_purchase_model():
    # They verify, store and enqueue: the purchase model's dataclasses (~40 M instructions at import)
    # are the processor's. The Stripe webhook reads its event's routing key with Stripe's normalizer.
    script = "import runpy, sys; runpy.run_path(sys.argv[1]); print('{}' in sys.modules)".format(MODEL)
    loaded = {}
    with scratch("parity-init-") as directory:
        env = cold_env(write_apple_root(directory))
        for name in WEBHOOKS:
            done = subprocess.run(
                [sys.executable, "-c", script, f"functions/{name}/app.py"], cwd=ROOT, env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, done.stderr[-2000:]
            loaded[name] = done.stdout.split()[-1] == "True"
    assert loaded == {"stripe_webhook": True, "apple_webhook": False, "google_webhook": False}
