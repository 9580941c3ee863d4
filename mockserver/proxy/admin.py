"""The proxy's admin routes: ``/__admin/violations`` (GET lists, DELETE clears), and the journal and
coverage with the fake's JSON shapes. The fake's admin API does the routing (from a spec of these
paths), the token check (``Authorization: Bearer <admin token>``) and the problem answers; nothing
under ``/__admin`` is ever forwarded."""

from __future__ import annotations

from types import SimpleNamespace

from mockserver.admin.api import AdminAPI, Reply, spec_with
from mockserver.features.coverage_live import CoverageCounters
from mockserver.features.journal import Journal
from mockserver.proxy.violations import ViolationLog

VIOLATIONS = {
    "get": {"operationId": "admin_violations", "summary": "The contract violations seen, oldest first",
            "responses": {"200": {"description": "The violations."}}},
    "delete": {"operationId": "admin_clear_violations", "summary": "Forget the violations seen",
               "responses": {"204": {"description": "Cleared."}}},
}


class ProxyAdmin(AdminAPI):
    def __init__(self, app, *, journal: Journal | None, coverage: CoverageCounters, violations: ViolationLog,
                 token: str):
        super().__init__(app, control=SimpleNamespace(journal=journal, coverage=coverage), token=token,
                         spec=spec_with(("/journal", "/coverage"), {"/violations": VIOLATIONS}))
        self.violation_log = violations

    async def admin_violations(self, request) -> Reply:
        return Reply(200, {"violations": self.violation_log.violations()})

    async def admin_clear_violations(self, request) -> Reply:
        self.violation_log.clear()
        return Reply(204)
