"""Deployed size of each function, from `.aws-sam/build` (run `scripts/check_template.sh`, or `sam build`,
first; skipped with a message when it is missing): each function's artifact and the layers it attaches
(the built template's Globals plus its own `Layers`), summed on disk and zipped (zipfile, deflate),
against Lambda's 250 MB unzipped limit, and the Google libraries each one ships. Then GoogleLayer as
built next to an unpruned install (`bench.google_layer`).

    PYTHONPATH=layers/common:. .venv/bin/python -m bench.sizes
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import ROOT, scratch, table
from bench.disk import MB, mb, measured, zipped_size
from bench.google_layer import PrunedLayer, pruned_vs_unpruned, render_pruned

BUILD = ROOT / ".aws-sam" / "build"
LAMBDA_UNZIPPED_LIMIT = 250 * MB
SIZE_SKIPPED = "`.aws-sam/build` is missing: run `scripts/check_template.sh` (or `sam build`) first."


@dataclass
class Artifact:
    name: str  # the built template's logical id
    path: Path
    files: int
    unzipped: int  # bytes: the sum of the files' sizes, as Lambda counts the unzipped size
    zipped: int  # bytes: a deflate zip of the directory (zipfile, as SAM packages it)
    google: list[str]  # Google distributions shipped ("name version"), plus Google packages without one


@dataclass
class FunctionSize:
    name: str
    source: str  # the CodeUri built (functions/<name>)
    own: Artifact
    layers: list[Artifact]

    @property
    def unzipped(self) -> int:
        return self.own.unzipped + sum(layer.unzipped for layer in self.layers)

    @property
    def zipped(self) -> int:
        return self.own.zipped + sum(layer.zipped for layer in self.layers)

    @property
    def google(self) -> list[str]:
        return sorted({name for artifact in (self.own, *self.layers) for name in artifact.google})


@dataclass
class SizeReport:
    built: str  # when .aws-sam/build/template.yaml was written
    functions: list[FunctionSize]
    layers: list[Artifact]
    pruned: PrunedLayer | None
    pruned_note: str = ""  # why the unpruned install is missing


def _distributions(root: Path) -> list[tuple[str, str]]:
    """(name, version) of the distributions installed in `root` (or root/python, a layer)."""
    found = []
    for base in (root, root / "python"):
        for info in sorted(base.glob("*.dist-info")):
            metadata = {}
            for line in (info / "METADATA").read_text(errors="replace").splitlines():
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                metadata.setdefault(key.strip(), value.strip())
            found.append((metadata.get("Name", info.name.split("-")[0]), metadata.get("Version", "?")))
    return found


def _google_shipped(root: Path) -> list[str]:
    """The Google distributions in `root`, and Google packages that came without one (copied in)."""
    names = [f"{name} {version}" for name, version in _distributions(root) if name.lower().startswith("google")]
    if not names:
        for base in (root, root / "python"):
            copied = [package for package in ("google", "googleapiclient") if (base / package).is_dir()]
            names += [f"{package}/ (no dist-info)" for package in copied]
    return names


def measure_artifact(name: str, root: Path, directory: Path) -> Artifact:
    """Files, unzipped and zipped bytes of one built artifact, and the Google libraries it ships."""
    count, unzipped = measured(root)
    return Artifact(name, root, count, unzipped, zipped_size(root, directory), _google_shipped(root))


def _refs(value) -> list[str]:
    return [entry["Ref"] for entry in value or [] if isinstance(entry, dict) and "Ref" in entry]


def _sources() -> dict[str, str]:
    """Logical id → the source CodeUri, from .aws-sam/build.toml (sam build's record)."""
    import tomllib

    record = ROOT / ".aws-sam" / "build.toml"
    if not record.exists():
        return {}
    found = {}
    for definition in tomllib.loads(record.read_text()).get("function_build_definitions", {}).values():
        for function in definition.get("functions", []):
            found[function] = os.path.relpath(definition.get("codeuri", ""), ROOT)
    return found


def _functions(document: dict, layers: dict[str, Artifact], directory: Path) -> list[FunctionSize]:
    """Every function of the built template with the layers it attaches (SAM appends a function's own
    `Layers` to the Globals' list)."""
    global_layers = _refs(document.get("Globals", {}).get("Function", {}).get("Layers"))
    sources, functions = _sources(), []
    for name, resource in sorted(document["Resources"].items()):
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        attached = [*global_layers, *_refs(properties.get("Layers"))]
        functions.append(
            FunctionSize(
                name,
                sources.get(name, properties["CodeUri"]),
                measure_artifact(name, BUILD / properties["CodeUri"], directory),
                [layers[layer] for layer in attached],
            )
        )
    return functions


def deployed_sizes() -> SizeReport | None:
    """Sizes of what `sam build` produced (None, with a message, when there is no build)."""
    import yaml

    template = BUILD / "template.yaml"
    if not template.exists():
        return None
    document = yaml.safe_load(template.read_text())  # sam build writes the long form (Ref:), plain YAML
    with scratch("parity-bench-size-") as directory:
        layers = {
            name: measure_artifact(name, BUILD / resource["Properties"]["ContentUri"], directory)
            for name, resource in document["Resources"].items()
            if resource["Type"] == "AWS::Serverless::LayerVersion"
        }
        functions = _functions(document, layers, directory)
        pruned, note = None, "the build has no GoogleLayer"
        if "GoogleLayer" in layers:
            pruned, note = pruned_vs_unpruned(layers["GoogleLayer"].path, directory)
    built = time.strftime("%Y-%m-%d %H:%M", time.localtime(template.stat().st_mtime))
    return SizeReport(built, functions, list(layers.values()), pruned, note)


# -- the report


def render(sizes: SizeReport | str) -> list[str]:
    """The size section: artifacts, then functions with their layers, then GoogleLayer against an
    unpruned install; or, when there is no build (`sizes` is the reason), why not."""
    if isinstance(sizes, str):
        return ["## Deployed size of each function", "", f"Not measured: {sizes}", ""]
    out = [
        "## Deployed size of each function",
        "",
        f"From `.aws-sam/build` (`scripts/check_template.sh`, i.e. `sam build`; built {sizes.built}). A function",
        "deploys its own artifact and the layers it attaches: CommonLayer for every function (the template's",
        "`Globals`), GoogleLayer added by the functions that talk to Google. Unzipped: the sum of the files'",
        "sizes, which Lambda holds to 250 MB (262,144,000 bytes) for a function and its layers together; zipped:",
        "each artifact zipped with Python's `zipfile` (deflate), as SAM uploads it. MB = 2^20 bytes, the unit of",
        "Lambda's limit (kB = 2^10 bytes). Google distributions: the `google-*` distributions installed (their",
        "`*.dist-info`), or Google packages copied in without one.",
        "",
        *_artifacts(sizes),
        "",
        *_functions_table(sizes),
        "",
    ]
    google_layer = next((layer for layer in sizes.layers if layer.name == "GoogleLayer"), None)
    if google_layer is None:
        return out
    if sizes.pruned is None:
        return out + [f"GoogleLayer against an unpruned install: not measured ({sizes.pruned_note}).", ""]
    return out + render_pruned(sizes.pruned, google_layer)


def _artifacts(sizes: SizeReport) -> list[str]:
    rows = [
        (a.name, f"{a.files:,}", mb(a.unzipped), mb(a.zipped), ", ".join(a.google) or "none")
        for a in [*sizes.layers, *(function.own for function in sizes.functions)]
    ]
    return table(("artifact", "files", "unzipped (MB)", "zipped (MB)", "Google distributions"), "lrrrl", rows)


def _functions_table(sizes: SizeReport) -> list[str]:
    rows = []
    for function in sizes.functions:
        sources = [artifact.name for artifact in (function.own, *function.layers) if artifact.google]
        rows.append((
            function.name,
            f"`{function.source}`",
            " + ".join(layer.name for layer in function.layers) or "–",
            mb(function.own.unzipped),
            mb(sum(layer.unzipped for layer in function.layers)),
            mb(function.unzipped),
            f"{100 * function.unzipped / LAMBDA_UNZIPPED_LIMIT:.1f} %",
            mb(function.zipped),
            f"{len(function.google)} distributions, from {', '.join(sources)}" if function.google else "none",
        ))
    header = (
        "function", "source", "layers", "function (MB)", "layers (MB)", "deployed, unzipped (MB)", "of 250 MB",
        "deployed, zipped (MB)", "Google libraries",
    )
    return table(header, "lllrrrrrl", rows)


if __name__ == "__main__":
    from bench import run

    raise SystemExit(run.main(["--only", "size", *sys.argv[1:]]))
