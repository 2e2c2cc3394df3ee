"""Parity: a self-hosted entitlement service (shared layer package).

On Lambda (`AWS_LAMBDA_FUNCTION_NAME` is set), the init phase runs without the cyclic garbage collector:
importing a handler and building its clients allocates a few hundred thousand objects that live as long
as the container, and the collector would walk them again and again while they are created (about 7 % of
a function's cold start, docs/BENCHMARKS.md). `end_of_init`, called when the handler is wrapped
(`observability.lambda_entry`, the last statement of every handler module), freezes what init built,
so later collections skip it, and turns the collector back on.
"""

import gc
import os

if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    gc.disable()


def end_of_init() -> None:
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
