"""The verdict: a faulty run against the fault-free run of the same deliveries.

Definitions (docs/RELIABILITY.md):
- lost: an event the store sent that never got a 200 (the store gave up), a 200 without an event-log
  item, or an event the fault-free run resolved that the faulty run recorded as `unresolved`; and a
  change recorded with a processed event that was never published (`lost changes`).
- double grant: for a user and an entitlement, the distinct change events (by `changeId`) grant
  access (inactive → active) more often than they take it away, beyond what the final answer shows;
  or one `changeId` published with two different contents; or a profile's refunds counter above the
  fault-free run's (a refund counted twice); or a purchase whose revocations differ from the
  fault-free run's (a refund undone, or applied twice). Publishing the same `changeId` more than once
  is allowed: change events are at least once.
- stuck: a message left on the queue or the DLQ, or an event stored and never processed.
- equal: every user's entitlements read (without `requestDate`, `cacheUntil`, `signedEntitlements`),
  every purchase item (without versions and times of writing) and every profile's counters are the
  same in both runs.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from tests.chaos.scenarios import Delivery, Scenario
from tests.chaos.simulation import RunResult


@dataclass
class Verdict:
    lost: list[str] = field(default_factory=list)
    lost_changes: list[str] = field(default_factory=list)
    double_grants: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)
    oracle_problems: list[str] = field(default_factory=list)  # the fault-free run's own consistency

    @property
    def equal(self) -> bool:
        return not self.differences

    @property
    def ok(self) -> bool:
        return not (self.lost or self.lost_changes or self.double_grants or self.stuck or self.differences or self.oracle_problems)


def _active(view) -> bool:
    return bool(view and view.get("active"))


def grant_balance(run: RunResult) -> tuple[list[str], list[str]]:
    """(double grants, inconsistent republications) in the change events a run published."""
    by_id: dict[str, dict] = {}
    inconsistent = []
    for change in run.changes:
        if "entitlement" not in change:
            continue
        seen = by_id.setdefault(change["changeId"], change)
        if seen != change:
            inconsistent.append(f"{change['changeId']}: published with two contents")
    balance: Counter = Counter()
    for change in by_id.values():
        key = (change["userId"], change["entitlement"])
        was, now = _active(change.get("old")), _active(change.get("new"))
        balance[key] += (now and not was) - (was and not now)
    problems = []
    for (user, entitlement), net in sorted(balance.items()):
        body = (run.reads.get(user) or {}).get("body") or {}
        final = _active((body.get("entitlements") or {}).get(entitlement))
        if net != int(final):
            problems.append(f"{user}/{entitlement}: {net:+d} net grants published, final access {final}")
    return problems, inconsistent


def judge(scenario: Scenario, faulty: RunResult, clean: RunResult) -> Verdict:
    verdict = Verdict()
    sent = {(e.store, e.event_id) for e in scenario.events}
    for key in sorted(sent - faulty.accepted):
        verdict.lost.append(f"{key[0]}:{key[1]} never answered 200")
    for key in sorted(faulty.accepted - set(faulty.events)):
        verdict.lost.append(f"{key[0]}:{key[1]} answered 200 but not in the event log")
    for key, event in sorted(faulty.events.items()):
        if event["outcome"] == "unresolved" and (clean.events.get(key) or {}).get("outcome") != "unresolved":
            verdict.lost.append(f"{key[0]}:{key[1]} recorded unresolved (fault-free: {clean.events.get(key, {}).get('outcome')})")
        if not event["processed"]:
            verdict.stuck.append(f"{key[0]}:{key[1]} stored, never processed")
    published = {c["changeId"] for c in faulty.changes}
    for key, event in sorted(faulty.events.items()):
        for change in event["changes"]:
            if change["changeId"] not in published:
                verdict.lost_changes.append(f"{change['changeId']} recorded by {key[0]}:{key[1]}, never published")
    if faulty.queue_left:
        verdict.stuck.append(f"{faulty.queue_left} messages left on the store-events queue")
    if faulty.dlq_left:
        verdict.stuck.append(f"{faulty.dlq_left} messages left on the DLQ")

    problems, inconsistent = grant_balance(faulty)
    verdict.double_grants += problems + inconsistent
    for user, profile in sorted(faulty.profiles.items()):
        expected = (clean.profiles.get(user) or {}).get("refunds", 0)
        if profile["refunds"] > expected:
            verdict.double_grants.append(f"{user}: {profile['refunds']} refunds counted, fault-free {expected}")
    for pid, purchase in sorted(faulty.purchases.items()):
        other = clean.purchases.get(pid) or {}
        if _revocations(purchase) != _revocations(other):
            verdict.double_grants.append(f"{pid}: revocations {_revocations(purchase)} != fault-free {_revocations(other)}")

    for user in sorted(set(faulty.reads) | set(clean.reads)):
        if faulty.reads.get(user) != clean.reads.get(user):
            verdict.differences.append(f"user {user}: {_first_difference(clean.reads.get(user), faulty.reads.get(user))}")
    for pid in sorted(set(faulty.purchases) | set(clean.purchases)):
        if faulty.purchases.get(pid) != clean.purchases.get(pid):
            verdict.differences.append(f"purchase {pid}: {_first_difference(clean.purchases.get(pid), faulty.purchases.get(pid))}")
    for user in sorted(set(faulty.profiles) | set(clean.profiles)):
        if faulty.profiles.get(user) != clean.profiles.get(user):
            verdict.differences.append(f"profile {user}: {clean.profiles.get(user)} != {faulty.profiles.get(user)}")

    oracle_problems, oracle_inconsistent = grant_balance(clean)
    verdict.oracle_problems += oracle_problems + oracle_inconsistent
    if clean.queue_left or clean.dlq_left or clean.faults:
        verdict.oracle_problems.append("the fault-free run left messages or saw faults")
    if sent - clean.accepted:
        verdict.oracle_problems.append(f"the fault-free run did not accept {len(sent - clean.accepted)} events")
    return verdict


def _revocations(purchase: dict) -> list:
    found = purchase.get("revocations") or []
    return sorted(found, key=repr) if isinstance(found, list) else found


def _first_difference(expected, actual, path: str = "") -> str:
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(set(expected) | set(actual)):
            if expected.get(key) != actual.get(key):
                return _first_difference(expected.get(key), actual.get(key), f"{path}.{key}")
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for n, (a, b) in enumerate(zip(expected, actual, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{path}[{n}]")
    return f"{path or '.'}: fault-free {expected!r:.300} / faulty {actual!r:.300}"


# ------------------------------------------------------------------------------------------ report


def figures(scenario: Scenario, deliveries: list[Delivery], faulty: RunResult, clean: RunResult, verdict: Verdict) -> dict:
    duplicates = sum(d.duplicate for d in deliveries)
    answers: dict[str, dict[str, int]] = defaultdict(dict)
    for (route, status), n in sorted(faulty.answers.items()):
        answers[route][str(status)] = n
    clean_answers: dict[str, dict[str, int]] = defaultdict(dict)
    for (route, status), n in sorted(clean.answers.items()):
        clean_answers[route][str(status)] = n
    calls = sum(faulty.calls.values())
    injected = sum(n for kind, n in faulty.faults.items() if not kind.startswith("processor."))
    return {
        "seed": scenario.seed,
        "users": len(scenario.users),
        "purchases": len(scenario.purchases),
        "events": len(scenario.events),
        "events_by_store": scenario.by_store(),
        "deliveries_scheduled": len(deliveries),
        "duplicates": duplicates,
        "webhook_answers": dict(answers),
        "webhook_answers_fault_free": dict(clean_answers),
        "store_redeliveries": faulty.store_retries,
        "calls_seen": calls,
        "faults_injected": injected,
        "fault_rate": round(injected / calls, 4) if calls else 0.0,
        "faults_by_kind": dict(sorted(faulty.faults.items())),
        "processor_batches": faulty.batches,
        "records": dict(faulty.records),
        "redrives": faulty.redrives,
        "redriven": faulty.redriven,
        "lost": len(verdict.lost),
        "lost_changes": len(verdict.lost_changes),
        "double_grants": len(verdict.double_grants),
        "stuck": len(verdict.stuck),
        "differences": len(verdict.differences),
        "oracle_problems": len(verdict.oracle_problems),
        "equal": verdict.equal,
        "ok": verdict.ok,
        "changes_published": len(faulty.changes),
        "distinct_changes": len({c["changeId"] for c in faulty.changes}),
        "changes_published_fault_free": len(clean.changes),
        "simulated_last_first_delivery_s": faulty.last_first_delivery,
        "simulated_converged_s": faulty.converged_at,
        "simulated_converged_fault_free_s": clean.converged_at,
        "wall_seconds": round(faulty.wall_seconds, 1),
        "wall_seconds_fault_free": round(clean.wall_seconds, 1),
    }


def render(numbers: dict, verdict: Verdict, limit: int = 10) -> str:
    rows = [
        ("seed", numbers["seed"]),
        ("users / purchases", f"{numbers['users']} / {numbers['purchases']}"),
        ("events generated", f"{numbers['events']} ({', '.join(f'{k} {v}' for k, v in numbers['events_by_store'].items())})"),
        ("deliveries scheduled (of which duplicates)", f"{numbers['deliveries_scheduled']} ({numbers['duplicates']})"),
        ("store redeliveries after a failed answer", numbers["store_redeliveries"]),
    ]
    for route, statuses in numbers["webhook_answers"].items():
        rows.append((f"  {route}", ", ".join(f"{status}: {n}" for status, n in statuses.items())))
    rows += [
        ("calls seen by the injector", numbers["calls_seen"]),
        ("faults injected (share of calls)", f"{numbers['faults_injected']} ({numbers['fault_rate']:.1%})"),
    ]
    rows += [(f"  {kind}", n) for kind, n in numbers["faults_by_kind"].items()]
    rows += [
        ("processor batches / records ok / records failed", f"{numbers['processor_batches']} / {numbers['records'].get('succeeded', 0)} / {numbers['records'].get('failed', 0)}"),
        ("DLQ redrives / messages redriven", f"{len(numbers['redrives'])} / {numbers['redriven']}"),
        ("change events published (distinct) / fault-free", f"{numbers['changes_published']} ({numbers['distinct_changes']}) / {numbers['changes_published_fault_free']}"),
        ("events lost / change events lost", f"{numbers['lost']} / {numbers['lost_changes']}"),
        ("double grants", numbers["double_grants"]),
        ("stuck", numbers["stuck"]),
        ("simulated time: last first delivery / converged", f"{numbers['simulated_last_first_delivery_s']} s / {numbers['simulated_converged_s']} s"),
        ("simulated time to converge, fault-free", f"{numbers['simulated_converged_fault_free_s']} s"),
        ("wall time: faulty run / fault-free run", f"{numbers['wall_seconds']} s / {numbers['wall_seconds_fault_free']} s"),
        ("end state equal to the fault-free run", "yes" if numbers["equal"] else f"NO ({numbers['differences']} differences)"),
        ("verdict", "PASS" if numbers["ok"] else "FAIL"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    for title, items in (
        ("lost", verdict.lost),
        ("lost change events", verdict.lost_changes),
        ("double grants", verdict.double_grants),
        ("stuck", verdict.stuck),
        ("differences", verdict.differences),
        ("fault-free run problems", verdict.oracle_problems),
    ):
        if items:
            lines.append(f"\n{title} ({len(items)}):")
            lines += [f"  {item}" for item in items[:limit]]
    return "\n".join(lines)
