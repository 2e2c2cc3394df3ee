"""The operator console's page: static HTML, CSS and JavaScript, served as they are (no build step, no
CDN) by the local stack at `/console/` and by `parity console` on 127.0.0.1.

The page holds no credential: it asks the operator for one and sends it with each admin route call.
"""

from __future__ import annotations

from importlib import resources

ASSETS = {
    "": ("index.html", "text/html; charset=utf-8"),
    "index.html": ("index.html", "text/html; charset=utf-8"),
    "console.css": ("console.css", "text/css; charset=utf-8"),
    "console.js": ("console.js", "text/javascript; charset=utf-8"),
    "charts.js": ("charts.js", "text/javascript; charset=utf-8"),
}
# The page runs only its own script and talks only to its own origin; nothing may frame it.
HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def asset(name: str) -> tuple[bytes, dict[str, str]] | None:
    """The asset served at `/console/<name>` and its headers, None for any other name."""
    known = ASSETS.get(name)
    if known is None:
        return None
    filename, content_type = known
    data = resources.files(__name__).joinpath("static", filename).read_bytes()
    return data, {"content-type": content_type, **HEADERS}
