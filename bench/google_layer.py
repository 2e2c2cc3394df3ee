"""GoogleLayer as built next to an unpruned install of `layers/google/requirements.txt` (pip,
manylinux2014_x86_64 / cp312, by a Python 3.12 interpreter: `$BENCH_PYTHON312`, `.venv-tools/bin/python`
or `python3.12`), distribution by distribution: what the layer's build drops, and what that saves. Part of
the size benchmark (`bench.sizes`)."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common import ROOT, table
from bench.disk import files, mb, measured, zipped_size

if TYPE_CHECKING:
    from bench.sizes import Artifact

GOOGLE_MAKEFILE = ROOT / "layers" / "google" / "Makefile"
GOOGLE_REQUIREMENTS = ROOT / "layers" / "google" / "requirements.txt"
PIP_TARGET_OPTIONS = (
    "--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.12", "--only-binary=:all:"
)  # as layers/*/Makefile install
DOCUMENTS = Path("googleapiclient") / "discovery_cache" / "documents"
NO_RECORD = "(in no RECORD)"


@dataclass
class PrunedRow:
    distribution: str
    unpruned: int  # bytes in the unpruned install
    layer: int  # bytes in GoogleLayer as built
    action: str


@dataclass
class PrunedLayer:
    python: str
    rows: list[PrunedRow]
    unpruned: int
    unpruned_zipped: int
    unpruned_files: int
    documents: tuple[int, int]  # unpruned: count, bytes
    layer_documents: tuple[int, int]


def _makefile_lists(makefile: Path) -> dict[str, list[str]]:
    """`NAME = words` assignments of a Makefile (continuation lines joined)."""
    text = makefile.read_text().replace("\\\n", " ")
    found = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip().isidentifier() and not name.startswith(("\t", " ")) and ":" not in name:
            found[name.strip()] = value.split()
    return found


def _owners(root: Path) -> dict[Path, str]:
    """File → distribution, from each dist-info's RECORD; the byte code of a listed .py goes with it
    (compileall's .pyc files are in no RECORD)."""
    owners: dict[Path, str] = {}
    for info in root.glob("*.dist-info"):
        dist = info.name.split("-")[0]
        for path in info.rglob("*"):
            owners[path] = dist
        for row in csv.reader((info / "RECORD").read_text().splitlines()):
            entry = row[0] if row else ""
            if not entry or entry.startswith("../"):
                continue
            path = root / entry
            owners[path] = dist
            if path.suffix == ".py":
                owners[path.parent / "__pycache__" / f"{path.stem}.cpython-312.pyc"] = dist
    return owners


def _by_distribution(root: Path) -> dict[str, int]:
    owners, sizes = _owners(root), {}
    for path in files(root):
        owner = owners.get(path, NO_RECORD)
        sizes[owner] = sizes.get(owner, 0) + path.lstat().st_size
    return sizes


def python312() -> str | None:
    """A Python 3.12 interpreter with pip: $BENCH_PYTHON312, .venv-tools (sam's), python3.12."""
    for candidate in (
        os.environ.get("BENCH_PYTHON312"),
        str(ROOT / ".venv-tools" / "bin" / "python"),
        shutil.which("python3.12"),
        "/root/.pyenv/versions/3.12.1/bin/python3.12",  # scripts/check_template.sh's first choice
    ):
        if not candidate:
            continue
        done = subprocess.run(
            [candidate, "-c", "import sys, pip; print(sys.version_info[:2] == (3, 12))"],
            capture_output=True, text=True, check=False,
        ) if os.path.exists(candidate) else None
        if done is not None and done.returncode == 0 and done.stdout.strip() == "True":
            return candidate
    return None


def _actions(target: Path, layer: dict[str, int]) -> dict[str, str]:
    """What the layer's build does with each distribution it treats apart (`layers/google/Makefile`'s lists);
    the others are kept."""
    lists = _makefile_lists(GOOGLE_MAKEFILE)
    keep = " ".join(lists.get("KEEP_DOCUMENT", [])) or "?"
    owners = _owners(target)
    tops = sorted({path.relative_to(target).parts[0] for path in files(target) if path not in owners})
    where = ", ".join(f"`{top}/`" if (target / top).is_dir() else f"`{top}`" for top in tops)
    unlisted = where if layer.get(NO_RECORD) else f"files no RECORD lists ({where}: pip's console scripts); removed"
    return {  # later entries win: UNUSED over IN_COMMON_LAYER over the two named ones
        NO_RECORD: unlisted,
        "google_api_python_client": f"kept; discovery documents pruned to `{keep}`",
        **{dist: "dropped: ships in CommonLayer (`IN_COMMON_LAYER`)" for dist in lists.get("IN_COMMON_LAYER", [])},
        **{dist: "dropped: not imported by a discovery client (`UNUSED`)" for dist in lists.get("UNUSED", [])},
    }


def pruned_vs_unpruned(layer_root: Path, directory: Path) -> tuple[PrunedLayer | None, str]:
    """GoogleLayer as built next to `pip install -r layers/google/requirements.txt` for the same target
    (pip's own byte code included, as the layer ships its own), distribution by distribution."""
    python = python312()
    if python is None:
        return None, "no Python 3.12 with pip found (set BENCH_PYTHON312)"
    target = directory / "google-unpruned"
    done = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(GOOGLE_REQUIREMENTS),
         "-t", str(target), *PIP_TARGET_OPTIONS],
        capture_output=True, text=True, check=False, timeout=900,
    )
    if done.returncode != 0:
        return None, f"pip install failed: {done.stderr.strip().splitlines()[-1:]}"
    before, after = _by_distribution(target), _by_distribution(layer_root / "python")
    actions = _actions(target, after)
    rows = [
        PrunedRow(dist, before.get(dist, 0), after.get(dist, 0), actions.get(dist, "kept"))
        for dist in sorted(set(before) | set(after), key=lambda d: (-before.get(d, 0), d))
    ]
    count, unpruned = measured(target)
    report = PrunedLayer(
        os.path.relpath(python, ROOT) if python.startswith(str(ROOT)) else python,
        rows,
        unpruned,
        zipped_size(target, directory),
        count,
        measured(target / DOCUMENTS),
        measured(layer_root / "python" / DOCUMENTS),
    )
    shutil.rmtree(target, ignore_errors=True)
    return report, ""


