"""The domain imports the standard library only (STYLE.md): it must run without boto3, Stripe or env."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import parity.domain
from tests.support.imports import imported_modules

DOMAIN = Path(parity.domain.__file__).parent
DOMAIN_MODULES = sorted(DOMAIN.rglob("*.py"))


def is_allowed(module: str, level: int, path: Path) -> bool:
    if level > 0:
        # Relative: allowed only while it resolves inside the domain package.
        depth = len(path.relative_to(DOMAIN).parts) - 1  # sub-packages of domain/ may go up that far
        return level - 1 <= depth
    top = module.split(".")[0]
    return top in sys.stdlib_module_names or module == "parity.domain" or module.startswith("parity.domain.")


def test_the_domain_package_has_modules_to_check():
    names = {path.name for path in DOMAIN_MODULES}
    assert {"model.py", "purchases.py", "ownership.py", "entitlements.py", "stripe.py", "timeutil.py"} <= names


@pytest.mark.parametrize("path", DOMAIN_MODULES, ids=lambda p: str(p.relative_to(DOMAIN)))
def test_domain_module_imports_only_the_standard_library_or_the_domain(path: Path):
    # GIVEN a domain module's source
    imports = imported_modules(path.read_text())

    # WHEN each import is classified
    outside = [(module, level) for module, level in imports if not is_allowed(module, level, path)]

    # THEN none reaches outside the standard library and the domain package
    assert outside == [], f"{path.name} imports outside the stdlib/domain: {outside}"


def test_the_checker_rejects_third_party_and_sibling_package_imports():
    # GIVEN imports that would break purity
    path = DOMAIN / "model.py"
    source = "import boto3\nfrom stripe import Webhook\nfrom ..adapters import dynamodb\nfrom .. import settings\n"

    # WHEN / THEN every one of them is flagged (so the test above can really fail)
    assert [is_allowed(m, level, path) for m, level in imported_modules(source)] == [False] * 4


def test_the_checker_accepts_stdlib_and_relative_domain_imports():
    path = DOMAIN / "model.py"
    source = "import json\nfrom datetime import datetime\nfrom .model import State\nfrom . import errors\n"
    assert all(is_allowed(m, level, path) for m, level in imported_modules(source))
