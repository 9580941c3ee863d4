"""Chaos settings changed while the server runs: ``GET/PUT/DELETE /__admin/chaos``.

The same settings as ``--latency``, ``--error-rate``, ``--error-codes`` and ``--chaos-seed``, with the
same checks (a fault code no operation documents is refused, with the documented ones listed). ``PUT``
replaces the settings in force (a field left out is off); ``DELETE`` turns chaos off. The status and
the dashboard show the lines the banner would print.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace
from typing import Any

from mockserver.core.problems import closed_object_problem
from mockserver.features.chaos import MAX_DELAY_MS, Catalog, ChaosOptions, ChaosPlan, LiveChaos
from mockserver.features.scenarios import ScenarioError as ChaosError  # the same shape: status, detail

FIELDS = ("latencyMs", "errorRate", "errorCodes", "seed")


class ChaosControl:
    def __init__(self, catalog: Catalog, live: LiveChaos, options: ChaosOptions, control: Any, shared: Any = None):
        self.catalog = catalog
        self.live = live
        self.options = replace(options, seed=live.plan.seed) if live.plan is not None else options
        self.control = control  # mockserver.admin.Control: its `chaos` lines are the status's
        self._lock = threading.Lock()
        # A shared backend's settings (mockserver.store.redis_shared.RedisChaos): every replica's, polled.
        self.shared = shared
        self._seen = 0
        if shared is not None:
            self._follow()
            os.register_at_fork(after_in_child=self._start_polling)  # --workers: each process polls
            self._start_polling()

    def _follow(self) -> None:
        """Take the shared settings if they changed (or publish ours when there are none yet)."""
        version, settings = self.shared.read()
        if settings is None and self.options.enabled:
            self._seen = self.shared.publish(self._settings())
        elif version != self._seen and settings is not None:
            self._seen = version
            self._apply(self._checked(settings), publish=False)

    def _start_polling(self) -> None:
        def poll() -> None:
            while True:
                time.sleep(self.shared.POLL_SECONDS)
                try:
                    self._follow()
                except Exception:  # noqa: BLE001 - Redis away for a while: keep the settings in force
                    continue

        threading.Thread(target=poll, name="mockserver-chaos-poll", daemon=True).start()

    def _settings(self) -> dict[str, Any]:
        described = self.describe()
        del described["lines"]
        return described

    def describe(self) -> dict[str, Any]:
        with self._lock:
            options = self.options
            return {"latencyMs": list(options.latency_ms) if options.latency_ms else None,
                    "errorRate": options.error_rate, "errorCodes": list(options.error_codes),
                    "seed": options.seed if options.enabled else None, "lines": list(self.control.chaos)}

    def put(self, body: Any) -> dict[str, Any]:
        self._apply(self._checked(body))
        return self.describe()

    def off(self) -> None:
        self._apply(ChaosOptions())

    def _apply(self, options: ChaosOptions, publish: bool = True) -> None:
        try:
            fault_codes = self.catalog.check_fault_codes(options.error_codes) if options.error_rate > 0 else {}
        except ValueError as err:
            raise ChaosError(400, str(err).replace("--error-codes ", "errorCodes ")) from None
        plan = ChaosPlan(options) if options.enabled else None
        with self._lock:
            self.options = replace(options, seed=plan.seed) if plan is not None else options
            # The middleware reads these one by one: the fault codes go in before the rate that uses them.
            self.live.fault_codes = fault_codes
            self.live.error_rate = options.error_rate
            self.live.plan = plan
            self.control.chaos = self.options.describe(fault_codes) if plan is not None else []
        if publish and self.shared is not None:
            self._seen = self.shared.publish(self._settings())

    @staticmethod
    def _checked(body: Any) -> ChaosOptions:
        problem = closed_object_problem(body, FIELDS, what="chaos settings have",
                                        example='{"latencyMs": [50, 300], "errorRate": 0.1, "errorCodes": [500, 503]}')
        if problem:
            raise ChaosError(400, problem)
        latency = body.get("latencyMs")
        if latency is not None:
            if not (isinstance(latency, list) and len(latency) == 2 and all(_is_int(v) for v in latency)
                    and 0 <= latency[0] <= latency[1] <= MAX_DELAY_MS):
                raise ChaosError(400, f"latencyMs {repr(latency)[:60]}: expected [MIN, MAX] in milliseconds, "
                                      f"0 <= MIN <= MAX <= {MAX_DELAY_MS}")
            latency = (latency[0], latency[1])
        rate = body.get("errorRate", 0)
        if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 <= rate <= 1:
            raise ChaosError(400, f"errorRate {repr(rate)[:40]} is not a number from 0 to 1")
        codes = body.get("errorCodes", [])
        if not isinstance(codes, list) or not all(_is_int(c) and 400 <= c <= 599 for c in codes) or len(codes) > 50:
            raise ChaosError(400, f"errorCodes {repr(codes)[:60]} is not a list of HTTP error statuses (400-599)")
        if rate > 0 and not codes:
            raise ChaosError(400, "errorRate above 0 needs errorCodes, e.g. [500, 503]")
        seed = body.get("seed")
        if seed is not None and (not _is_int(seed) or not 0 <= seed < 2**63):
            raise ChaosError(400, f"seed {repr(seed)[:40]} is not a non-negative integer")
        return ChaosOptions(latency_ms=latency, error_rate=float(rate), error_codes=tuple(dict.fromkeys(codes)),
                            seed=seed)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
