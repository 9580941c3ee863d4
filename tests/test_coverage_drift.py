"""``mockserver drift --coverage FILE --min-coverage PCT``: the target's answers only (drift's own fake
answers every request too, and is not counted), checked against the target's own counters and journal;
the gate exits 1 below and 0 at or above the measured figure."""

from __future__ import annotations

import json

import pytest

from tests.coverage_support import fake, server_side, statuses, table_rows
from tests.drift_support import run_cli

pytestmark = pytest.mark.slow
QUICK = ("--steps", "10", "--seed", "2")


def test_the_file_counts_the_targets_answers_not_the_fakes(tmp_path):
    report = tmp_path / "drift-coverage.json"
    with fake() as server:
        code, out, err = run_cli("drift", server.url, *QUICK, "--coverage", str(report))
        by_the_target, by_its_journal = server_side(server.url)
    assert code == 0, out + err
    mine = json.loads(report.read_text(encoding="utf-8"))
    assert statuses(mine) == statuses(by_the_target) == statuses(by_its_journal)
    assert mine["covered"] == by_the_target["covered"] > 10
    assert mine["run"]["tool"] == "mockserver drift" and "fake's answers are not counted" in mine["run"]["counted"]
    sent = {(u["method"], u["path"], u["status"]): u["count"] for u in mine["undocumented"]}
    seen = {(u["method"], u["path"], u["status"]): u["count"] for u in by_the_target["undocumented"]}
    assert sent == seen
    assert table_rows(out)[1].split()[0] == "list_users"
    assert "NO DRIFT" in out and out.rstrip().splitlines()[-1].startswith("coverage: ")


def test_min_coverage_exits_1_below_and_0_at_or_above(tmp_path):
    with fake() as server:
        code, out, err = run_cli("drift", server.url, *QUICK, "--coverage", str(tmp_path / "first.json"))
    assert code == 0, out + err
    first = json.loads((tmp_path / "first.json").read_text(encoding="utf-8"))
    measured = 100.0 * first["covered"] / first["total"]
    with fake() as server:
        code, out, err = run_cli("drift", server.url, *QUICK, "--min-coverage", repr(measured + 0.01))
    assert code == 1, out + err
    assert out.rstrip().splitlines()[-1].startswith(f"coverage gate: {measured:.1f}% of documented answers seen")
    assert "below --min-coverage" in out.rstrip().splitlines()[-1]
    with fake() as server:
        code, out, err = run_cli("drift", server.url, *QUICK, "--min-coverage", repr(measured))
    assert code == 0, out + err
    assert "at or above --min-coverage" in out.rstrip().splitlines()[-1]
    code, out, err = run_cli("drift", "http://127.0.0.1:9", "--min-coverage", "100.5")
    assert code == 2 and "--min-coverage" in err
