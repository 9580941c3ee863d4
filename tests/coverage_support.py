"""The fake with its admin API on a real loopback socket, and what it counted on the server side, for the
tests of the runners' --coverage (tests/test_coverage_contract.py, tests/test_coverage_drift.py)."""

from __future__ import annotations

import contextlib

import requests

from mockserver.app.build import ServerOptions, create_app
from mockserver.cli import build_store
from mockserver.spec import schemas
from mockserver.spec.coverage import compute_coverage
from tests.support import LiveServer

ADMIN_TOKEN = "coverage-test-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@contextlib.contextmanager
def fake():
    """The fake on the bundled fixtures, with the admin API and a journal large enough for a whole run."""
    app = create_app(build_store([]), ServerOptions(admin_token=ADMIN_TOKEN, journal_size=100_000))
    with LiveServer(app) as server:
        yield server


def server_side(url: str) -> tuple[dict, dict]:
    """(the fake's /__admin/coverage, the coverage model of the fake's journal)."""
    coverage = requests.get(f"{url}/__admin/coverage", headers=ADMIN, timeout=10).json()
    journal = requests.get(f"{url}/__admin/journal", headers=ADMIN, timeout=10).json()
    assert len(journal["entries"]) < journal["capacity"]  # nothing fell out of it
    return coverage, compute_coverage(schemas.load_spec(), journal["entries"])


def statuses(coverage: dict) -> dict[str, dict[str, int]]:
    return {op["operationId"]: op["statuses"] for op in coverage["operations"]}


def table_rows(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Coverage: the documented"))
    return lines[start + 1:start + 8]  # the header and the six operations
