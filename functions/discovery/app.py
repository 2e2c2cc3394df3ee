"""The public documents of the app API (no auth; API Gateway caches nothing, apps and browsers do):

- `GET /.well-known/jwks.json`: the keys that verify `signedEntitlements` (the signing key and, after a
  rotation, the previous one);
- `GET /openapi.json`: the OpenAPI 3 document of every route, generated from the code and shipped in the
  layer (`parity/openapi.json`: no pydantic at run time).
"""

import json
from functools import cache
from pathlib import Path

import parity
from parity import bootstrap
from parity.domain.errors import NotFound, ParityError
from parity.http import error_response, response
from parity.observability import lambda_entry
from parity.settings import Settings

CACHE = {"cache-control": "public, max-age=300"}
settings = Settings.from_env()
keys = bootstrap.published_keys(settings)


@cache
def openapi_document() -> dict:
    return json.loads((Path(parity.__file__).parent / "openapi.json").read_bytes())


ROUTES = {"GET /.well-known/jwks.json": lambda: keys.jwks(), "GET /openapi.json": openapi_document}


@lambda_entry(with_metrics=False)
def lambda_handler(event, context):
    try:
        route = ROUTES.get(event.get("routeKey", ""))
        if route is None:
            raise NotFound(f"There is no route {event.get('routeKey')!r}.")
        return response(200, route(), CACHE)
    except ParityError as error:
        return error_response(error)
