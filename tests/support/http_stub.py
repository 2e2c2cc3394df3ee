"""A local HTTP server on a free port, for the fakes of store APIs the tests talk to."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class StubHandler(BaseHTTPRequestHandler):
    """A quiet request handler with one way to answer: JSON (or raw bytes), status and headers."""

    content_type = "application/json"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: dict | bytes | None, headers: dict | None = None) -> None:
        payload = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
        self.send_response(status)
        if body is not None and not isinstance(body, bytes):
            self.send_header("Content-Type", self.content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        try:
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (the timeout tests)


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler], name: str) -> Iterator[str]:
    """Serve `handler` on 127.0.0.1 until the block ends; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
