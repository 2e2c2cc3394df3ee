"""The HTTP front of the local stack: what API Gateway and function URLs do on AWS.

A request is matched against a table of endpoints (template paths such as
`/v1/users/{userId}/entitlements`), its body read within the contract's 1 MiB limit, authorized,
turned into the event AWS would deliver (function URL or HTTP API payload 2.0) and handed to the
function; the function's response is written back. Every error answers with the contract's shape
`{"error": {"code": ..., "message": ...}}`; a crashing function answers 500 and is logged.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

from local.auth import Unauthorized, check_admin
from local.functions import ADMIN, JWT, Route
from local.resources import ACCOUNT
from parity.settings import MAX_BODY_BYTES

log = logging.getLogger("local.http")
DRAIN_LIMIT = 16 * MAX_BODY_BYTES  # how much of a refused body is read (and dropped) before closing
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


@dataclass
class Request:
    method: str
    path: str  # raw (still percent-encoded), without the query string
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    received_at: float = field(default_factory=time.time)

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return ",".join(values) if values else None


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[str] = field(default_factory=list)


def json_response(status: int, document, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(document, separators=(",", ":")).encode()
    return Response(status, body, {"content-type": "application/json", **(headers or {})})


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(status, {"error": {"code": code, "message": message}}, headers)


# ------------------------------------------------------------------------------------------ routing

Handler = Callable[[Request, dict[str, str]], Response]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # template path; {name} matches one path segment
    handle: Handler

    @property
    def pattern(self) -> re.Pattern:
        return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path)) + "$")


class Router:
    def __init__(self, endpoints: list[Endpoint]) -> None:
        self.endpoints = tuple(endpoints)
        self._table = [(endpoint, endpoint.pattern) for endpoint in endpoints]

    def match(self, method: str, path: str) -> tuple[Endpoint, dict[str, str]]:
        allowed = []
        for endpoint, pattern in self._table:
            found = pattern.match(path)
            if found:
                if endpoint.method == method:
                    return endpoint, found.groupdict()
                allowed.append(endpoint.method)
        if allowed:
            raise ApiError(
                405, "method_not_allowed", f"{path} does not accept {method}.", {"allow": ", ".join(allowed)}
            )
        raise ApiError(404, "not_found", f"There is no route {method} {path}.")


# ------------------------------------------------------------------------------ functions (Lambda)


def function_endpoint(route: Route, jwt_verifier, admin_token: str | None) -> Endpoint:
    """An endpoint that authorizes like API Gateway, then invokes the route's function."""

    def handle(request: Request, params: dict[str, str]) -> Response:
        claims = identity = None
        try:
            if route.auth == JWT:
                claims = jwt_verifier.claims(request.header("authorization"))
            elif route.auth == ADMIN:
                identity = check_admin(request.header("authorization"), admin_token)
        except Unauthorized as error:
            return error_response(401, "unauthorized", str(error), {"www-authenticate": "Bearer"})
        if route.kind == "function_url":
            event = function_url_event(request)
        else:
            event = http_api_event(request, route, params, claims, identity)
        try:
            return lambda_response(route.function.invoke(event))
        except Exception:  # a crashing function must not take the stack down
            log.exception("%s crashed on %s %s", route.function.logical_id, request.method, escape(request.path))
            return error_response(500, "internal_error", "The function failed; see the stack's log.")

    return Endpoint(route.method, route.path, handle)


def _event_headers(request: Request) -> tuple[dict[str, str], list[str]]:
    """Header names lower-cased, repeated headers comma-joined; cookies apart, as AWS sends them."""
    headers: dict[str, str] = {}
    for name, value in request.headers:
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    cookies = [c.strip() for c in headers.pop("cookie", "").split(";") if c.strip()]
    return headers, cookies


def _event_body(body: bytes) -> tuple[str, bool]:
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode(), True


def _request_context(request: Request, route_key: str, domain: str) -> dict:
    return {
        "accountId": ACCOUNT,
        "apiId": domain.split(".", 1)[0],
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0],
        "http": {
            "method": request.method,
            "path": request.path,
            "protocol": "HTTP/1.1",
            "sourceIp": request.source_ip,
            "userAgent": request.header("user-agent") or "",
        },
        "requestId": str(uuid.uuid4()),
        "routeKey": route_key,
        "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(request.received_at)),
        "timeEpoch": int(request.received_at * 1000),
    }


def _base_event(request: Request, route_key: str, domain: str) -> dict:
    headers, cookies = _event_headers(request)
    event = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.path,
        "rawQueryString": request.query,
        "headers": headers,
        "requestContext": _request_context(request, route_key, domain),
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if request.query:
        event["queryStringParameters"] = {}
        for key, value in parse_qsl(request.query, keep_blank_values=True):
            previous = event["queryStringParameters"].get(key)
            event["queryStringParameters"][key] = value if previous is None else f"{previous},{value}"
    if request.body:
        event["body"], event["isBase64Encoded"] = _event_body(request.body)
    return event


def function_url_event(request: Request) -> dict:
    """A Lambda function URL invocation (payload format 2.0)."""
    return _base_event(request, "$default", "localfunctionurl.lambda-url.us-east-1.on.aws")


