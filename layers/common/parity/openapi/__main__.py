"""Print the OpenAPI document, or (`--write`) write both committed copies of it:

    PYTHONPATH=layers/common python -m parity.openapi --write

`layers/common/parity/openapi.json` is what the discovery function serves (`GET /openapi.json`, shipped in the
layer: serving it costs no pydantic at cold start), `docs/openapi.json` the one the README links.
"""

import sys

from . import COMMITTED, document_text

if sys.argv[1:] == ["--write"]:
    for path in COMMITTED:
        path.write_text(document_text())
else:
    sys.stdout.write(document_text())
