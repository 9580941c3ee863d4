"""A fixed sample of bench/mutation.py's mutants of the fake's behaviour code, each served as the
target of ``mockserver contract`` and ``mockserver drift`` with the staging options: each must be
killed. The full run is the bench script (slow); this keeps the machinery honest."""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

import pytest

pytest.importorskip("cosmic_ray")

ROOT = Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location("bench_mutation", ROOT / "bench" / "mutation.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# (module, function, operator): the first such mutant. Each breaks one documented rule.
SAMPLE = (
    ("mockserver/spec/rules.py", "search_key", "core/AddNot"),  # the searched fields read as empty
    ("mockserver/store/memory.py", "Store._check_update", "core/ReplaceComparisonOperator_NotEq_Eq"),  # 409 inverted
    ("mockserver/server/handlers/users.py", "update_user_v2", "core/NumberReplacer"),  # another status
    # The search index's line offsets drift by one per odd-length user: a term at the end of a late
    # user's email is credited to the next user (found by the first full mutation run).
    ("mockserver/store/index.py", "SearchText.__init__", "core/ReplaceBinaryOperator_Add_BitOr"),
    # A role without `permissions` (optional in the spec) answers 500.
    ("mockserver/store/render.py", "copied_role", "core/AddNot"),
)


def test_the_sample_is_part_of_the_enumeration_and_annotations_are_not_mutated():
    bench = _bench()
    every = bench.mutants()
    for module, function, operator in SAMPLE:
        assert any((m.module, m.function, m.operator) == (module, function, operator) for m in every)
    assert not any(m.function == "search_terms" and "BitOr" in m.operator for m in every)  # `str | None`
    assert {m.module for m in every} == set(bench.BEHAVIOUR)


@pytest.mark.slow
@pytest.mark.parametrize("module, function, operator", SAMPLE)
def test_each_sampled_mutant_is_killed(module, function, operator):
    bench = _bench()
    mutant = next(m for m in bench.mutants() if (m.module, m.function, m.operator) == (module, function, operator))
    with tempfile.TemporaryDirectory() as folder:
        copy = bench.make_copy(Path(folder))
        outcome = bench.run_mutant(copy, mutant, seed=1, steps=30, log=lambda line: None)
        assert (copy / module).read_text(encoding="utf-8") == (ROOT / module).read_text(encoding="utf-8")
    assert mutant.diff.startswith("@@"), mutant.diff
    assert outcome.killed, (outcome.contract, outcome.drift, outcome.note, mutant.diff)


def test_the_score_leaves_out_invalid_form_only_and_listed_equivalent_mutants_and_says_so():
    bench = _bench()
    make = lambda n: bench.Mutant("mockserver/store/memory.py", "core/NumberReplacer", n, 10 + n, "Store._user")  # noqa: E731
    outcomes = [
        bench.Outcome(make(0), contract=1, drift=0),  # killed by contract
        bench.Outcome(make(1), contract=0, drift=1),  # killed by drift
        bench.Outcome(make(2), contract=0, drift=0, second=(0, 1)),  # killed by the second run
        bench.Outcome(make(3), note=bench.INVALID),
        bench.Outcome(make(4), contract=0, drift=0, second=(0, 0), form=1, note=bench.FORM_ONLY),
        bench.Outcome(make(5), contract=0, drift=0, second=(0, 0), form=0),  # judged equivalent below
        bench.Outcome(make(6), contract=0, drift=0, second=(0, 0), form=0),  # a survivor: a gap
    ]
    summary = bench.summarize(400, outcomes, equivalent={make(5).name: "why it is equivalent"})
    assert (summary.killed_by_contract, summary.killed_by_drift, summary.killed_by_either) == (1, 2, 3)
    assert (summary.invalid, summary.form_only, summary.equivalent) == (1, 1, 1)
    assert [s["mutant"] for s in summary.survivors] == [make(6).name]
    assert summary.score == 75.0 and summary.raw_score == 50.0  # 3/4 and 3/6
    noted = {o["mutant"]: o["note"] for o in summary.outcomes}
    assert noted[make(5).name] == "equivalent: why it is equivalent"
    # Read back from its --json form, as --markdown does (the equivalent list is the repository's).
    import json
    from dataclasses import asdict

    text = bench.markdown(json.loads(json.dumps(asdict(summary))))
    assert "| killed by either | 3 |" in text and "| not valid Python (left out) | 1 |" in text
    assert f"`{make(6).name}`" in text and "**gap**" in text
    # Later runs, in order: an --only run that kills the gap, then the rest of an interrupted run.
    fixed = bench.summarize(400, [bench.Outcome(make(6), contract=1, drift=0)], equivalent={})
    rest = bench.summarize(400, [bench.Outcome(make(7), contract=0, drift=1)], equivalent={})
    text = bench.markdown(json.loads(json.dumps(asdict(summary))),
                          [json.loads(json.dumps(asdict(fixed))), json.loads(json.dumps(asdict(rest)))])
    # (make(5) is a gap here: --markdown reads the repository's equivalent list, which does not name it.)
    assert "| run | 8 |" in text and "| killed by either | 5 |" in text and "| survived: gaps | 1 |" in text
    assert f"`{make(6).name}`" not in text and f"`{make(5).name}`" in text


def test_every_listed_equivalent_mutant_is_one_of_todays_mutants_with_a_reason():
    bench = _bench()
    names = {m.name for m in bench.mutants()}
    listed = bench.load_equivalent()
    assert set(listed) <= names, sorted(set(listed) - names)
    assert all(len(reason) > 20 for reason in listed.values())