def render_pruned(pruned: PrunedLayer, google_layer: Artifact) -> list[str]:
    """The size section's last table: GoogleLayer against the unpruned install, with the totals."""
    (count, size), (kept_count, kept_size) = pruned.documents, pruned.layer_documents
    rows = [(row.distribution, mb(row.unpruned), mb(row.layer), row.action) for row in pruned.rows]
    rows += [
        (
            f"**total, unzipped** ({pruned.unpruned_files:,} / {google_layer.files:,} files)",
            f"**{mb(pruned.unpruned)}**",
            f"**{mb(google_layer.unzipped)}**",
            f"{google_layer.unzipped / pruned.unpruned:.1%} of the unpruned size",
        ),
        (
            "**total, zipped**",
            f"**{mb(pruned.unpruned_zipped)}**",
            f"**{mb(google_layer.zipped)}**",
            f"{google_layer.zipped / pruned.unpruned_zipped:.1%}",
        ),
    ]
    return [
        "GoogleLayer as built (`layers/google/Makefile`) against an unpruned install of",
        "`layers/google/requirements.txt` (`pip install -t`, manylinux2014_x86_64 / cp312 wheels as the Makefile",
        f"installs them, by `{pruned.python}`; pip's byte code included, as the layer ships its own), by",
        "distribution (files attributed by each `RECORD`, byte code with its source). The discovery documents:",
        f"{count:,} files, {mb(size)} MB unpruned; {kept_count:,} file, {mb(kept_size)} MB in the layer.",
        "",
        *table(("distribution", "unpruned (MB)", "GoogleLayer (MB)", "layer build"), "lrrl", rows),
        "",
    ]
