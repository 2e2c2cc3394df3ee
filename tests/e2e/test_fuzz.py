"""The fuzzer's seeded subset (`make fuzz` sends 10,000): 1,000 malformed, forged and hostile inputs
across every HTTP route of a fully configured local stack. No answer >= 500, no forged input accepted,
nothing stored for one (the table is read before and after), the stack healthy afterwards and stopped
cleanly with no failure in its log."""

from __future__ import annotations

from tests.fuzz.cases import Cases
from tests.fuzz.runner import run
from tests.fuzz.stack import fuzz_stack

SUBSET = 1_000
SEED = 20_261_204


def test_a_seeded_thousand_hostile_inputs_break_no_rule(tmp_path):
    # GIVEN a stack configured for every store (so that no answer may be a 503 not_configured)
    with fuzz_stack(tmp_path) as target:
        # WHEN the hand-made hostile cases and hypothesis-drawn ones are sent, 1,000 in all
        report = run(target, SUBSET, SEED)
        hand_made = len(Cases(target, "fz_count").hand_made())
    print("\n" + report.table())

    # THEN every input was answered, none with a 5xx, no forged input was accepted, nothing was stored
    # for one, and the stack was healthy afterwards
    assert report.total == SUBSET and hand_made < SUBSET
    assert report.failures() == []
    routes = {answer.case.route for answer in report.answers}
    assert len(routes) >= 12, routes  # every route of the stack, unknown routes included
