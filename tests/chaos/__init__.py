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
    bad_deploy: tuple[int, int] | None = None,
    parallel: bool = False,
    progress=None,
):
    """The same deliveries fault-free and with faults; (figures, verdict, the printed table).

    `parallel`: the fault-free run in a forked process while this one runs the faulty run (each has
    its own moto; the scenario, generated once, is inherited), when the machine has two cores."""
    import multiprocessing
    import os

    from tests.chaos import oracle, scenarios, simulation
    from tests.chaos.faults import FaultInjector

    say = progress or (lambda _line: None)
    scenario = scenarios.generate(seed, users, events)
    deliveries = scenarios.schedule(scenario)
    say(f"{len(scenario.events)} events for {len(scenario.users)} users, {len(deliveries)} deliveries")

    def fault_free(send=None):
        result = simulation.run(scenario, deliveries, label="fault-free", seed=seed, progress=say)
        say(f"fault-free run: {result.wall_seconds:.1f} s")
        if send is None:
            return result
        send.send(result)
        send.close()

    child = None
    if parallel and (os.cpu_count() or 1) >= 2 and "fork" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("fork")
        receive, send = context.Pipe(duplex=False)
        child = context.Process(target=fault_free, args=(send,), name="chaos-fault-free", daemon=True)
        child.start()
        send.close()
    else:
        clean = fault_free()
    injector = FaultInjector(seed, fault_rate, crash_rate)
    faulty = simulation.run(
        scenario,
        deliveries,
        label="faulty",
        faults=injector,
        not_delete_rate=not_delete_rate,
        bad_deploy=bad_deploy,
        seed=seed,
        progress=say,
    )
    say(f"faulty run: {faulty.wall_seconds:.1f} s")
    if child is not None:
        try:
            clean = receive.recv()
        except EOFError:
            raise RuntimeError(f"the fault-free run failed (exit code {child.join() or child.exitcode})") from None
        child.join()
    verdict = oracle.judge(scenario, faulty, clean)
    numbers = oracle.figures(scenario, deliveries, faulty, clean, verdict)
    return numbers, verdict, oracle.render(numbers, verdict)
