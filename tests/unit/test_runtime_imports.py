"""pydantic is not part of the run time: the layer does not ship it, so no function may import it. Each
`functions/*/app.py` is imported by path in a fresh interpreter, as the Lambda runtime does (with the
cold-start benchmark's environment), then the paths that used to import it run once: a receipt body
is read, an admin body is read, and the discovery function serves the OpenAPI document."""

from __future__ import annotations

import json
import sys
import textwrap

from bench.common import ROOT, cold_env, run_python, scratch, write_apple_root

APPS = sorted(str(path) for path in (ROOT / "functions").glob("*/app.py"))
HEAVY = ("pydantic", "pydantic_core")

CHECK = textwrap.dedent(
    """
    import importlib.util, json, sys

    def heavy():
        return sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})

    found, apps = {{}}, {{}}
    for path in {apps!r}:
        name = path.split("/")[-2]
        spec = importlib.util.spec_from_file_location("app_" + name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        apps[name] = module
        found[name] = heavy()
    from parity.bodies import GrantRequest, parse_receipt, parse_request

    parse_receipt(b'{{"store": "stripe", "checkoutSessionId": "cs_test_1"}}')
    parse_request(b'{{"entitlement": "pro"}}', GrantRequest, "grant")
    served = apps["discovery"].ROUTES["GET /openapi.json"]()
    found["serving /openapi.json"] = heavy()
    print("--found--", json.dumps({{"found": found, "openapi": served["openapi"]}}))
    """
)


def test_no_function_imports_pydantic_at_import_or_on_its_body_paths():
    with scratch("parity-imports-") as directory:
        env = cold_env(write_apple_root(directory))
        done = run_python(CHECK.format(apps=APPS, heavy=HEAVY), env)
    line = next(line for line in done.stdout.splitlines() if line.startswith("--found--"))
    report = json.loads(line.removeprefix("--found--"))
    assert report["openapi"] == "3.1.0"
    assert set(report["found"]) == {path.split("/")[-2] for path in APPS} | {"serving /openapi.json"}
    assert not {name: modules for name, modules in report["found"].items() if modules}, "pydantic at run time"


def test_the_check_would_see_pydantic():
    with scratch("parity-imports-") as directory:
        env = cold_env(write_apple_root(directory))
        done = run_python("import sys, parity.openapi.bodies; print('pydantic' in sys.modules)", env)
    assert done.stdout.strip() == "True", sys.executable
