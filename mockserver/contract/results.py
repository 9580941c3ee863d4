"""The outcome of a contract run as plain data, built from Schemathesis' engine events.

Nothing here prints: :mod:`mockserver.contract.report` renders a :class:`RunResult` as text and
JUnit. Requests are kept as recorded on the wire (method, URL, headers, body) so that a failure
can be reproduced with one curl line per request.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from schemathesis.engine import Status, StopReason, events

from mockserver.remote.report import WireRequest, WireResponse
from mockserver.remote.restore import RestoreReport
from mockserver.remote.safety import GuardLog

# Verdicts and their exit codes.
CONFORMS, VIOLATIONS, COULD_NOT_RUN = 0, 1, 2


@dataclass
class Tally:
    passed: int = 0
    failed: int = 0
    errored: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errored


@dataclass
class FailureRecord:
    operation: str
    check: str
    title: str
    message: str
    steps: list[WireRequest]
    response: WireResponse | None
    count: int = 1
    baseline: str = ""  # "known", "new" or "expired" with --baseline (mockserver.remote.baseline); "" without
    baseline_label: str = ""


@dataclass
class ErrorRecord:
    label: str
    title: str
    message: str


@dataclass
class RunResult:
    origin: str
    operations: dict[str, str]  # label -> operationId, every operation of the spec, spec order
    skipped_operations: dict[str, str] = field(default_factory=dict)  # label -> why it was not tested
    tallies: dict[tuple[str, str], Tally] = field(default_factory=dict)
    failures: list[FailureRecord] = field(default_factory=list)
    errors: list[ErrorRecord] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    phase_requests: Counter = field(default_factory=Counter)  # phase name -> requests sent in it
    behaviour_requests: int = 0  # sent by the behavioural checks (mockserver.contract.behaviour)
    not_run_checks: dict[str, str] = field(default_factory=dict)  # check -> why it was switched off
    requests: int = 0
    stop_reason: str = StopReason.COMPLETED.value
    interrupted: bool = False
    running_time: float = 0.0
    guard: GuardLog | None = None
    restore: RestoreReport | None = None
    checks: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    exit_code: int = CONFORMS
    verdict: str = ""
    unreadable: str = ""  # why the --user-id users could not be read first (the run went read-only)

    @property
    def failure_count(self) -> int:
        return sum(failure.count for failure in self.failures)


class Collector:
    """Feed it every engine event; it fills a :class:`RunResult`."""

    def __init__(self, result: RunResult, progress: Any = None):
        self.result = result
        self.progress = progress  # mockserver.remote.progress.PhaseProgress, or None
        self._failure_index: dict[tuple[str, str, str], FailureRecord] = {}

    def feed(self, event: events.EngineEvent) -> None:
        result = self.result
        if self.progress is not None:
            self._progress(event)
        if isinstance(event, events.ScenarioFinished) and event.is_test_scenario:
            self._scenario(event.recorder)
            self.result.phase_requests[event.phase.value] += len(event.recorder.interactions)
        elif isinstance(event, events.NonFatalError):
            result.errors.append(ErrorRecord(label=event.label, title=event.info.title, message=event.info.message))
        elif isinstance(event, events.Interrupted):
            result.interrupted = True
        elif isinstance(event, events.FatalError):
            result.errors.append(
                ErrorRecord(label="run", title="Internal error", message=f"{type(event.exception).__name__}: {event.exception}")
            )
        elif isinstance(event, events.EngineFinished):
            result.stop_reason = event.stop_reason.value
            result.running_time = event.running_time
            for failure in event.failures:
                self._add_failure(failure.operation or "run", "after_run", failure, [], None)

    def _progress(self, event: events.EngineEvent) -> None:
        from schemathesis.engine.run import INTERNAL_PHASES

        if isinstance(event, events.PhaseEvent) and (event.phase.name in INTERNAL_PHASES or not event.phase.is_enabled):
            return
        if isinstance(event, events.PhaseStarted):
            self.progress.started(f"{event.phase.name.value} phase")
        elif isinstance(event, events.PhaseFinished):
            skipped = getattr(event.phase, "skip_reason", None)
            self.progress.finished(f"skipped: {getattr(skipped, 'value', skipped)}" if skipped else "")
        elif isinstance(event, (events.ScenarioFinished, events.FuzzScenarioFinished)):
            self.progress.sent(len(event.recorder.interactions))

    def _scenario(self, recorder) -> None:
        result = self.result
        for interaction in recorder.interactions.values():
            result.requests += 1
            if interaction.response is not None:
                result.statuses[interaction.response.status_code] += 1
        for case_id, nodes in recorder.checks.items():
            node = recorder.cases.get(case_id)
            if node is None:
                continue
            label = node.value.operation.label
            for check in nodes:
                tally = result.tallies.setdefault((label, check.name), Tally())
                if check.status == Status.SUCCESS:
                    tally.passed += 1
                elif check.status == Status.FAILURE:
                    tally.failed += 1
                    info = check.failure_info
                    if info is not None:
                        steps = _steps(recorder, case_id, info.failure)
                        response = _response(recorder, case_id)
                        self._add_failure(label, check.name, info.failure, steps, response)
                else:
                    tally.errored += 1

    def _add_failure(self, label, check, failure, steps, response) -> None:
        key = (label, check, failure.title)
        existing = self._failure_index.get(key)
        if existing is not None:
            existing.count += 1
            return
        record = FailureRecord(
            operation=label,
            check=check,
            title=failure.title,
            message=failure.message,
            steps=steps,
            response=response,
        )
        self._failure_index[key] = record
        self.result.failures.append(record)


def _steps(recorder, case_id: str, failure) -> list[WireRequest]:
    """The requests that reproduce a failure, oldest first (one for most checks)."""
    try:
        related = tuple(failure.related_case_ids())
    except Exception:
        related = ()
    chain = [case.id for case in recorder.iter_chain_cases(case_id=case_id, related_case_ids=related)]
    if case_id not in chain:
        chain.append(case_id)
    steps = []
    for step_id in chain:
        interaction = recorder.interactions.get(step_id)
        if interaction is None:
            continue
        request = interaction.request
        steps.append(
            WireRequest(
                method=request.method,
                url=request.uri,
                headers={name: values[0] for name, values in request.headers.items() if values},
                body=request.body,
            )
        )
    return steps


def _response(recorder, case_id: str) -> WireResponse | None:
    interaction = recorder.interactions.get(case_id)
    if interaction is None or interaction.response is None:
        return None
    response = interaction.response
    content_type = (response.headers.get("content-type") or [""])[0]
    return WireResponse(status=response.status_code, content_type=content_type, body=response.content or b"")
