"""`parity replay`: rebuild a user's state (`--user`) or every purchase and user (`--all`) from the event
log, and show where it differs from the stored state; `--apply` writes the rebuilt state (conditional on
the versions read, with change events for the users, recorded in the event log).

The entitlements are computed with the catalog the functions use: `--catalog FILE`, else the local
stack's, else `$CATALOG_FILE`, else the one the layer ships (`layers/common/catalog.json`)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from parity_cli import wiring

HELP = "rebuild a user's (--user) or every (--all) state from the event log and compare; --apply writes it"
LAYER_CATALOG = Path(__file__).resolve().parents[2] / "layers" / "common" / "catalog.json"


def register(parser: argparse.ArgumentParser, add) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--user", metavar="USER_ID", help="the purchases the user holds or held, and their entitlements")
    target.add_argument("--all", action="store_true", help="every purchase and user (one pass over the table)")
    parser.add_argument("--apply", action="store_true", help="write the rebuilt state where it differs")
    parser.add_argument("--catalog", metavar="FILE", help="the catalog (default: the local stack's, $CATALOG_FILE, else the layer's)")
    parser.set_defaults(handler=run)


def catalog_file(*paths: str | None) -> str:
    """The first of `paths` given, else `$CATALOG_FILE`, else the layer's catalog."""
    return str(next((p for p in paths if p), None) or os.environ.get("CATALOG_FILE") or LAYER_CATALOG)


def run(ctx, args) -> int:
    replayer = wiring.replayer(ctx, catalog_file(args.catalog, ctx.resources.catalog_file))
    if args.user:
        replay = replayer.user(args.user)
    else:
        with ctx.output.progress("reading", unit="items") as progress:
            replay = replayer.everything(progress=lambda n: progress.update(n))
    data = as_json(replay)
    if args.apply and not replay.consistent:
        data["applied"] = replayer.apply(replay)
    ctx.output.result(data, render)
    return 0


def as_json(replay) -> dict:
    from parity.domain.replay import encode
    from parity.views import purchase_state

    return {
        "purchases": replay.purchases,
        "steps": replay.steps,
        "users": replay.users,
        "consistent": replay.consistent,
        "differences": [
            {
                "purchaseId": d.purchase_id,
                "fields": {name: {"stored": encode(a), "rebuilt": encode(b)} for name, (a, b) in sorted(d.fields.items())},
                "stored": purchase_state(d.stored) if d.stored else None,
                "rebuilt": purchase_state(d.rebuilt),
            }
            for d in replay.differing
        ],
        "entitlements": {
            user_id: [
                {
                    "entitlement": c.entitlement_id,
                    "stored": _entitlement(c.old),
                    "rebuilt": _entitlement(c.new),
                }
                for c in changes
            ]
            for user_id, changes in sorted(replay.entitlements.items())
        },
        "unreplayable": dict(sorted(replay.unreplayable.items())),
        "applied": 0,
    }


def _entitlement(entitlement) -> dict | None:
    from parity.views import entitlement_view

    return None if entitlement is None else entitlement_view(entitlement)


def render(data: dict) -> str:
    lines = [
        f"replayed {data['purchases']} purchases from {data['steps']} recorded steps; {data['users']} users compared: "
        + ("the stored state is what the log rebuilds" if data["consistent"] else "differences found")
    ]
    for difference in data["differences"]:
        changes = "; ".join(f"{name} {f['stored']} → {f['rebuilt']}" for name, f in difference["fields"].items())
        lines.append(f"  {difference['purchaseId']}: {changes}")
    for user_id, changes in data["entitlements"].items():
        for change in changes:
            stored, rebuilt = change["stored"] or {}, change["rebuilt"] or {}
            lines.append(
                f"  {user_id} {change['entitlement']}: stored {stored.get('state')} (active {stored.get('active')}) "
                f"→ rebuilt {rebuilt.get('state')} (active {rebuilt.get('active')})"
            )
    for purchase_id, count in data["unreplayable"].items():
        lines.append(f"  {purchase_id}: not rebuilt, {count} of its events wrote it without recording a step")
    if data["applied"]:
        lines.append(f"applied: {data['applied']} commits wrote the rebuilt state")
    elif not data["consistent"]:
        lines.append("nothing written (--apply writes the rebuilt state)")
    return "\n".join(lines)
