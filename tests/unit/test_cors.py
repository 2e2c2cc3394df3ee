"""CORS: CORS_ALLOW_ORIGINS, and the local front answering as API Gateway's HTTP API does with the
template's CorsConfiguration."""

from __future__ import annotations

import pytest

from local.cors import CorsPolicy
from local.resources import load_template
from local.server import Endpoint, Request, Response
from parity.domain.errors import ConfigurationError
from parity.settings import Settings, cors_origins

APP = "https://app.example.com"


def request(method: str = "GET", origin: str | None = APP, preflight: bool = False) -> Request:
    headers = [("Origin", origin)] if origin else []
    if preflight:
        headers += [("Access-Control-Request-Method", "GET"), ("Access-Control-Request-Headers", "authorization")]
    return Request(method, "/v1/users/u_1/entitlements", "", headers, b"", "127.0.0.1")


@pytest.fixture(scope="module")
def policy() -> CorsPolicy:
    return CorsPolicy.from_template(load_template(), (APP, "http://localhost:5173"))


def test_origins_are_parsed_and_checked():
    assert cors_origins(" https://a.example.com/, http://localhost:5173 ,") == ("https://a.example.com", "http://localhost:5173")
    assert cors_origins(None) == () and Settings.from_env({}).cors.allow_origins == ()
    assert Settings.from_env({"CORS_ALLOW_ORIGINS": "*"}).cors.allow_origins == ("*",)
    for bad in ("app.example.com", "https://a.example.com/path", "ftp://a.example.com"):
        with pytest.raises(ConfigurationError, match="CORS_ALLOW_ORIGINS"):
            cors_origins(bad)


def test_the_policy_is_the_app_apis_template_configuration(policy):
    assert policy.api == "HttpApi"
    assert {"GET", "POST"} <= set(policy.methods) and "authorization" in policy.headers
    assert policy.covers("HttpApi") and not policy.covers("AdminHttpApi") and not policy.covers(None)
    assert not CorsPolicy.from_template(load_template(), ()).covers("HttpApi")  # no origins: no CORS


def test_a_preflight_from_an_allowed_origin_gets_204_with_the_methods_and_authorization(policy):
    (options,) = policy.preflights(["/v1/users/{userId}/entitlements", "/v1/users/{userId}/entitlements"])
    response = options.handle(request("OPTIONS", preflight=True), {})
    assert response.status == 204 and response.body == b""
    assert response.headers["access-control-allow-origin"] == APP
    assert "GET" in response.headers["access-control-allow-methods"].split(",")
    assert "authorization" in response.headers["access-control-allow-headers"].split(",")


def test_a_preflight_from_another_origin_gets_no_cors_header(policy):
    (options,) = policy.preflights(["/v1/users/{userId}/entitlements"])
    response = options.handle(request("OPTIONS", origin="https://evil.example", preflight=True), {})
    assert response.status == 204
    assert not any(name.startswith("access-control-") for name in response.headers)


def test_an_options_request_that_is_no_preflight_is_refused(policy):
    (options,) = policy.preflights(["/v1/users/{userId}/entitlements"])
    assert options.handle(request("OPTIONS"), {}).status == 405


def test_answers_carry_the_origin_only_when_it_is_allowed(policy):
    endpoint = policy.wrap(Endpoint("GET", "/v1/users/{userId}/entitlements", lambda r, p: Response(200, b"{}", {})))
    assert endpoint.handle(request(), {}).headers["access-control-allow-origin"] == APP
    assert "access-control-allow-origin" not in endpoint.handle(request(origin="https://evil.example"), {}).headers
    assert "access-control-allow-origin" not in endpoint.handle(request(origin=None), {}).headers
