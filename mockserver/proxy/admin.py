"""The proxy's admin routes: ``/__admin/violations`` (GET lists, DELETE clears), and the journal and
coverage with the fake's JSON shapes. The fake's admin API does the dispatch, the token check
(``Authorization: Bearer <admin token>``) and the problem answers; nothing under ``/__admin`` is
ever forwarded."""

from __future__ import annotations

import re
from types import SimpleNamespace

from mockserver.admin.api import AdminAPI, Reply
from mockserver.coverage_live import CoverageCounters
from mockserver.journal import Journal
from mockserver.proxy.violations import ViolationLog


class ProxyAdmin(AdminAPI):
    def __init__(self, app, *, journal: Journal | None, coverage: CoverageCounters, violations: ViolationLog,
                 token: str):
        super().__init__(app, control=SimpleNamespace(journal=journal, coverage=coverage), token=token)
        self.violation_log = violations
        self.routes = [
            (re.compile(r"/violations"), {"GET": ProxyAdmin.list_violations, "DELETE": ProxyAdmin.clear_violations},
             True),
            (re.compile(r"/journal"), {"GET": AdminAPI.journal, "DELETE": AdminAPI.clear_journal}, True),
            (re.compile(r"/coverage"), {"GET": AdminAPI.coverage}, True),
        ]

    async def list_violations(self, request) -> Reply:
        return Reply(200, {"violations": self.violation_log.violations()})

    async def clear_violations(self, request) -> Reply:
        self.violation_log.clear()
        return Reply(204)
