"""The local stack's connection file: where a running stack listens, for the operator console
(`parity --local`, which reads it with its own copy of these rules: it is installed without `local/`)
and for `make demo`. Standard library only: the demo imports it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

CONNECTION_FILE_ENV = "PARITY_LOCAL_FILE"
CONNECTION_FILE = Path(__file__).resolve().parent.parent / ".parity" / "local.json"


def connection_file_path(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get(CONNECTION_FILE_ENV) or CONNECTION_FILE)


def pid_alive(pid) -> bool:
    """Whether a process with this id runs (one of another user counts: it exists)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
