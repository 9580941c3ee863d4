"""The outcome of a drift run as plain data: per operation, the requests sent and the distinct
differences found, each with the first request that showed it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mockserver.drift.compare import Difference
from mockserver.drift.sequence import Step
from mockserver.remote import baseline as baselines
from mockserver.remote.report import WireResponse
from mockserver.remote.restore import RestoreReport
from mockserver.remote.safety import GuardLog

NO_DRIFT, DRIFT, COULD_NOT_RUN = 0, 1, 2
MODEL_SOURCE = "model"  # the source of the model-based sequences' steps (mockserver.drift.model.SOURCE)
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
    baseline: str = ""  # "known", "new" or "expired" with --baseline (mockserver.remote.baseline)
    baseline_label: str = ""

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
    unreadable: str = ""  # why the --user-id users could not be read first (the run went read-only)
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


def decide(result: DriftResult, fail_on: str = "meaning") -> None:
    """Set the exit code and the one-line verdict: fails on differences in meaning (also in form with
    ``fail_on="form"``) that the baseline does not know."""
    restore_failed = result.restore is not None and not result.restore.ok
    tail = " RESTORE FAILED: some --user-id users were left changed (see above)." if restore_failed else ""
    deleted = result.restore.deleted if result.restore is not None else []
    tail += f" Deleted, as --allow-delete allowed: {', '.join(deleted)}." if deleted else ""
    stopped = ""
    if result.interrupted:
        stopped = " The run was interrupted: later requests were not compared."
    elif result.unavailable:
        stopped = " The target stopped answering: later requests were not compared."
    elif result.uncompared:
        stopped = f" {result.uncompared} request(s) could not be compared (see Errors above)."
    rate_limited = result.guard.rate_limited if result.guard is not None else ""
    failing = [finding for finding in result.failing(fail_on) if finding.baseline != baselines.KNOWN]
    known = len(result.findings) - len(failing)
    known_note = f" ({known} known difference(s) of the baseline reported above do not fail the run)" if known else ""
    if rate_limited:
        result.exit_code = COULD_NOT_RUN
        result.verdict = f"RATE LIMITED: the run stopped: {rate_limited}.{tail}"
        return
    if failing:
        operations = len({finding.operation for finding in failing})
        total = sum(finding.count for finding in failing)
        kinds = sorted({finding.kind for finding in failing})
        expired = sum(1 for finding in failing if finding.baseline == baselines.EXPIRED)
        which = f", {expired} of them expired in the baseline" if expired else ""
        result.exit_code = DRIFT
        result.verdict = (f"DRIFT: {len(failing)} distinct difference(s) ({total} in all: {', '.join(kinds)}{which}) "
                          f"in {operations} operation(s) between {result.origin} and the fake.{stopped}{known_note}{tail}")
        return
    result.exit_code = COULD_NOT_RUN
    if result.interrupted:
        result.verdict = f"INTERRUPTED: no drift found before the run stopped.{tail}"
    elif result.unavailable:
        result.verdict = f"UNAVAILABLE: {result.origin} stopped answering during the run.{tail}"
    elif result.sent == 0:
        result.verdict = "NOTHING COMPARED: no request was sent."
    elif result.uncompared:
        result.verdict = (f"INCOMPLETE: no drift in {result.sent} compared requests, but {result.uncompared} "
                          f"could not be compared (see Errors above).{tail}")
    elif restore_failed:
        result.verdict = f"NO DRIFT, BUT{tail}"
    else:
        result.exit_code = NO_DRIFT
        model = result.sources.get(MODEL_SOURCE, 0)
        parts = f" ({result.sent - model} fixed + {model} in model-based sequences)" if model else ""
        result.verdict = (f"NO DRIFT: the fake answered all {result.sent} requests{parts} like {result.origin} "
                          f"({len([op for op in result.operations if result.requests.get(op)])} operations)."
                          f"{known_note}{result.form_note}{tail}")


def finding_summary(finding: Finding) -> tuple[str, str, str]:
    """(check, operation, summary) of a difference, for the baseline: its kind, the operation and
    where it is (a JSON path; list indexes are dropped by the key's normalization), with what each
    side showed for the kinds whose values are the difference (a status, a media type)."""
    difference = finding.difference
    shown = "" if difference.kind in _BY_PATH_ONLY else f" target {difference.target}; fake {difference.fake}"
    return difference.kind, finding.operation, f"{difference.where or '$'}{shown}"


def classify(result: DriftResult, baseline: baselines.Baseline | None) -> None:
    """Mark every difference known, new or expired against ``baseline`` (none: every one is new)."""
    for finding in result.findings:
        if baseline is None:
            continue
        status, entry = baseline.status(baselines.finding_key(*finding_summary(finding)))
        finding.baseline = status
        finding.baseline_label = baseline.label(status, entry)
