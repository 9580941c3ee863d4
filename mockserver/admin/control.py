"""What the admin API and ``--watch`` act on: the store, its seed, the sessions, the journal.

One :class:`Control` per server. Replacing the seed goes through here, so the status the admin API
shows (where the seed came from, the last reload error) is always the truth.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mockserver.core.clock import format_timestamp
from mockserver.features.journal import Journal
from mockserver.features.sessions import Sessions
from mockserver.fixtures.document import FixtureLoader
from mockserver.store.memory import Store


def _now() -> str:
    return format_timestamp(datetime.now(UTC))


@dataclass
class Control:
    store: Store
    sessions: Sessions
    journal: Journal | None
    scenarios: Any = None  # mockserver.features.scenarios.Scenarios: the pending scenario rules
    live_chaos: Any = None  # mockserver.features.chaos_control.ChaosControl: chaos settings changed at run time
    coverage: Any = None  # mockserver.features.coverage_live.CoverageCounters: what GET /__admin/coverage reports
    chaos: list[str] = field(default_factory=list)  # the banner's chaos lines, for the status
    watching: list[str] = field(default_factory=list)  # files --watch polls
    seed_source: str = "start-up fixtures"
    seed_loaded_at: str = field(default_factory=_now)
    reload_error: dict[str, Any] | None = None
    _loader: FixtureLoader | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def operations(self) -> set[str]:
        """The Users API's operationIds (what a verification may name)."""
        routes = self.journal.routes if self.journal is not None else None
        return {op["operationId"] for _m, _r, op in routes.operations() if "operationId" in op} if routes else set()

    @property
    def loader(self) -> FixtureLoader:
        with self._lock:
            if self._loader is None:
                self._loader = FixtureLoader()
            return self._loader

    def replace_seed(self, document: dict[str, Any], source: str) -> None:
        """Make a validated document the seed and the current state; sessions restart from it on
        their next request."""
        self.store.replace(document)
        with self._lock:
            self.seed_source = source
            self.seed_loaded_at = _now()
            self.reload_error = None

    def report_reload_error(self, source: str, problems: list[str]) -> None:
        with self._lock:
            self.reload_error = {"at": _now(), "source": source, "problems": list(problems)}

    def status(self) -> dict[str, Any]:
        customers = self.store.customers()
        with self._lock:
            reload = {"watching": list(self.watching), "lastError": self.reload_error}
            seed = {"source": self.seed_source, "loadedAt": self.seed_loaded_at}
        return {
            "seed": seed,
            "state": {
                "customers": len(customers),
                "users": sum(customer["users"] for customer in customers),
                "tokens": len(self.store.tokens()),
            },
            "reload": reload,
            "sessions": {"count": len(self.sessions), "max": self.sessions.max_sessions,
                         "ttlSeconds": self.sessions.ttl},
            "journal": {"entries": len(self.journal) if self.journal is not None else 0,
                        "capacity": self.journal.size if self.journal is not None else 0},
            "chaos": list(self.chaos),
        }
