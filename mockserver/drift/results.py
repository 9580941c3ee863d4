"""The outcome of a drift run as plain data: per operation, the requests sent and the distinct
differences found, each with the first request that showed it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mockserver.drift.compare import Difference
from mockserver.drift.sequence import Step
from mockserver.remote.report import WireResponse
from mockserver.remote.restore import RestoreReport
from mockserver.remote.safety import GuardLog

NO_DRIFT, DRIFT, COULD_NOT_RUN = 0, 1, 2
# Differences counted once per operation and path whatever the values (one lower-cased email in
# every user is one difference, seen N times); the others also by what each side showed.
_BY_PATH_ONLY = frozenset({"value", "items", "order"})


@dataclass
class Finding:
    operation: str  # "METHOD /path/template"
    difference: Difference
    step: Step  # the first request that showed it
    target: WireResponse | None
    fake: WireResponse | None
    count: int = 1

    @property
    def kind(self) -> str:
        return self.difference.kind


@dataclass
class DriftResult:
    origin: str
    fake_source: str
    customer_id: str
    operations: dict[str, str]  # label -> operationId, spec order (labels of undocumented methods added)
    settings: dict[str, Any] = field(default_factory=dict)
    requests: Counter = field(default_factory=Counter)  # label -> requests sent to each side
    sources: Counter = field(default_factory=Counter)  # probe/examples/coverage/fuzzing -> requests
    findings: list[Finding] = field(default_factory=list)
    not_sent: int = 0  # steps the safety policy keeps from the target (and so from both sides)
    errors: list[str] = field(default_factory=list)
    uncompared: int = 0  # requests sent, but without two answers to compare (see errors)
    interrupted: bool = False
    unavailable: bool = False
    guard: GuardLog | None = None
    restore: RestoreReport | None = None
    exit_code: int = NO_DRIFT
    verdict: str = ""
    # Model-based sequences (mockserver.drift.model): the shortest one that shows a difference.
    sequence: list[Step] = field(default_factory=list)
    model_summary: str = ""
    form_note: str = ""  # no difference in meaning, but some in form (they do not fail the run by default)
    _index: dict[tuple, Finding] = field(default_factory=dict, repr=False)

    @property
    def sent(self) -> int:
        return sum(self.requests.values())

    def add(self, step: Step, differences: list[Difference], target: WireResponse | None,
            fake: WireResponse | None) -> None:
        self.requests[step.operation] += 1
        self.sources[step.source] += 1
        if step.operation not in self.operations:
            self.operations[step.operation] = ""
        for difference in differences:
            key: tuple = (step.operation, difference.kind, difference.where)
            if difference.kind not in _BY_PATH_ONLY:
                key += (difference.target, difference.fake)
            found = self._index.get(key)
            if found is not None:
                found.count += 1
                continue
            finding = Finding(step.operation, difference, step, target, fake)
            self._index[key] = finding
            self.findings.append(finding)

    def failing(self, fail_on: str) -> list[Finding]:
        """The findings that fail the run: those in meaning, also those in form with ``fail_on="form"``;
        sets :attr:`form_note` when only differences in form were found."""
        failing = [f for f in self.findings if fail_on == "form" or not f.difference.form]
        form = [f for f in self.findings if f.difference.form]
        if form and not failing:
            self.form_note = (f" {len(form)} difference(s) in form only (extra fields, wording, precision; "
                              "--fail-on form to fail on them).")
        return failing

    def counts(self, label: str) -> Counter:
        return Counter(finding.kind for finding in self.findings if finding.operation == label)
