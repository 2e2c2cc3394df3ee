"""Fault injection: generated store events for many users, delivered duplicated and reordered through
the real handlers while DynamoDB, SQS, EventBridge and the Play Developer API fail on purpose; the end
state must equal a fault-free run of the same events (docs/RELIABILITY.md, "Fault injection")."""


def run_pair(
    seed: int,
    users: int,
    events: int,
    fault_rate: float = 0.2,
    crash_rate: float = 0.05,
    not_delete_rate: float = 0.05,
    progress=None,
):
    """The same deliveries fault-free, then with faults; (figures, verdict, the printed table)."""
    from tests.chaos import oracle, scenarios, simulation
    from tests.chaos.faults import FaultInjector

    say = progress or (lambda _line: None)
    scenario = scenarios.generate(seed, users, events)
    deliveries = scenarios.schedule(scenario)
    say(f"{len(scenario.events)} events for {len(scenario.users)} users, {len(deliveries)} deliveries")
    clean = simulation.run(scenario, deliveries, label="fault-free", seed=seed, progress=say)
    say(f"fault-free run: {clean.wall_seconds:.1f} s")
    injector = FaultInjector(seed, fault_rate, crash_rate)
    faulty = simulation.run(
        scenario, deliveries, label="faulty", faults=injector, not_delete_rate=not_delete_rate, seed=seed, progress=say
    )
    say(f"faulty run: {faulty.wall_seconds:.1f} s")
    verdict = oracle.judge(scenario, faulty, clean)
    numbers = oracle.figures(scenario, deliveries, faulty, clean, verdict)
    return numbers, verdict, oracle.render(numbers, verdict)
