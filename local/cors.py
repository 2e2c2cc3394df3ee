"""CORS as API Gateway's HTTP API does it, for the local stack.

The template's `CorsConfiguration` of an HttpApi (methods, headers, max age) with the origins of
CORS_ALLOW_ORIGINS: a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) on one of that
API's paths is answered 204 by the front itself, with the CORS headers when the origin is allowed; an
answer to an allowed origin carries `Access-Control-Allow-Origin`; other origins get no CORS header.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from local.resources import _Tag
from local.server import Endpoint, Request, Response, error_response


@dataclass(frozen=True)
class CorsPolicy:
    api: str | None  # the HttpApi's logical id (None: no API has a CORS configuration)
    origins: tuple[str, ...]
    methods: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    max_age: int | None = None

    @classmethod
    def from_template(cls, template: dict, origins: tuple[str, ...]) -> CorsPolicy:
        """The first HttpApi with a CorsConfiguration (its `!If` taken as configured: origins are set)."""
        for logical, resource in template["Resources"].items():
            if resource.get("Type") != "AWS::Serverless::HttpApi":
                continue
            config = (resource.get("Properties") or {}).get("CorsConfiguration")
            if isinstance(config, _Tag) and config.name == "If":
                config = config.value[1]
            if isinstance(config, dict):
                return cls(
                    logical,
                    origins,
                    tuple(str(m).upper() for m in config.get("AllowMethods") or ()),
                    tuple(str(h).lower() for h in config.get("AllowHeaders") or ()),
                    int(config["MaxAge"]) if "MaxAge" in config else None,
                )
        return cls(None, ())

    def allowed(self, origin: str | None) -> bool:
        return bool(origin) and (origin in self.origins or "*" in self.origins)

    def answer_headers(self, request: Request) -> dict[str, str]:
        """The CORS headers of an answer of this API to `request` (none for an origin not allowed)."""
        origin = request.header("origin")
        if not self.allowed(origin):
            return {}
        return {"access-control-allow-origin": origin, "vary": "origin"}

    def preflight(self, request: Request, params: dict[str, str]) -> Response:
        headers = self.answer_headers(request)
        if headers:
            headers["access-control-allow-methods"] = ",".join(self.methods)
            headers["access-control-allow-headers"] = ",".join(self.headers)
            if self.max_age is not None:
                headers["access-control-max-age"] = str(self.max_age)
        return Response(204, b"", headers)

    def covers(self, api: str | None) -> bool:
        """Whether answers of `api` (a route's HttpApi) get CORS: the configured API, with origins set."""
        return self.api is not None and api == self.api and bool(self.origins)

    def wrap(self, endpoint: Endpoint) -> Endpoint:
        """`endpoint` whose answers carry the CORS headers for an allowed origin."""

        def handle(request: Request, params: dict[str, str]) -> Response:
            response = endpoint.handle(request, params)
            response.headers.update(self.answer_headers(request))
            return response

        return Endpoint(endpoint.method, endpoint.path, handle)

    def preflights(self, paths: Iterable[str]) -> list[Endpoint]:
        """An `OPTIONS` endpoint per path, answering preflights as API Gateway does."""
        return [Endpoint("OPTIONS", path, self._options) for path in dict.fromkeys(paths)]

    def _options(self, request: Request, params: dict[str, str]) -> Response:
        if request.header("access-control-request-method") and request.header("origin"):
            return self.preflight(request, params)
        return error_response(405, "method_not_allowed", "OPTIONS is only a CORS preflight (Origin, Access-Control-Request-Method).")
