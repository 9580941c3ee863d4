"""The coverage model on journal-like entries (no HTTP)."""

from mockserver import schemas
from mockserver.coverage import compute_coverage, meets, render_table

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
