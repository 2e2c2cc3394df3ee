"""The local stack's front door: its request log cannot be forged, its admin token is what the README
says (none unless ADMIN_TOKEN is set, compared in constant time), its authorizer refuses hostile JWTs
with a 401 and never a RecursionError."""

from __future__ import annotations

import base64
import json

import pytest

from local.auth import Unauthorized, check_admin, check_segments
from local.config import Config
from local.server import escape


def b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("raw", "logged"),
    [
        ("GET /a\x1b[31mred HTTP/1.1", "GET /a\\x1b[31mred HTTP/1.1"),
        ("GET /x\r\n127.0.0.1 forged line", "GET /x\\x0d\\x0a127.0.0.1 forged line"),
        ("nul\x00 del\x7f c1\x85", "nul\\x00 del\\x7f c1\\x85"),
        ("back\\slash", "back\\\\slash"),
        ("plain é /path?q=1", "plain é /path?q=1"),
    ],
)
def test_request_log_lines_escape_control_characters(raw, logged):
    assert escape(raw) == logged
    assert "\n" not in escape(raw) and "\r" not in escape(raw) and "\x1b" not in escape(raw)


def test_without_admin_token_the_admin_routes_are_off_even_in_the_demo_configuration():
    # GIVEN no configuration at all (the demo configuration)
    environ: dict[str, str] = {}
    config = Config.from_env(environ)

    # THEN there is no admin token, and every admin call is a 401
    assert config.admin_token is None and "ADMIN_TOKEN" not in environ
    assert not any("ADMIN_TOKEN" in item for item in config.demo_defaults)
    for authorization in (None, "Bearer ", "Bearer parity_demo_admin", "Bearer anything"):
        with pytest.raises(Unauthorized):
            check_admin(authorization, config.admin_token)


def test_with_admin_token_only_that_token_opens_the_admin_routes():
    config = Config.from_env({"ADMIN_TOKEN": "s3cret-token"})
    assert check_admin("Bearer s3cret-token", config.admin_token)["userArn"].endswith("parity-local-admin")
    for authorization in ("Bearer s3cret-toke", "Bearer s3cret-tokenx", "Bearer S3CRET-TOKEN", "Basic s3cret-token"):
        with pytest.raises(Unauthorized):
            check_admin(authorization, config.admin_token)


DEEP_OBJECT = '{"a":' * 5000 + "1" + "}" * 5000
DEEP_ARRAY = "[" * 100_000 + "]" * 100_000
HUGE_NUMBER = '{"n": ' + "9" * 5000 + "}"
EMPTY = b64url("{}")


@pytest.mark.parametrize(
    "token",
    [
        f"{b64url(DEEP_OBJECT)}.{EMPTY}.sig",
        f"{EMPTY}.{b64url(DEEP_ARRAY)}.sig",
        f"{b64url(HUGE_NUMBER)}.{EMPTY}.sig",
        f"{b64url('[]')}.{EMPTY}.sig",
        "!!.??.**",
        "a.b",
    ],
    ids=["deep-header", "deep-payload", "huge-number", "header-not-object", "not-base64", "two-segments"],
)
def test_hostile_jwt_segments_are_value_errors_before_pyjwt_parses_them(token):
    with pytest.raises(ValueError):
        check_segments(token)


def test_a_genuine_jwt_shape_passes_the_segment_check():
    check_segments(f"{b64url(json.dumps({'alg': 'RS256', 'kid': 'k'}))}.{b64url(json.dumps({'sub': 'u_1'}))}.sig")


def test_the_local_functions_see_the_max_receive_count_the_local_queues_were_built_with():
    from local.config import function_environment
    from local.resources import Resources, load_template

    # GIVEN the template's resources (no AWS needed to resolve parameters) and a shell that sets both
    template = load_template()
    resources = Resources(template=template)
    env = function_environment(resources, {"MAX_RECEIVE_COUNT": "5", "ENTITLEMENT_STRATEGY": "ALL"})

    # THEN the queues' parameter keeps its template value, while a plain setting follows the shell
    assert env["MAX_RECEIVE_COUNT"] == str(template["Parameters"]["MaxReceiveCount"]["Default"])
    assert env["ENTITLEMENT_STRATEGY"] == "ALL"
