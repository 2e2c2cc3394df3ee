"""What commands print: one JSON document (`--json`) or text for people; notes and progress on stderr."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from parity_cli.progress import NullProgress, Progress


class Output:
    def __init__(
        self,
        stdout: TextIO,
        stderr: TextIO,
        json_mode: bool = False,
        tty: bool | None = None,
        progress_delay: float = 1.0,
    ) -> None:
        self.stdout, self.stderr, self.json_mode = stdout, stderr, json_mode
        self._tty = tty  # None: ask stderr
        self._progress_delay = progress_delay

    def result(self, data: Any, render: Callable[[Any], str]) -> None:
        """The command's result: `data` as JSON with `--json`, else `render(data)`."""
        if self.json_mode:
            json.dump(data, self.stdout, indent=2, sort_keys=False, default=str)
            self.stdout.write("\n")
        else:
            text = render(data)
            self.stdout.write(text if text.endswith("\n") else text + "\n")
        self.stdout.flush()

    def note(self, text: str) -> None:
        """A remark for people (stderr), never mixed into the JSON on stdout."""
        if not self.json_mode:
            self.stderr.write(text + "\n")
            self.stderr.flush()

    def progress(self, label: str, total: int | None = None, unit: str = "messages") -> Progress:
        if self.json_mode:
            return NullProgress(label, total, unit)
        return Progress(self.stderr, label, total, unit, tty=self._tty, delay=self._progress_delay)

    def error(self, message: str, code: str) -> None:
        self.stderr.write(f"parity: error: {message}\n")
        self.stderr.flush()
        if self.json_mode:
            json.dump({"error": {"code": code, "message": message}}, self.stdout, indent=2)
            self.stdout.write("\n")
            self.stdout.flush()


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = ()) -> str:
    """A plain text table: a header, a rule, the rows; columns `right` (indexes) aligned right."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            (value.rjust(widths[i]) if i in right else value.ljust(widths[i])) for i, value in enumerate(row)
        ).rstrip()

    return "\n".join([line(cells[0]), line(["-" * w for w in widths]), *(line(row) for row in cells[1:])])


def shorten(text: str | None, width: int) -> str:
    if not text:
        return ""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"
