"""The outcome of a replay and its reports: the text on standard output, ``--json`` and ``--junit``.

Per entry of the HAR file, in the app's order: ``same``, ``differs`` (each difference described as
drift describes it, with the shortest sequence of the app's requests that shows it), ``not sent``
and why, ``not compared`` and why, or ``skipped`` (not a request to the Users API) and why; then a
line per operation and the verdict. Everything goes through the run's
:class:`~mockserver.remote.report.Redactor`; requests are shown as curl lines with the token masked.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mockserver.drift.report import describe
from mockserver.drift.results import COULD_NOT_RUN, DRIFT, NO_DRIFT, Finding
from mockserver.remote.report import (
    Redactor,
    curl_line,
    describe_response,
    line_writer,
    masked_authorization,
    say_restore_and_verdict,
    write_report,
)
from mockserver.remote.restore import RestoreReport
from mockserver.remote.safety import GuardLog
from mockserver.replay.plan import Item

SHOWN_SKIPPED = 30  # skipped entries listed in the text report (all of them are in --json and --junit)


@dataclass
class ReplayResult:
    har_file: str
    har_origin: str
    origin: str
    customer_id: str
    items: list[Item] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)
    mapped: Counter = field(default_factory=Counter)
    fake_source: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    foreign: list[str] = field(default_factory=list)  # customers named that are not the run's
    unreadable: str = ""  # why the --user-id users could not be read first (the recorded writes were not sent)
    guard: GuardLog | None = None
    restore: RestoreReport | None = None
    interrupted: bool = False
    unavailable: bool = False
    exit_code: int = NO_DRIFT
    verdict: str = ""

    @classmethod
    def failed(cls, har_file: str, origin: str, message: str) -> ReplayResult:
        return cls(har_file=har_file, har_origin="", origin=origin, customer_id="", exit_code=COULD_NOT_RUN,
                   verdict=f"could not run: {message}")

    def counts(self) -> Counter:
        return Counter(item.outcome for item in self.items)

    def operations(self) -> dict[str, Counter]:
        """``label -> outcome counts`` for the replayed operations, in the order first seen."""
        found: dict[str, Counter] = {}
        for item in self.items:
            if item.step is not None:
                found.setdefault(item.step.operation, Counter())[item.outcome] += 1
        return found

    def operation_ids(self) -> dict[str, str]:
        return {item.step.operation: item.operation_id for item in self.items if item.step is not None}

    def decide(self) -> None:
        counts = self.counts()
        restore_failed = self.restore is not None and not self.restore.ok
        tail = " RESTORE FAILED: some --user-id users were left changed (see above)." if restore_failed else ""
        stopped = ""
        if self.interrupted:
            stopped = " The run was interrupted: later requests were not compared."
        elif self.unavailable:
            stopped = " The target stopped answering: later requests were not compared."
        elif counts["not compared"]:
            stopped = f" {counts['not compared']} request(s) could not be compared (see above)."
        not_sent = f"; {counts['not sent']} not sent (listed above)" if counts["not sent"] else ""
        if counts["differs"]:
            operations = len({item.step.operation for item in self.items if item.outcome == "differs"})
            self.exit_code = DRIFT
            self.verdict = (f"DRIFT: {counts['differs']} of the app's {counts['differs'] + counts['same']} replayed "
                            f"requests answered differently by {self.origin} and the fake, in {operations} "
                            f"operation(s){not_sent}.{stopped}{tail}")
            return
        self.exit_code = COULD_NOT_RUN
        if self.interrupted:
            self.verdict = f"INTERRUPTED: no difference found before the run stopped.{tail}"
        elif self.unavailable:
            self.verdict = f"UNAVAILABLE: {self.origin} stopped answering during the replay.{tail}"
        elif not counts["same"]:
            self.verdict = (f"NOTHING COMPARED: none of the app's {sum(1 for i in self.items if i.step)} requests "
                            f"to the Users API was sent to both sides{not_sent}.")
        elif counts["not compared"]:
            self.verdict = (f"INCOMPLETE: no difference in {counts['same']} compared requests, but "
                            f"{counts['not compared']} could not be compared (see above).{tail}")
        elif restore_failed:
            self.verdict = f"NO DRIFT, BUT{tail}"
        else:
            self.exit_code = NO_DRIFT
            self.verdict = (f"NO DRIFT: the fake answered all {counts['same']} replayed requests of the app like "
                            f"{self.origin}{not_sent}.")


# -- text ----------------------------------------------------------------------------------------


def write_header(result: ReplayResult, out: IO[str], redact: Redactor, plan, options) -> None:
    """What the run is about to do (before anything is replayed)."""
    items = result.items
    replayed = sum(1 for item in items if item.step is not None)
    withheld = sum(1 for item in items if item.step is not None and item.not_sent)
    token_from = options.token_source if options.token else (
        "the bundled fixtures (Jane's token; --token or $MOCKSERVER_CONTRACT_TOKEN to change)" if plan.token else "none")
    lines = [
        f"Replay of {result.har_file} against {result.origin} and the fake, seeded from {result.fake_source}",
        f"  recorded: {len(items)} entries: {replayed} to the Users API at {result.har_origin} (replayed in order"
        + (f", {withheld} of them not sent: see below" if withheld else "") + f"), "
        f"{len(items) - replayed} skipped (not the Users API)",
        f"  safety: {plan.policy.describe()} [{plan.policy.reason}]",
        *([f"  TLS: {plan.tls.describe()}"] if plan.tls.describe() else []),
        f"  customer {plan.customer_id}; token: {token_from}, in place of every recorded Authorization",
    ]
    if result.mapping:
        lines.append("  ids mapped: " + ", ".join(f"{old} -> {new} ({result.mapped.get(old, 0)} requests)"
                                                 for old, new in result.mapping.items()))
    if result.foreign:
        lines.append(f"  NOTE: requests name customer(s) {', '.join(result.foreign)}, not the run's "
                     f"{plan.customer_id}: if the app ran against another seed, map it (--map "
                     f"{result.foreign[0]}={plan.customer_id})")
    lines.append(f"  rate limit {plan.rate_limit or 'none'}; compared by shape only: "
                 f"{', '.join(result.settings.get('shapeOnly', []))}")
    if result.unreadable:
        lines.append(f"  Run read-only: {result.unreadable}; the recorded writes are not sent")
    if plan.policy.allow_patch and plan.policy.allow_delete:
        lines.append("  WARNING: --allow-delete with --allow-writes: a deleted user cannot be restored (no create operation)")
    out.write(redact("\n".join(lines)) + "\n\n")
    out.flush()


def _request_text(item: Item) -> str:
    if item.step is None:
        return f"{item.recorded.method} {item.recorded.url[:200]}"
    return f"{item.step.method} {item.step.path[:200]} ({item.operation_id})"


def _outcome_text(item: Item) -> str:
    outcome = item.outcome
    if outcome == "same":
        return f"same: {item.target.status}"
    if outcome == "differs":
        kinds = ", ".join(sorted({difference.kind for difference in item.differences}))
        return f"DIFFERS ({kinds}); shown by {_sequence_text(item)}"
    if outcome == "not sent":
        return f"not sent: {item.not_sent or 'the run stopped before it'}"
    if outcome == "not compared":
        return f"not compared: {item.error}"
    return f"skipped: {item.skipped}"


def _sequence_text(item: Item) -> str:
    if item.sequence == [item.number] or not item.sequence:
        return "this request alone"
    return " then ".join(f"#{number}" for number in item.sequence)


def write_text(result: ReplayResult, out: IO[str], redact: Redactor, *, color: bool = False) -> None:
    say = line_writer(out, redact, color=color)
    replayed = [item for item in result.items if item.step is not None]
    skipped = [item for item in result.items if item.step is None]
    say("The app's requests to the Users API, in order:", "bold")
    for item in replayed:
        say(f"  #{item.number:<4} {_request_text(item)}: {_outcome_text(item)}")
    if skipped:
        say()
        say(f"Skipped: {len(skipped)} {'entry that is' if len(skipped) == 1 else 'entries that are'} not a request "
            "to the Users API:", "bold")
        for item in skipped[:SHOWN_SKIPPED]:
            say(f"  #{item.number:<4} {_request_text(item)}: {item.skipped}")
        if len(skipped) > SHOWN_SKIPPED:
            say(f"  ... and {len(skipped) - SHOWN_SKIPPED} more (all of them in --json and --junit)")
    by_number = {item.number: item for item in result.items}
    differing = [item for item in replayed if item.outcome == "differs"]
    if differing:
        say()
        say(f"Differences ({len(differing)} of the app's requests):", "bold")
        for item in differing:
            say()
            say(f"#{item.number} {_request_text(item)}", "bold")
            for difference in item.differences:
                say(f"   [{difference.kind}] {describe(_finding(item, difference))}")
            sequence = [by_number[number] for number in item.sequence or [item.number]]
            if len(sequence) == 1:
                say("   shown by this request alone, on the fake as seeded:")
            else:
                say(f"   shown by {len(sequence)} of the app's requests, in order, from the fake as seeded "
                    f"({', '.join(f'#{other.number}' for other in sequence)}):")
            for other in sequence:
                say(f"     {curl_line(other.step.wire(result.origin))}")
            if item.sequence_note:
                say(f"   ({item.sequence_note})")
            say(f"   target: {describe_response(item.target)}")
            say(f"   fake:   {describe_response(item.fake)}")
    operations = result.operations()
    if operations:
        say()
        say("Per operation:", "bold")
        ids = result.operation_ids()
        for label, counts in operations.items():
            parts = [f"{counts[name]} {name}" for name in ("same", "differs", "not sent", "not compared") if counts[name]]
            say(f"  {ids.get(label, ''):<22} {label}: {sum(counts.values())} recorded: {', '.join(parts)}")
    if result.guard is not None:
        sent = ", ".join(f"{method} {count}" for method, count in sorted(result.guard.sent.items()))
        say(f"  methods on the wire (pre-flight, recording and both sides): {sent or 'none'}; refused by the "
            f"safety guard: {len(result.guard.refused)}")
    say_restore_and_verdict(say, result.restore, result.verdict, result.exit_code)


def _finding(item: Item, difference) -> Finding:
    return Finding(item.step.operation, difference, item.step, item.target, item.fake)


# -- JSON ----------------------------------------------------------------------------------------


def _answer(answer) -> dict[str, Any] | None:
    if answer is None:
        return None
    return {"status": answer.status, "contentType": answer.content_type, "summary": describe_response(answer)}


def _item_json(item: Item, origin: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "entry": item.number,
        "outcome": item.outcome,
        "recorded": {"method": item.recorded.method, "url": item.recorded.url},
    }
    if item.step is None:
        entry["reason"] = item.skipped
        return entry
    headers = {name: masked_authorization(value) if name.lower() == "authorization" else value
               for name, value in item.step.headers.items()}
    entry.update(
        operation=item.step.operation,
        operationId=item.operation_id,
        request={"method": item.step.method, "url": origin + item.step.path, "headers": headers,
                 "body": item.step.body.decode("utf-8", errors="backslashreplace") if item.step.body else None,
                 "curl": curl_line(item.step.wire(origin))},
        reason=item.not_sent or item.error or None,
        targetAnswer=_answer(item.target),
        fakeAnswer=_answer(item.fake),
        differences=[{"kind": d.kind, "form": bool(getattr(d, "form", False)), "where": d.where or None, "target": d.target, "fake": d.fake,
                      "description": describe(_finding(item, d))} for d in item.differences],
        sequence=item.sequence if item.differences else [],
        sequenceNote=item.sequence_note or None,
    )
    return entry


def as_json(result: ReplayResult) -> dict[str, Any]:
    ids = result.operation_ids()
    return {
        "har": result.har_file,
        "harOrigin": result.har_origin or None,
        "target": result.origin,
        "fake": result.fake_source or None,
        "customerId": result.customer_id or None,
        "settings": result.settings,
        "readOnlyBecause": result.unreadable or None,
        "mapped": result.mapping,
        "counts": dict(result.counts()),
        "operations": {label: {"operationId": ids.get(label), **dict(counts)}
                       for label, counts in result.operations().items()},
        "requests": [_item_json(item, result.origin) for item in result.items],
        "interrupted": result.interrupted,
        "restore": None if result.restore is None else result.restore.lines(),
        "exitCode": result.exit_code,
        "verdict": result.verdict,
    }


def write_json(result: ReplayResult, path: str | Path, redact: Redactor) -> None:
    write_report(path, redact(json.dumps(as_json(result), indent=2, ensure_ascii=False)) + "\n")


# -- JUnit ---------------------------------------------------------------------------------------


def write_junit(result: ReplayResult, path: str | Path, redact: Redactor) -> None:
    """One testcase per entry of the file (classname: the operation, or ``skipped``)."""
    root = ET.Element("testsuites", name="mockserver replay")
    suite = ET.SubElement(root, "testsuite", name=redact.xml(f"replay of {result.har_file} against {result.origin}"))
    totals = Counter()
    if result.exit_code == COULD_NOT_RUN and not result.items:
        case = ET.SubElement(suite, "testcase", classname="run", name="could not run")
        ET.SubElement(case, "error", message=redact.xml(result.verdict))
        totals["tests"] += 1
        totals["errors"] += 1
    by_number = {item.number: item for item in result.items}
    for item in result.items:
        totals["tests"] += 1
        name = f"#{item.number} {_request_text(item)}"
        case = ET.SubElement(suite, "testcase", classname=item.step.operation if item.step else "not the Users API",
                             name=redact.xml(name))
        outcome = item.outcome
        if outcome == "differs":
            totals["failures"] += 1
            lines = [f"[{d.kind}] {describe(_finding(item, d))}" for d in item.differences]
            lines += ["", "shown by (in order, from the fake as seeded):"]
            lines += [curl_line(by_number[n].step.wire(result.origin)) for n in item.sequence or [item.number]]
            lines += [f"target: {describe_response(item.target)}", f"fake:   {describe_response(item.fake)}"]
            element = ET.SubElement(case, "failure", type="differs", message=redact.xml(lines[0]))
            element.text = redact.xml("\n".join(lines))
        elif outcome == "not compared":
            totals["errors"] += 1
            ET.SubElement(case, "error", message=redact.xml(item.error))
        elif outcome in ("not sent", "skipped"):
            totals["skipped"] += 1
            reason = item.skipped if outcome == "skipped" else f"not sent: {item.not_sent or 'the run stopped'}"
            ET.SubElement(case, "skipped", message=redact.xml(reason))
    if result.restore is not None:
        for restore in result.restore.results:
            totals["tests"] += 1
            case = ET.SubElement(suite, "testcase", classname="restore", name=f"user {restore.user_id}")
            if restore.status == "failed":
                totals["failures"] += 1
                ET.SubElement(case, "failure", type="restore", message=redact.xml(restore.detail or "restore failed"))
    for key in ("tests", "failures", "errors", "skipped"):
        suite.set(key, str(totals[key]))
    ET.indent(root)
    write_report(path, redact.xml(ET.tostring(root, encoding="unicode", xml_declaration=True)) + "\n")
