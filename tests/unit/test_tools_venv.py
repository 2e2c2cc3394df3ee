"""scripts/tools_venv.sh finds a Python 3.12 (PATH, pyenv's versions, uv-managed ones) or says what to install."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _python312() -> str | None:
    found = shutil.which("python3.12")
    candidates = ([found] if found else []) + sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.12.*/bin/python3.12")))
    for candidate in candidates:
        done = subprocess.run([candidate, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True)
        if done.returncode == 0:
            return done.stdout.strip()
    return None


PYTHON312 = _python312()


def source(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Sources tools_venv.sh in a bare environment (no python3.12 on PATH, an empty HOME) and prints PY."""
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"), "PYENV_ROOT": str(tmp_path / "pyenv")}
    script = f'set -euo pipefail; ROOT="{tmp_path}"; source "{ROOT}/scripts/tools_venv.sh"; echo "PY=$PY"; command -v python3.12'
    return subprocess.run(["bash", "-c", script], env={**base, **env}, capture_output=True, text=True, timeout=60)


def test_without_a_python312_it_says_exactly_what_to_install(tmp_path):
    done = source(tmp_path)
    if done.returncode == 0 and "/usr/bin/python3.12" in done.stdout:
        pytest.skip("this machine has /usr/bin/python3.12")
    assert done.returncode == 1
    for line in ("uv python install 3.12", "pyenv install 3.12", "apt-get install python3.12", "brew install python@3.12", "PYTHON312="):
        assert line in done.stderr


def test_a_candidate_of_another_version_is_not_taken(tmp_path):
    fake = tmp_path / "bin" / "python3.12"
    fake.parent.mkdir()
    fake.symlink_to(shutil.which("python3") or "/usr/bin/python3")  # not 3.12 in the tools' sense unless it is
    done = source(tmp_path, PATH=f"{fake.parent}:/usr/bin:/bin")
    if done.returncode == 0:
        assert "3.12" in subprocess.run([done.stdout.split("PY=")[1].split()[0], "--version"], capture_output=True, text=True).stdout
    else:
        assert "Python 3.12 not found" in done.stderr


@pytest.mark.skipif(PYTHON312 is None, reason="no Python 3.12 on this machine")
@pytest.mark.parametrize("layout", ["pyenv/versions/3.12.4/bin/python3.12", "home/.local/share/uv/python/cpython-3.12.4-linux-x86_64-gnu/bin/python3.12"])
def test_pyenv_and_uv_installations_are_found(tmp_path, layout):
    link = tmp_path / layout
    link.parent.mkdir(parents=True)
    link.symlink_to(PYTHON312)
    done = source(tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"PY={link}" in done.stdout  # the interpreter's own sys.executable (a pyenv shim resolves to it)
    assert done.stdout.strip().endswith("python3.12")  # sam build finds python3.12 on PATH


@pytest.mark.skipif(PYTHON312 is None, reason="no Python 3.12 on this machine")
def test_python312_variable_wins(tmp_path):
    done = source(tmp_path, PYTHON312=PYTHON312)
    assert done.returncode == 0 and f"PY={PYTHON312}" in done.stdout, done.stderr
