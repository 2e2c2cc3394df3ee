"""Reading `python -X importtime` output: which imports a handler (or a step of it) made, and what they
cost, by top-level module or by package. Used by the cold-start and Play first-call benchmarks."""

from __future__ import annotations

IMPORT_MARK = "--bench-import--"  # written to stderr by a benchmark process just before what it times
GOOGLE_TOP_LEVEL = ("google", "googleapiclient", "apiclient", "google_auth_httplib2", "httplib2")

Import = tuple[int, int, int, str]  # depth, self µs, cumulative µs, module


def imports(stderr: str, start: str = IMPORT_MARK, end: str | None = None) -> list[Import]:
    """Every import logged after `start` (until `end`), in the order `-X importtime` logs them (a module
    after the modules it imported)."""
    text = stderr.split(start, 1)[-1]
    if end is not None:
        text = text.split(end, 1)[0]
    found = []
    for line in text.splitlines():
        if not line.startswith("import time:"):
            continue
        own, cumulative, raw = line[len("import time:") :].split("|")
        if not cumulative.strip().isdigit():  # the header
            continue
        depth = (len(raw) - len(raw.lstrip(" ")) - 1) // 2
        found.append((depth, int(own), int(cumulative), raw.strip()))
    return found


def heaviest_imports(
    stderr: str, top: int = 5, start: str = IMPORT_MARK, end: str | None = None
) -> list[tuple[str, float]]:
    """Top-level (not nested) imports made by the handler module, by cumulative time (ms)."""
    found = [(name, cumulative / 1000) for depth, _, cumulative, name in imports(stderr, start, end) if depth == 0]
    return sorted(found, key=lambda item: -item[1])[:top]


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "google" and len(parts) > 1 else parts[0]


def by_package(logged: list[Import]) -> list[tuple[str, float]]:
    """Self time (ms) of `logged` summed by package (`google.*` by its second name), heaviest first."""
    totals: dict[str, float] = {}
    for _, own, _, name in logged:
        totals[_package(name)] = totals.get(_package(name), 0.0) + own / 1000
    return sorted(totals.items(), key=lambda item: -item[1])


def google_subtrees(stderr: str) -> tuple[list[tuple[str, float]], list[Import]]:
    """The top-level Google imports of a handler module (cumulative ms) and every import under them."""
    roots, inside, pending = [], [], []
    for entry in imports(stderr):
        if entry[0] > 0:
            pending.append(entry)
            continue
        if entry[3].split(".")[0] in GOOGLE_TOP_LEVEL:
            roots.append((entry[3], entry[2] / 1000))
            inside += [*pending, entry]
        pending = []
    return roots, inside


def packages_cell(totals: list[tuple[str, float]], top: int = 6) -> str:
    """A table cell of `by_package` totals: the `top` heaviest, then the rest summed."""
    shown = "; ".join(f"`{name}` {ms:.1f}" for name, ms in totals[:top])
    rest = sum(ms for _, ms in totals[top:])
    return shown + (f"; {len(totals) - top} others {rest:.1f}" if rest else "")


def modules_cell(found: list[tuple[str, float]]) -> str:
    """A table cell of (module, ms) pairs."""
    return "; ".join(f"`{module}` {ms:.1f}" for module, ms in found)