def http_api_event(
    request: Request, route: Route, params: dict[str, str], claims: dict | None, iam: dict | None = None
) -> dict:
    """An API Gateway HTTP API invocation (payload format 2.0) with the JWT or IAM authorizer's output."""
    event = _base_event(request, route.route_key, "localapi.execute-api.us-east-1.amazonaws.com")
    if params:
        event["pathParameters"] = dict(params)  # as sent; the handlers percent-decode
    if claims is not None:
        event["requestContext"]["authorizer"] = {
            "jwt": {"claims": {key: _claim_string(value) for key, value in claims.items()}, "scopes": None}
        }
    if iam is not None:
        event["requestContext"]["authorizer"] = {"iam": iam}
    return event


def _claim_string(value) -> str:
    """API Gateway passes every claim as a string (arrays as `[a b]`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + " ".join(_claim_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def lambda_response(result) -> Response:
    """The HTTP response for a function's result (payload 2.0 rules, including inferred responses)."""
    if not (isinstance(result, dict) and "statusCode" in result):
        return json_response(200, result)
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    headers = {str(k).lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    return Response(int(result["statusCode"]), data, headers, list(result.get("cookies") or []))


# ----------------------------------------------------------------------------------- HTTP plumbing


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "parity-local"
    timeout = 60  # idle keep-alive connections are closed

    def handle_expect_100(self) -> bool:
        length = self.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            self.close_connection = True
            self._write(_too_large())
            return False
        return super().handle_expect_100()

    def _dispatch(self) -> None:
        self._pending = 0
        try:
            body = self._read_body()
        except ApiError as error:
            self._refuse(error)
            return
        path, _, query = self.path.partition("?")
        request = Request(self.command, path, query, list(self.headers.items()), body, self.client_address[0])
        try:
            endpoint, params = self.server.router.match(request.method, request.path)
            response = endpoint.handle(request, params)
        except ApiError as error:
            response = error_response(error.status, error.code, error.message, error.headers)
        except Exception:
            log.exception("%s %s failed", escape(request.method), escape(request.path))
            response = error_response(500, "internal_error", "The local stack failed to answer; see its log.")
        self._write(response)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def do_HEAD(self) -> None:
        self.close_connection = True
        self._write(error_response(405, "method_not_allowed", "HEAD is not supported."), head=True)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        if not length.strip().isdigit():
            self.close_connection = True
            raise ApiError(400, "bad_request", "Content-Length is not a number.")
        size = int(length)
        if size > MAX_BODY_BYTES:
            self._pending = size
            raise _too_large_error()
        return self.rfile.read(size)

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise ApiError(400, "bad_request", "The chunked body is malformed.") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return bytes(body)
            if len(body) + size > MAX_BODY_BYTES:
                self._pending = DRAIN_LIMIT
                raise _too_large_error()
            body += self.rfile.read(size)
            self.rfile.readline(1024)  # CRLF after the chunk

    def _refuse(self, error: ApiError) -> None:
        """Answer, then drop what the client is still sending (it reads the answer once it is done)."""
        self.close_connection = True
        self._write(error_response(error.status, error.code, error.message))
        pending = min(self._pending, DRAIN_LIMIT)
        try:
            self.connection.settimeout(2)
            while pending > 0:
                chunk = self.rfile.read1(min(pending, 65536))
                if not chunk:
                    break
                pending -= len(chunk)
        except OSError:  # timeouts included
            pass

    def _write(self, response: Response, head: bool = False) -> None:
        try:
            self.send_response(response.status)
            headers = {**response.headers, "content-length": str(len(response.body))}
            if self.close_connection:
                headers["connection"] = "close"
            for name, value in headers.items():
                self.send_header(name, value)
            for cookie in response.cookies:
                self.send_header("set-cookie", cookie)
            self.end_headers()
            if not head:
                self.wfile.write(response.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol errors (malformed request line, headers too large...) in the contract's shape too."""
        self.close_connection = True
        if code == 501:  # a method http.server has no do_<METHOD> for: the client's error, not ours
            code, message = 405, f"The method is not supported; use one of {', '.join(METHODS[:-2])}."
        codes = {
            400: "bad_request",
            405: "method_not_allowed",
            408: "request_timeout",
            414: "uri_too_long",
            431: "headers_too_large",
        }
        self._write(error_response(code, codes.get(code, "http_error"), message or self.responses.get(code, ("",))[0]))

    def log_message(self, format: str, *args) -> None:
        log.info("%s %s", self.address_string(), escape(format % args))


# Control characters (C0, DEL, C1) and backslashes as escapes: a request line or header cannot forge
# log lines, move the cursor or recolour a terminal.
_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}
_ESCAPES[ord("\\")] = "\\\\"


def escape(text: str) -> str:
    """`text` fit for one log line: control characters escaped as `\\xNN`, backslashes doubled."""
    return str(text).translate(_ESCAPES)


def _too_large_error() -> ApiError:
    return ApiError(413, "payload_too_large", f"The request body is larger than {MAX_BODY_BYTES} bytes (1 MiB).")


def _too_large() -> Response:
    error = _too_large_error()
    return error_response(error.status, error.code, error.message)


class LocalServer(ThreadingHTTPServer):
    """Binds 127.0.0.1:port when created (a busy port fails fast); set `router`, then serve_forever()."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # the listen backlog (socketserver's default, 5, resets bursts of connections)
    router = Router([])

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
