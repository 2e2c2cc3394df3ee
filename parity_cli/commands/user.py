"""One user, as support sees and changes it: the same services as the admin routes, audited with the
console's caller (the AWS identity; locally `console:<login>`) as the actor.

  parity user show USER                                    purchases, entitlements, claims, flags
  parity user grant USER ENTITLEMENT [--until TIME]        a manual grant (until revoked by default)
  parity user revoke USER PURCHASE_ID                      end a manual grant
  parity user clear-flag USER                              clear the refund-abuse review flag
  parity user merge USER FROM_USER                         merge FROM_USER into USER
  parity user assign PURCHASE_ID USER                      manual association of a purchase
  parity user erase USER --yes                             erase the account (the contract's "Erasure")

Each change takes `--reason TEXT`, kept in the audit trail.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone

from parity_cli import wiring
from parity_cli.errors import CliError
from parity_cli.output import table

HELP = "one user: show, grant, revoke, clear-flag, merge, assign, erase"


def register(parser: argparse.ArgumentParser, add) -> None:
    show = add(parser, "show", help="purchases, entitlements, claims, refusals and flags of a user")
    show.add_argument("user", metavar="USER")
    show.set_defaults(handler=run_show)

    grant = add(parser, "grant", help="grant an entitlement by hand (store `manual`)")
    grant.add_argument("user", metavar="USER")
    grant.add_argument("entitlement", metavar="ENTITLEMENT", help="an entitlement some catalog product grants")
    grant.add_argument("--until", type=_time, metavar="TIME", help="RFC 3339 end (default: until revoked)")
    grant.set_defaults(handler=run_grant)

    revoke = add(parser, "revoke", help="end a manual grant")
    revoke.add_argument("user", metavar="USER")
    revoke.add_argument("purchase", metavar="PURCHASE_ID", help="manual:<id>")
    revoke.set_defaults(handler=run_revoke)

    clear = add(parser, "clear-flag", help="clear the refund-abuse review flag")
    clear.add_argument("user", metavar="USER")
    clear.set_defaults(handler=run_clear_flag)

    merge = add(parser, "merge", help="merge FROM_USER into USER (both ids then read the merged account)")
    merge.add_argument("user", metavar="USER")
    merge.add_argument("from_user", metavar="FROM_USER")
    merge.set_defaults(handler=run_merge)

    assign = add(parser, "assign", help="make USER the only owner of a purchase (manual association)")
    assign.add_argument("purchase", metavar="PURCHASE_ID")
    assign.add_argument("user", metavar="USER")
    assign.set_defaults(handler=run_assign)

    erase = add(parser, "erase", help="erase the account: purchases kept unowned, personal data removed")
    erase.add_argument("user", metavar="USER")
    erase.add_argument("--yes", action="store_true", help="required: erasure cannot be undone")
    erase.set_defaults(handler=run_erase)

    for command in (grant, revoke, clear, merge, assign, erase):
        command.add_argument("--reason", help="why (kept in the audit trail)")


def _time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise argparse.ArgumentTypeError("an RFC 3339 time with its offset, like 2026-12-01T00:00:00Z")
    return moment.astimezone(timezone.utc)


def _refused(error) -> CliError:
    """A service's refusal (the admin routes' 4xx) as the console's error."""
    return CliError(str(error), getattr(error, "code", "refused"), 1)


def _run(call):
    from parity.domain.errors import RequestRefused

    try:
        return call()
    except RequestRefused as error:
        raise _refused(error) from error


# ------------------------------------------------------------------------------------------- show


def run_show(ctx, args) -> int:
    from parity.views import admin_user_view

    report = _run(lambda: wiring.administration(ctx).user_report(args.user))
    ctx.output.result(admin_user_view(report), render_show)
    return 0


