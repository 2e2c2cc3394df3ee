"""`parity console`'s server: the console's page on 127.0.0.1, and the admin routes of a deployed stack
behind it, each call signed with the operator's own AWS credentials (SigV4, `execute-api`).

Why a signing proxy rather than the admin services in-process: the page then talks to the very routes
it talks to on the local stack, every action goes through the deployed admin function (its IAM check,
its audit trail with the operator's ARN as actor, its least-privilege role), and the operator needs
`execute-api:Invoke` on the admin API only, not the table, queues and bus.

What keeps other local programs (or a web page in the operator's browser) from borrowing those
credentials: the server listens on 127.0.0.1 only, answers only requests whose Host is its own
address (no DNS rebinding), and proxies only requests carrying the session token it made at start
(`Authorization: Bearer <token>`, compared in constant time), which it prints once in the link it opens
(`#token=` in the fragment: never sent to any server, read by the page into its session storage).
"""

from __future__ import annotations

import hmac
import json
import secrets
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from parity_cli.console import asset

MAX_BODY = 1024 * 1024
ADMIN_PREFIX = "/v1/admin/"


class ConsoleProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, admin_url: str, session, region: str) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.admin_url = admin_url.rstrip("/")
        self.session = session  # boto3 Session: fresh credentials for each call (they may rotate)
        self.region = region
        self.token = secrets.token_urlsafe(24)

    @property
    def link(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/console/#token={self.token}"

    def signed_request(self, method: str, path: str, body: bytes, content_type: str | None) -> urllib.request.Request:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        headers = {"Content-Type": content_type} if content_type and body else {}
        request = AWSRequest(method=method, url=self.admin_url + path, data=body or None, headers=headers)
        SigV4Auth(self.session.get_credentials().get_frozen_credentials(), "execute-api", self.region).add_auth(request)
        return urllib.request.Request(request.url, data=body or None, headers=dict(request.headers), method=method)


class _Handler(BaseHTTPRequestHandler):
    server: ConsoleProxy
    server_version = "parity-console"

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        self._send(status, body, {"Content-Type": "application/json"})

    def _dispatch(self) -> None:
        port = self.server.server_address[1]
        if self.headers.get("Host") not in (f"127.0.0.1:{port}", f"localhost:{port}"):
            return self._error(403, "forbidden", "The console answers requests to its own address only.")
        path = self.path
        if path == "/console":
            return self._send(308, b"", {"Location": "/console/"})
        if path.startswith("/console/") and self.command == "GET":
            found = asset(path.removeprefix("/console/").partition("?")[0])
            return self._send(200, *found) if found else self._error(404, "not_found", "No such console file.")
        if not path.startswith(ADMIN_PREFIX):
            return self._error(404, "not_found", f"There is no route {path}.")
        presented = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(presented.encode(), self.server.token.encode()):
            return self._error(401, "unauthorized", "Open the link `parity console` printed (its session token).")
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return self._error(413, "payload_too_large", "Request bodies are limited to 1 MiB.")
        body = self.rfile.read(length) if length else b""
        request = self.server.signed_request(self.command, path, body, self.headers.get("Content-Type"))
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                status, data, kind = answer.status, answer.read(), answer.headers.get("Content-Type")
        except urllib.error.HTTPError as error:
            status, data, kind = error.code, error.read(), error.headers.get("Content-Type")
        except OSError as error:
            return self._error(502, "admin_api_unreachable", f"The admin API could not be reached: {error}")
        self._send(status, data, {"Content-Type": kind or "application/json"})

    do_GET = do_POST = do_PUT = do_DELETE = _dispatch

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass
