"""`make demo` against a local stack in the demo configuration on a non-default port: all three stores.

The stack (`python -m local`, nothing configured but PORT and where to write its connection file) runs
the demo identity provider and the demo App Store and Google Play apps (`local/demo_stores.py`). The
demo finds it through the connection file, or through PORT, never by assuming port 3000.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, STARTUP_TIMEOUT, free_port, wait_until

DEMO_TIMEOUT = 120


def _clean_env(**settings: str) -> dict[str, str]:
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if name in os.environ}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)]), **settings)
    return env


@pytest.fixture(scope="module")
def demo_stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    port = free_port()
    connection = workdir / "local.json"
    log_path = workdir / "stack.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "local"],
            cwd=ROOT,
            env=_clean_env(PORT=str(port), PARITY_LOCAL_FILE=str(connection), PARITY_STATE_DIR=str(workdir / "state")),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"the stack exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(base_url + "/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        wait_until(healthy, timeout=STARTUP_TIMEOUT)
        yield base_url, port, connection, log_path
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 0, log_path.read_text()[-3000:]
    assert "Traceback" not in log_path.read_text()


def run_demo(cwd: Path, *args: str, **settings: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "local.demo", *args],
        cwd=cwd,
        env=_clean_env(**settings),
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT,
    )


def test_demo_finds_the_stack_through_its_connection_file_and_runs_all_three_stores(demo_stack):
    base_url, port, connection, log_path = demo_stack
    assert port != 3000
    assert json.loads(connection.read_text())["baseUrl"] == base_url
    # The banner follows the first answers by a moment (the stack serves, then prints it).
    wait_until(lambda: "Google Play: demo package" in log_path.read_text())
    assert "App Store: demo app" in log_path.read_text()

    done = run_demo(ROOT, PARITY_LOCAL_FILE=str(connection))

    assert done.returncode == 0, done.stdout[-4000:] + done.stderr
    assert f"Parity stack at {base_url}" in done.stdout
    assert "demo: stripe, app_store, play_store passed" in done.stdout
    for route in ("/webhooks/stripe", "/webhooks/apple", "/webhooks/google"):
        assert f"POST {route}" in done.stdout
    assert '"store": "app_store"' in done.stdout and '"store": "play_store"' in done.stdout


def test_demo_follows_port_and_runs_one_store(demo_stack, tmp_path):
    base_url, port, connection, log_path = demo_stack
    # No connection file where it looks by default: PORT alone names the stack.
    done = run_demo(ROOT, "--store", "play_store", PORT=str(port), PARITY_LOCAL_FILE=str(tmp_path / "none.json"))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr
    assert "demo: play_store passed" in done.stdout
    assert "=== stripe ===" not in done.stdout


def test_demo_says_where_it_looked_when_no_stack_answers(tmp_path):
    done = run_demo(ROOT, PORT=str(free_port()))
    assert done.returncode == 1
    assert "No Parity stack answers at http://127.0.0.1:" in done.stderr


def test_a_stack_configured_for_real_runs_no_demo_store(parity):
    """The session's stack trusts its own (configured) Apple root and Google keys only: no demo routes."""
    assert parity.request("POST", "/_demo/apple/sign", b"{}").status == 404
    assert parity.request("POST", "/_demo/google/purchase", b"{}").status == 404
    done = run_demo(ROOT, "--store", "app_store,play_store", PARITY_URL=parity.base_url)
    assert done.returncode == 1
    assert "skipped" in done.stderr or "no demo token" in done.stderr, done.stderr
