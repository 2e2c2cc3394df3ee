"""Failures the console reports as a message (no traceback) with an exit code."""

from __future__ import annotations


class CliError(Exception):
    """Something the operator can act on: `message` is shown; `code` names it in `--json` output."""

    def __init__(self, message: str, code: str = "failed", exit_code: int = 1) -> None:
        super().__init__(message)
        self.message, self.code, self.exit_code = message, code, exit_code
