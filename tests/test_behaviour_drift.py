"""drift's model-based sequences: behaviour-breaking variants (tests/behaviour_variants.py) show a
difference found by the generated sequences, shrunk and printed as curl lines with the token
masked; the unmodified fake behind the same proxy shows none, over several seeds, for drift and
for contract; a read-only target gets read-only sequences."""

from __future__ import annotations

import io
import json
import re

import pytest

from mockserver.contract.runner import ContractOptions, run_contract
from mockserver.drift.runner import DriftOptions, run_drift
from tests.behaviour_variants import BEHAVIOUR_VARIANTS, unmodified
from tests.support import LiveServer, MethodRecorder

pytestmark = pytest.mark.slow  # starts servers or runs whole contract, drift, kill or browser runs

FAST = {"phases": ("examples",), "max_examples": 1, "progress": False}


def drift(app, **options) -> tuple[int, str, str, dict]:
    out, err = io.StringIO(), io.StringIO()
    code = run_drift(app, DriftOptions(**{**FAST, **options}), out=out, err=err)
    return code, out.getvalue(), err.getvalue(), {}


def model_findings(stdout: str) -> list[str]:
    """``[kind] OPERATION`` of the differences the model-based sequences found."""
    return re.findall(r"^\d+\. \[([\w-]+)\] (\S+ \S+) .*\n   request \(model:", stdout, re.MULTILINE)


# Variants only the generated, interleaved sequences reach (the fixed probes do not).
MODEL_ONLY = {
    "search_ignores_email": "GET /api/v1/customers/{customerId}/users",
    "search_first_term_only": "GET /api/v1/customers/{customerId}/users",
    "deleted_still_listed": "GET /api/v1/customers/{customerId}/users",
    "deleted_still_searchable": "GET /api/v1/customers/{customerId}/users",
    "stale_reads": "GET /api/v1/customers/{customerId}/users/{userId}",
}


@pytest.mark.parametrize("name", sorted(MODEL_ONLY))
def test_generated_sequences_catch_and_shrink(name):
    code, out, err, _ = drift(BEHAVIOUR_VARIANTS[name].build(), seed=0, steps=60)
    assert code == 1, out + err
    found = model_findings(out)
    assert any(operation.endswith(MODEL_ONLY[name].split(" ", 1)[1]) for _, operation in found), out
    match = re.search(r"^Shortest sequence that shows the difference \((\d+) requests", out, re.MULTILINE)
    assert match, out
    block = out[match.end():].split("\n\n", 1)[0]
    curls = [line for line in block.splitlines() if line.strip().startswith("curl ")]
    assert len(curls) == int(match.group(1)) >= 1
    assert all("Bearer ***" in line for line in curls)
    assert "jane-token" not in out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_false_alarm_on_the_unmodified_fake(seed):
    code, out, err, _ = drift(unmodified(), seed=seed, steps=60)
    assert code == 0, out + err
    assert re.search(r"model-based sequences: \d+ sequences, (\d+) requests", out), out
    out_c, err_c = io.StringIO(), io.StringIO()
    code = run_contract(unmodified(), ContractOptions(seed=seed, phases=("examples",), max_examples=2),
                        out=out_c, err=err_c)
    assert code == 0, out_c.getvalue() + err_c.getvalue()


def test_the_same_seed_sends_the_same_sequences():
    first = MethodRecorder(unmodified())
    second = MethodRecorder(unmodified())
    for recorder in (first, second):
        with LiveServer(recorder) as server:
            code, out, err, _ = drift(server.url, seed=5, steps=30)
            assert code == 0, out + err
    assert first.seen == second.seen


def test_read_only_targets_get_read_only_sequences():
    recorder = MethodRecorder(unmodified())
    with LiveServer(recorder) as server:
        code, out, err, _ = drift(server.url, seed=3, steps=40, read_only=True)
    assert code == 0, out + err
    assert "(read-only; --steps 40" in out
    assert recorder.methods() <= {"GET", "HEAD", "OPTIONS"}, recorder.methods()


def test_steps_zero_keeps_the_fixed_requests_only(tmp_path):
    report = tmp_path / "drift.json"
    code, out, err, _ = drift(unmodified(), seed=0, steps=0, json_file=str(report))
    assert code == 0, out + err
    assert "model-based sequences" not in out
    assert json.loads(report.read_text())["settings"]["steps"] == 0
