"""The services depend on ports only (STYLE.md, Cosmic Python): no adapter, no AWS or HTTP library, so that
they run on in-memory fakes and an adapter can change without them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import parity
import parity.services
from tests.support.imports import imported_modules

PARITY = Path(parity.__file__).parent
SERVICES = Path(parity.services.__file__).parent
SERVICE_MODULES = sorted(SERVICES.rglob("*.py"))

# The composition root and the adapters, the AWS SDK, and the libraries that speak HTTP or verify tokens.
OUTSIDE = (
    "parity.adapters",
    "parity.bootstrap",
    "boto3",
    "botocore",
    "mypy_boto3",
    "urllib.request",
    "http.client",
    "urllib3",
    "requests",
    "stripe",
    "google",
    "googleapiclient",
    "cryptography",
)


def absolute(module: str, level: int, path: Path) -> str:
    """The full name of an import in the module at `path` (relative ones resolved)."""
    if level == 0:
        return module
    package = ["parity", *path.relative_to(PARITY).parent.parts]
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, module] if module else base)


def is_outside(name: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") or name.startswith(prefix + "_") for prefix in OUTSIDE)


def test_the_services_package_has_modules_to_check():
    names = {path.name for path in SERVICE_MODULES}
    assert {"processing.py", "drift.py", "replay.py", "receipts.py", "admin.py", "ingest.py"} <= names


@pytest.mark.parametrize("path", SERVICE_MODULES, ids=lambda p: str(p.relative_to(SERVICES)))
def test_service_module_imports_no_adapter_and_no_aws_or_http_library(path: Path):
    # GIVEN a service module's source (imports under TYPE_CHECKING and inside functions included)
    imports = [absolute(module, level, path) for module, level in imported_modules(path.read_text())]

    # WHEN / THEN none of them names an adapter, the composition root, or an AWS or HTTP library
    assert [name for name in imports if is_outside(name)] == [], f"{path.name} reaches past the ports"


def test_the_checker_flags_adapters_and_libraries_and_passes_ports():
    path = SERVICES / "drift.py"
    source = (
        "from ..adapters.dynamodb import DynamoRepository\nimport boto3\nfrom botocore.exceptions import ClientError\n"
        "import urllib.request\nfrom ..ports import DriftStore\nfrom .processing import Outcome\nimport json\n"
    )
    flagged = [is_outside(absolute(m, level, path)) for m, level in imported_modules(source)]
    assert flagged == [True, True, True, True, False, False, False]


def test_importing_every_service_loads_no_adapter_and_no_aws_or_http_library():
    # GIVEN a fresh interpreter WHEN every service module is imported
    root = PARITY.parents[2]
    code = (
        "import importlib, pkgutil, sys, parity.services as s\n"
        "for m in pkgutil.walk_packages(s.__path__, 'parity.services.'): importlib.import_module(m.name)\n"
        "print('\\n'.join(sys.modules))\n"
    )
    env = {"PYTHONPATH": str(root / "layers" / "common")}
    result = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

    # THEN nothing past the ports came with them (Powertools' logger alone loads the bare botocore package)
    loaded = [name for name in result.stdout.split() if is_outside(name) and name != "botocore"]
    assert loaded == []
