"""The coverage model on journal-like entries (no HTTP)."""

import re
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.spec import schemas
from mockserver.spec.coverage import Tally, compute_coverage, gate_line, meets, render_table

C, U = "6500000000000000000000a1", "6500000000000000000001a1"


def test_counts_per_operation_and_status_and_keeps_undocumented_apart():
    spec = schemas.load_spec()
    entries = [
        {"method": "GET", "path": f"/api/v1/customers/{C}/users/{U}", "status": 200},
        {"method": "GET", "path": f"/api/v1/customers/{C}/users/{U}", "status": 200},
        {"method": "GET", "path": f"/api/v1/customers/{C}/users/{U}", "status": 404},
        {"method": "GET", "path": f"/api/v1/customers/{C}/users/lookup", "status": 200},
        {"method": "PATCH", "path": f"/api/v2/customers/{C}/users/{U}", "status": 409},
        {"method": "GET", "path": f"/api/v1/customers/{C}/users/{U}", "status": 418},
        {"method": "HEAD", "path": f"/api/v1/customers/{C}/users/{U}", "status": 200},
    ]
    cov = compute_coverage(spec, entries)
    ops = {op["operationId"]: op for op in cov["operations"]}
    assert ops["get_user"]["statuses"]["200"] == 2 and ops["get_user"]["statuses"]["404"] == 1
    assert ops["lookup_user_identity"]["statuses"]["200"] == 1
    assert ops["update_user_v2"]["statuses"]["409"] == 1
    assert ops["update_user_v1"]["statuses"]["409"] == 0
    assert {"status": "409", "force": "Prefer: code=409"} in ops["update_user_v1"]["unseen"]
    assert cov["total"] == sum(len(op["statuses"]) for op in cov["operations"])
    assert cov["covered"] == 4
    assert [(u["method"], u["status"], u["operationId"]) for u in cov["undocumented"]] == [
        ("GET", "418", "get_user"), ("HEAD", "200", None)]
    assert meets(cov, 100.0 * 4 / cov["total"]) and not meets(cov, 100.0 * 5 / cov["total"])
    table = render_table(cov)
    assert "get_user" in table and f"4/{cov['total']}" in table


# -- property: whatever is observed, every answer is counted once, in the right place ------------

SPEC = schemas.load_spec()
OPERATIONS = [(method.upper(), template, op["operationId"], sorted(str(s) for s in op["responses"]))
              for template, item in SPEC["paths"].items() for method, op in item.items() if method in ("get", "patch",
                                                                                                      "delete")]
SEGMENT = st.text(alphabet=string.ascii_letters + string.digits + "-._~%", min_size=1, max_size=12).filter(
    lambda s: s != "lookup")
STATUS = st.one_of(st.sampled_from(sorted({s for *_, codes in OPERATIONS for s in codes})), st.integers(100, 599))


@st.composite
def observation(draw):
    """(entry, the operationId it belongs to or None): a request to an operation's path with ids
    filled in, maybe with another method, or to a path no operation has."""
    kind = draw(st.sampled_from(["operation", "other method", "no such path"]))
    method, template, operation_id, _ = draw(st.sampled_from(OPERATIONS))
    path = re.sub(r"\{[^}]+\}", lambda _: draw(SEGMENT), template)
    status = str(draw(STATUS))
    if kind == "other method":
        method = draw(st.sampled_from(["HEAD", "OPTIONS", "PUT", "POST", "TRACE"]))
        operation_id = None
    elif kind == "no such path":
        path = "/" + "/".join(draw(st.lists(SEGMENT, min_size=0, max_size=3)))
        operation_id = None
    return {"method": draw(st.sampled_from([method, method.lower()])), "path": path, "status": status}, operation_id


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(observation(), max_size=60), st.integers(1, 40))
def test_every_observation_is_counted_once_where_it_belongs(observations, max_keys):
    entries = [entry for entry, _ in observations]
    cov = compute_coverage(SPEC, entries)
    documented = {op: set(codes) for _, _, op, codes in OPERATIONS}
    expected: dict[tuple[str, str], int] = {}
    for entry, operation_id in observations:
        if operation_id is not None and entry["status"] in documented[operation_id]:
            expected[(operation_id, entry["status"])] = expected.get((operation_id, entry["status"]), 0) + 1
    counted = {(op["operationId"], s): n for op in cov["operations"] for s, n in op["statuses"].items() if n}
    assert counted == expected
    assert cov["total"] == sum(len(codes) for codes in documented.values())
    assert cov["covered"] == len(expected)
    assert sum(counted.values()) + sum(u["count"] for u in cov["undocumented"]) == len(entries)
    assert all(u["operationId"] is None or u["status"] not in documented[u["operationId"]] for u in cov["undocumented"])
    exact = 100.0 * cov["covered"] / cov["total"]
    assert meets(cov, exact) and (cov["covered"] == cov["total"] or not meets(cov, exact + 1e-9))
    # Counting as it happens (ids folded into templates) gives the same model ...
    tally = Tally(SPEC)
    for entry in entries:
        tally.add(entry["method"], entry["path"], entry["status"])
    assert tally.coverage() == cov
    # ... and with a cap on distinct keys, nothing is lost, only folded into "(other requests)".
    small = Tally(SPEC, max_keys=max_keys)
    for entry in entries:
        small.add(entry["method"], entry["path"], entry["status"])
    assert small.answers() == len(entries) and len(small.entries()) <= max_keys + 500
    assert set(gate_line(cov, 50.0).split()) >= {"coverage", "gate:", "--min-coverage", "50"}
