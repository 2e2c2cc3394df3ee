"""Print the OpenAPI document: `PYTHONPATH=layers/common python -m parity.openapi > docs/openapi.json`."""

import sys

from . import document_text

sys.stdout.write(document_text())
