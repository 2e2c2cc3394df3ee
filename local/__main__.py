"""`make dev`: run the local stack in the foreground until SIGINT or SIGTERM.

    PYTHONPATH=layers/common:. .venv/bin/python -m local

Configuration comes from the contract's environment variables (PORT, CATALOG_FILE, STRIPE_*,
AUTH_*, ...); whatever is missing falls back to the demo configuration, and the banner says which.
Handler logs (Powertools JSON) and change events go to stdout, the stack's own log to stderr.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

STARTED = time.monotonic()


def main() -> int:
    sys.stdout.reconfigure(line_buffering=True)  # one line at a time, also into a pipe or a file
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="[local] %(levelname)s %(name)s: %(message)s")
    logging.getLogger("local").setLevel(logging.INFO)  # the stack's own log; libraries (moto, boto) warn only
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server would log every AWS call
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")  # no EMF blobs in the terminal

    stop = threading.Event()

    def on_signal(signum, frame) -> None:
        if stop.is_set():  # a second Ctrl-C: do not wait for a clean stop
            os._exit(128 + signum)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)

    from parity.settings import ConfigurationError

    from local.config import Config
    from local.stack import Stack

    config = Config.from_env(os.environ)
    stack = Stack(config)
    try:
        stack.start()
    except ConfigurationError as error:
        print(f"[local] configuration error: {error}", file=sys.stderr)
        stack.stop()
        return 2
    _banner(stack, time.monotonic() - STARTED)
    while not stop.wait(0.5):
        pass
    print("[local] stopping...", file=sys.stderr)
    stack.stop()
    print("[local] stopped", file=sys.stderr)
    return 0


def _banner(stack, seconds: float) -> None:
    config = stack.config
    lines = [
        f"Parity local stack ready on {config.base_url} (started in {seconds:.2f} s)",
        "  routes:     " + ", ".join(r for r in stack.routes_summary() if not r.split()[1].startswith(("/_", "/."))),
        "  local only: GET /_local/changes (last change events), GET /_local/events/{source}/{eventId}",
    ]
    if config.demo_defaults:
        lines.append("  DEMO CONFIGURATION in use for what is not configured (test secrets, demo catalog):")
        lines += [f"    {item}" for item in config.demo_defaults]
        if config.demo_auth:
            lines.append(f'    user tokens: curl -s -X POST {config.base_url}/_demo/token -d \'{{"sub": "u_demo"}}\'')
        lines.append("  try it:     make demo   (in another terminal)")
    lines.append("  stop:       Ctrl-C")
    print("\n".join(lines), file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
