"""`make dev`: run the local stack in the foreground until SIGINT or SIGTERM.

    PYTHONPATH=layers/common:. .venv/bin/python -m local [--reset]

The table and queues are kept across restarts in `.parity/state` (or $PARITY_STATE_DIR; local/state.py);
`--reset` (`make dev RESET=1`) starts empty.

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

    from local.config import Config
    from local.stack import Stack
    from parity.settings import ConfigurationError

    config = Config.from_env(os.environ)
    stack = Stack(config, reset="--reset" in sys.argv[1:])
    try:
        stack.start()
    except ConfigurationError as error:
        print(f"[local] configuration error: {error}", file=sys.stderr)
        stack.stop()
        return 2
    _banner(stack, time.monotonic() - STARTED)
    parent = _Parent()
    while not stop.wait(0.5):
        if parent.asked_to_stop():
            stop.set()
    print("[local] stopping...", file=sys.stderr)
    stack.stop()
    print("[local] stopped", file=sys.stderr)
    _exit_without_lingering_threads()
    return 0  # not reached


def _exit_without_lingering_threads(patience: float = 5.0) -> None:
    """The stack is stopped and its state saved (local/state.py): end the process now. A library's non-daemon
    thread (a client's pool, a server's request thread on a busy machine) or atexit hook must not keep it
    alive after a clean stop; a thread still running after `patience` seconds is named in the log."""
    deadline = time.monotonic() + patience
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    for thread in others:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    lingering = [thread.name for thread in others if thread.is_alive()]
    if lingering:
        print(f"[local] exiting with threads still running: {', '.join(lingering)}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


class _Parent:
    """Notices when the process that started the stack wants it gone.

    `make dev` runs the stack as make's child. A SIGTERM sent to make alone is forwarded by make, but a
    SIGINT sent to make alone is not: make resets its handler to the default and waits for its child
    forever. So the stack watches its parent: gone (reparented), or (make only) no longer catching
    SIGINT/SIGTERM after having caught them, means stop. Linux /proc; elsewhere only reparenting.
    """

    _STOP_SIGNALS = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))

    def __init__(self) -> None:
        self.pid = os.getppid()
        self.caught = self._caught() if self._is_make() else None

    def _is_make(self) -> bool:
        try:
            with open(f"/proc/{self.pid}/comm") as comm:
                return comm.read().strip() in ("make", "gmake")
        except OSError:
            return False

    def _caught(self) -> int | None:
        try:
            with open(f"/proc/{self.pid}/status") as status:
                for line in status:
                    if line.startswith("SigCgt:"):
                        return int(line.split()[1], 16) & self._STOP_SIGNALS
        except (OSError, ValueError):
            return None
        return None

    def asked_to_stop(self) -> bool:
        if os.getppid() != self.pid:
            return True
        if not self.caught:
            return False
        now = self._caught()
        return now is not None and now != self.caught


def _banner(stack, seconds: float) -> None:
    config = stack.config
    lines = [
        f"Parity local stack ready on {config.base_url} (started in {seconds:.2f} s)",
        "  routes:     " + ", ".join(r for r in stack.routes_summary() if not r.split()[1].startswith(("/_", "/."))),
        "  local only: GET /_local/changes (last change events), GET /_local/events/{source}/{eventId}",
        "  admin:      Authorization: Bearer $ADMIN_TOKEN"
        if config.admin_token
        else "  admin:      off (set ADMIN_TOKEN to use the admin routes)",
        f"  signing:    signedEntitlements with {stack.signing_key} (keys: GET /.well-known/jwks.json)",
    ]
    state = stack.state
    if state is not None and state.durable:
        items, messages = stack.restored
        lines.append(
            f"  state:      kept in {state.directory} ({items} items, {messages} messages restored); "
            "make dev RESET=1 starts empty"
        )
    elif state is not None:
        lines.append(f"  state:      in memory only ({state.directory} is used by another running stack)")
    if config.webhook_url:
        header = "with" if config.webhook_authorization else "WITHOUT (WEBHOOK_AUTHORIZATION unset)"
        lines.append(f"  webhook:    change events POSTed to {config.webhook_url}, {header} an Authorization header")
    if config.demo_defaults:
        lines.append("  DEMO CONFIGURATION in use for what is not configured (test secrets, demo catalog):")
        lines += [f"    {item}" for item in config.demo_defaults]
        if stack.demo_stores is not None:
            lines += [f"    {item}" for item in stack.demo_stores.described]
        if config.demo_auth:
            lines.append(f'    user tokens: curl -s -X POST {config.base_url}/_demo/token -d \'{{"sub": "u_demo"}}\'')
        lines.append("  try it:     make demo   (in another terminal)")
    lines.append("  stop:       Ctrl-C")
    print("\n".join(lines), file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