def render_show(data: dict) -> str:
    lines = [f"user {data['userId']}  appAccountToken {data['appAccountToken']}"]
    if data["aliases"]:
        lines.append(f"aliases: {', '.join(data['aliases'])}")
    rows = [
        [eid, "yes" if e["active"] else "no", e["state"], e["store"], e["expiresAt"] or "-", e["purchaseId"]]
        for eid, e in data["entitlements"].items()
    ]
    lines += ["", table(["ENTITLEMENT", "ACTIVE", "STATE", "STORE", "EXPIRES", "PURCHASE"], rows) if rows else "no entitlements"]
    rows = [[p["purchaseId"], p["state"], p["ownership"], ", ".join(p["entitlements"]), p["expiresAt"] or "-"] for p in data["purchases"]]
    lines += ["", table(["PURCHASE", "STATE", "OWNERSHIP", "GRANTS", "EXPIRES"], rows) if rows else "no purchases"]
    for title, key in (("claims", "claims"), ("refusals", "refusals")):
        for line in data[key][:10]:
            lines.append(f"{title[:-1]}: {line['at']} {line['action']} {line['purchaseId'] or ''} {line['actor'] or ''} {line['detail'] or ''}".rstrip())
    flag = data["flags"]["refundAbuse"]
    lines.append(f"refund-abuse flag: {'set ' + flag['flaggedAt'] if flag['flagged'] else 'not set'} ({flag['refunds']} of {flag['threshold']})")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ changes


def run_grant(ctx, args) -> int:
    from parity.views import grant_view

    service = wiring.support(ctx)
    granted = _run(lambda: service.grant(args.user, args.entitlement, args.until, wiring.operator(ctx), args.reason))
    data = grant_view(granted, granted.owner_ids[0], service.catalog, granted.event_time)
    ctx.output.result(data, lambda d: f"granted {d['entitlements'] or [args.entitlement]} to {d['userId']} until {d['expiresAt'] or 'revoked'}: {d['purchaseId']}")
    return 0


def run_revoke(ctx, args) -> int:
    from parity.views import grant_view

    service = wiring.support(ctx)
    ended = _run(lambda: service.revoke(args.user, args.purchase, wiring.operator(ctx), args.reason))
    data = grant_view(ended, args.user, service.catalog, ended.event_time)
    ctx.output.result(data, lambda d: f"{d['purchaseId']}: {d['state']}")
    return 0


def run_clear_flag(ctx, args) -> int:
    from parity.views import flag_view

    service = wiring.support(ctx)
    user = _run(lambda: service.clear_flag(args.user, wiring.operator(ctx), args.reason))
    data = flag_view(user, 0)
    data["refundAbuse"].pop("threshold")
    ctx.output.result(data, lambda d: f"{d['userId']}: refund-abuse flag cleared ({d['refundAbuse']['refunds']} refunds counted)")
    return 0


def run_merge(ctx, args) -> int:
    from parity.views import merge_view

    result = _run(lambda: wiring.administration(ctx).merge(args.user, args.from_user, wiring.operator(ctx), args.reason))
    ctx.output.result(merge_view(result), lambda d: f"merged {d['fromUserId']} into {d['userId']} ({d['purchasesMoved']} purchases moved)")
    return 0


def run_assign(ctx, args) -> int:
    from parity.views import assignment_view

    done = _run(lambda: wiring.administration(ctx).assign_owner(args.purchase, args.user, wiring.operator(ctx), args.reason))
    data = assignment_view(done)
    ctx.output.result(data, lambda d: f"{d['purchaseId']}: owned by {', '.join(d['ownerIds'])} (manual; before: {', '.join(d['previousOwnerIds']) or 'nobody'})")
    return 0


def run_erase(ctx, args) -> int:
    if not args.yes:
        raise CliError(f"erasing {args.user!r} cannot be undone: add --yes", "confirmation_required", 2)
    erased = _run(lambda: wiring.erasure(ctx).erase(args.user, wiring.operator(ctx)))
    data = {"userId": args.user, "erased": erased}
    ctx.output.result(data, lambda d: f"{d['userId']}: " + ("erased" if d["erased"] else "nothing to erase (erased before, or never known)"))
    return 0
