"""``--baseline`` / ``--write-baseline``: known findings are reported but do not fail the run; new ones
and expired ones do. The key of a finding is stable across runs (never the request's random data)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.remote.baseline import EXPIRED, KNOWN, NEW, finding_key, load_baseline, normalize, write_baseline
from mockserver.remote.safety import UsageProblem
from tests.contract_variants import undocumented_status, wrong_content_type
from tests.drift_support import run_cli
from tests.drift_variants import other_error_shape
from tests.support import LiveServer

CONTRACT = ("--read-only", "--phases", "examples,coverage", "--max-examples", "3", "--seed", "1",
            "--rate-limit", "off")
DRIFT = ("--read-only", "--steps", "0", "--seed", "1", "--rate-limit", "off")


# -- the key -----------------------------------------------------------------------------------------


@settings(derandomize=True, max_examples=200)
@given(oid=st.from_regex(r"\A[0-9a-f]{24}\Z"), number=st.integers(0, 10**6),
       value=st.text(alphabet=st.characters(blacklist_characters="'\"`\n"), max_size=20))
def test_the_key_does_not_change_with_ids_numbers_or_quoted_values(oid, number, value):
    first = finding_key("status_code_conformance", "GET /api/v1/customers/{customerId}/users/{userId}",
                        f"user {oid} answered {number} for '{value}' at $.users[{number}]")
    second = finding_key("status_code_conformance", "GET /api/v1/customers/{customerId}/users/{userId}",
                         "user 6500000000000000000001a1 answered 7 for 'x' at $.users[0]")
    assert first == second


def test_the_key_keeps_what_tells_findings_apart():
    assert finding_key("ignored_auth", "GET /a", "x") != finding_key("ignored_auth", "GET /b", "x")
    assert finding_key("ignored_auth", "GET /a", "x") != finding_key("tenant_isolation", "GET /a", "x")
    assert normalize("Undocumented HTTP status code") != normalize("Undocumented Content-Type")


def test_a_file_says_known_new_and_expired(tmp_path):
    path = tmp_path / "baseline.json"
    write_baseline(str(path), "contract", [("a", "GET /x", "one"), ("b", "GET /x", "two")], None)
    document = json.loads(path.read_text())
    document["findings"][1]["expires"] = (date.today() - timedelta(days=1)).isoformat()
    document["findings"][0]["expires"] = (date.today() + timedelta(days=30)).isoformat()
    document["findings"][0]["note"] = "TICKET-1"
    path.write_text(json.dumps(document))
    baseline = load_baseline(str(path), "contract")
    assert baseline.status(finding_key("a", "GET /x", "one"))[0] == KNOWN
    assert baseline.status(finding_key("b", "GET /x", "two"))[0] == EXPIRED
    assert baseline.status(finding_key("c", "GET /x", "three"))[0] == NEW
    # rewriting keeps the dates and notes people put in
    write_baseline(str(path), "contract", [("a", "GET /x", "one")], baseline)
    kept = json.loads(path.read_text())["findings"]
    assert kept == [{**document["findings"][0]}]


@pytest.mark.parametrize("content, words", [
    ("not json", "not JSON"),
    ('{"findings": {}}', "expected"),
    ('{"tool": "drift", "findings": []}', "a baseline of `mockserver drift`"),
    ('{"findings": [{"check": "a"}]}', "needs check, operation and summary"),
    ('{"findings": [{"check": "a", "operation": "b", "summary": "c", "expires": "soon"}]}', "is not a date"),
])
def test_a_bad_baseline_file_is_one_line(tmp_path, content, words):
    path = tmp_path / "b.json"
    path.write_text(content)
    with pytest.raises(UsageProblem, match=words):
        load_baseline(str(path), "contract")
    with pytest.raises(UsageProblem, match="no such file"):
        load_baseline(str(tmp_path / "missing.json"), "contract")


# -- contract and drift with a baseline ----------------------------------------------------------------


def _expire(path, when: date) -> None:
    document = json.loads(path.read_text())
    for entry in document["findings"]:
        entry["expires"] = when.isoformat()
    path.write_text(json.dumps(document))


@pytest.mark.slow
def test_contract_known_violation_passes_new_one_fails_expired_one_fails(tmp_path):
    baseline = tmp_path / "contract-baseline.json"
    with LiveServer(undocumented_status()) as broken:
        code, out, err = run_cli("contract", broken.url, *CONTRACT, "--write-baseline", str(baseline))
        assert code == 1, out[-2000:] + err
        assert json.loads(baseline.read_text())["findings"], "the violations are written"
        # known: reported, does not fail
        code, out, err = run_cli("contract", broken.url, *CONTRACT, "--baseline", str(baseline))
        assert code == 0, out[-2000:] + err
        assert "[known (baseline)]" in out and "known violation(s) of the baseline" in out
        # expired: fails again
        _expire(baseline, date.today())
        code, out, err = run_cli("contract", broken.url, *CONTRACT, "--baseline", str(baseline))
        assert code == 1, out[-2000:] + err
        assert "EXPIRED in the baseline" in out and "expired in the baseline" in out
    _expire(baseline, date.today() + timedelta(days=30))
    # new: another fault is not in the baseline
    with LiveServer(wrong_content_type()) as other:
        code, out, err = run_cli("contract", other.url, *CONTRACT, "--baseline", str(baseline))
    assert code == 1, out[-2000:] + err
    assert "NEW (not in the baseline)" in out and "content_type_conformance" in out


@pytest.mark.slow
def test_drift_known_difference_passes_new_one_fails_expired_one_fails(tmp_path):
    baseline = tmp_path / "drift-baseline.json"
    with LiveServer(other_error_shape()) as broken:
        code, out, err = run_cli("drift", broken.url, *DRIFT, "--write-baseline", str(baseline))
        assert code == 1, out[-2000:] + err
        code, out, err = run_cli("drift", broken.url, *DRIFT, "--baseline", str(baseline))
        assert code == 0, out[-2000:] + err
        assert "[known (baseline)]" in out
        _expire(baseline, date.today() - timedelta(days=1))
        code, out, err = run_cli("drift", broken.url, *DRIFT, "--baseline", str(baseline))
        assert code == 1 and "EXPIRED in the baseline" in out, out[-2000:] + err
    baseline.write_text(json.dumps({"tool": "drift", "findings": []}))
    with LiveServer(other_error_shape()) as broken:
        code, out, err = run_cli("drift", broken.url, *DRIFT, "--baseline", str(baseline))
    assert code == 1 and "NEW (not in the baseline)" in out, out[-2000:] + err
