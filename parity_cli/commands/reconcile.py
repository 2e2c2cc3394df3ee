"""`parity reconcile`: check purchases with their stores now (one purchase, or all of a user's), and
print what changed. The worker that makes the checks holds the store credentials; this queues them and
waits for its answer."""

from __future__ import annotations

import argparse

from parity_cli import drift, wiring
from parity_cli.errors import CliError

HELP = "check one purchase (--purchase) or a user's purchases (--user) with their stores now"


def register(parser: argparse.ArgumentParser, add) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--purchase", metavar="PURCHASE_ID", help="e.g. app_store:2000000123456789")
    target.add_argument("--user", metavar="USER_ID", help="every purchase the user holds")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait at most (default 120)")
    parser.set_defaults(handler=run)


def run(ctx, args) -> int:
    repo = wiring.repository(ctx)
    if args.purchase:
        ids = [args.purchase]
    else:
        user = repo.load_user(args.user)
        ids = [p.purchase_id for p in user.purchases]
        if not ids:
            raise CliError(f"user {args.user!r} holds no purchase", "nothing_to_check", 1)
    before = repo.get_purchases(ids)
    missing = sorted(set(ids) - set(before))
    if missing:
        raise CliError(f"unknown purchase {missing[0]!r}", "purchase_not_found", 1)
    from parity.bootstrap import SystemClock
    from parity.services.drift_scan import report_id_for

    report_id = report_id_for(SystemClock().now())
    repo.save_report(report_id, {"reportId": report_id, "selected": len(ids), "status": "manual", "counts": {}})
    drift.queue_checks(ctx, ids, report_id)
    with ctx.output.progress("checking", total=len(ids), unit="checks") as progress:
        result = drift.wait_for(ctx, report_id, len(ids), args.timeout, progress)
    after = repo.get_purchases(ids)
    changes = [_change(before[pid], after.get(pid)) for pid in ids]
    ctx.output.result({**result, "purchases": changes}, render)
    return 0


def _change(before, after) -> dict:
    from parity.views import purchase_state

    return {"purchaseId": before.purchase_id, "before": purchase_state(before), "after": purchase_state(after or before)}


# The setting each store's checks need on the reconcile worker (without it a check only applies time).
STORE_SETTINGS = {
    "stripe": "STRIPE_API_KEY",
    "app_store": "APPLE_KEY_ID, APPLE_ISSUER_ID and APPLE_PRIVATE_KEY_FILE",
    "play_store": "GOOGLE_SERVICE_ACCOUNT_FILE",
}


def render(data: dict) -> str:
    lines = []
    counts = data.get("counts", {})
    for change in data["purchases"]:
        before, after = change["before"], change["after"]
        differs = {k for k in before if k not in ("checkedAt",) and before[k] != after[k]}
        store = change["purchaseId"].split(":", 1)[0]
        if differs:
            lines.append(f"{change['purchaseId']}: " + "; ".join(f"{k} {before[k]} → {after[k]}" for k in sorted(differs)))
        elif store == "manual":
            lines.append(f"{change['purchaseId']}: a manual grant, no store to ask (checked {after.get('checkedAt')})")
        elif counts.get(f"not_asked_{store}"):
            setting = STORE_SETTINGS.get(store, "its API credentials")
            lines.append(
                f"{change['purchaseId']}: not asked: the worker has no {store} API ({setting}); only access past "
                "its end was applied"
            )
        else:
            lines.append(f"{change['purchaseId']}: no drift (checked {after.get('checkedAt')})")
    return "\n".join(lines + ["", drift.render_report(data)])
