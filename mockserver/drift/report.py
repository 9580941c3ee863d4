"""Render a :class:`~mockserver.drift.results.DriftResult`: a table per operation, each difference
with the request that shows it (a curl line) and both answers, the verdict; and the ``--json`` file.

Everything goes through :class:`~mockserver.remote.report.Redactor`, and requests are shown with
:func:`~mockserver.remote.report.curl_line` (Authorization masked).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import IO, Any

from rich import box
from rich.table import Table

from mockserver.drift.compare import KINDS
from mockserver.drift.results import DriftResult, Finding
from mockserver.remote.report import (
    Redactor,
    curl_line,
    describe_response,
    line_writer,
    masked_authorization,
    say_restore_and_verdict,
    write_plain,
    write_report,
)

# Table columns: heading -> the kinds it counts.
COLUMNS = {
    "status": ("status",),
    "content-type": ("content-type",),
    "error format": ("error-format",),
    "fields": ("field",),
    "types/formats": ("type", "format"),
    "values": ("value",),
    "lists": ("items", "order"),
}


UNDOCUMENTED = "other methods"


def _rows(result: DriftResult) -> list[tuple[str, list[str]]]:
    """Table rows: one per operation of the spec, then one for every undocumented method."""
    rows = [(operation_id, [label]) for label, operation_id in result.operations.items() if operation_id]
    others = [label for label, operation_id in result.operations.items() if not operation_id]
    if others:
        rows.append((UNDOCUMENTED, others))
    return rows


def describe(finding: Finding) -> str:
    """One line: what differs, where, and what each side showed."""
    difference = finding.difference
    where = f"{difference.where}: " if difference.where else ""
    if difference.kind == "field":
        side = "the target's" if difference.target == "present" else "the fake's"
        return f"{difference.where} only in {side} answer"
    if difference.kind == "status":
        return f"the target answered {difference.target}, the fake {difference.fake}"
    if difference.kind == "order":
        return f"{where}the same items in another order"
    return f"{where}target {difference.target}, fake {difference.fake}"


def _label(result: DriftResult, operation: str) -> str:
    operation_id = result.operations.get(operation)
    return f"{operation} ({operation_id})" if operation_id else f"{operation} (not in the spec)"


def _ordered_findings(result: DriftResult) -> list[Finding]:
    labels = list(result.operations)
    return sorted(result.findings, key=lambda f: (KINDS.index(f.kind), labels.index(f.operation)))


def render(result: DriftResult, out: IO[str], redact: Redactor, *, color: bool = False) -> None:
    say = line_writer(out, redact, color=color)
    write_plain(out, redact, lambda console: _draw_table(result, console))
    _say_counts(result, say)
    _say_findings(result, say)
    if result.errors:
        say()
        say(f"Errors ({len(result.errors)}):", "bold")
        for error in result.errors[:20]:
            say(f"  {error}")
    say_restore_and_verdict(say, result.restore, result.verdict, result.exit_code)


def _draw_table(result: DriftResult, console) -> None:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("operation", no_wrap=True)
    table.add_column("requests", justify="right", no_wrap=True)
    for heading in COLUMNS:
        table.add_column(heading, justify="right", no_wrap=True)
    for name, labels in _rows(result):
        counts = sum((result.counts(label) for label in labels), Counter())
        sent = sum(result.requests.get(label, 0) for label in labels)
        row = [name, str(sent)]
        for kinds in COLUMNS.values():
            total = sum(counts[kind] for kind in kinds)
            row.append(str(total) if total else ("-" if sent else ""))
        table.add_row(*row)
    console.print(table)
    for label, operation_id in result.operations.items():
        if operation_id:
            console.print(f"  {operation_id:<22} {label}", markup=False, highlight=False)
    if any(not operation_id for operation_id in result.operations.values()):
        console.print(f"  {UNDOCUMENTED:<22} methods the spec does not document on its paths (405 expected)",
                      markup=False, highlight=False)


def _say_counts(result: DriftResult, say) -> None:
    sources = ", ".join(f"{source} {count}" for source, count in result.sources.items())
    say(f"  {result.sent} requests compared ({sources or 'none'})"
        + (f"; {result.uncompared} not compared (see Errors)" if result.uncompared else ""))
    not_compared = [label for label, operation_id in result.operations.items()
                    if operation_id and not result.requests.get(label)]
    if not_compared:
        say(f"  not compared: {', '.join(result.operations[label] for label in not_compared)} "
            f"({result.settings.get('policy', 'not sent')})")
    if result.not_sent:
        say(f"  not sent: {result.not_sent} planned request(s) the safety policy does not allow")
    if result.guard is not None:
        sent = ", ".join(f"{method} {count}" for method, count in sorted(result.guard.sent.items()))
        say(f"  methods on the wire (pre-flight, recording and both sides): {sent or 'none'}; refused by the safety guard: {len(result.guard.refused)}")
    if result.model_summary:
        say(f"  model-based sequences: {result.model_summary}")


def _say_findings(result: DriftResult, say) -> None:
    findings = _ordered_findings(result)
    if findings:
        say()
        total = sum(finding.count for finding in findings)
        say(f"Differences ({len(findings)} distinct, {total} in all)", "bold")
        for number, finding in enumerate(findings, 1):
            say()
            seen = f" (seen {finding.count} times)" if finding.count > 1 else ""
            marked = f" [{finding.baseline_label}]" if finding.baseline_label else ""
            form = " (form)" if finding.difference.form else ""
            say(f"{number}. [{finding.kind}] {_label(result, finding.operation)}: {describe(finding)}{seen}{form}{marked}",
                "bold")
            say(f"   request ({finding.step.source}: {finding.step.note}):")
            say(f"     {curl_line(finding.step.wire(result.origin))}")
            say(f"   target: {describe_response(finding.target)}")
            say(f"   fake:   {describe_response(finding.fake)}")
    if result.sequence:
        say()
        say(f"Shortest sequence that shows the difference ({len(result.sequence)} requests, to each side, in order, "
            "from the state the run's earlier requests left):", "bold")
        for step in result.sequence:
            say(f"     {curl_line(step.wire(result.origin))}")


def _request_json(finding: Finding, origin: str) -> dict[str, Any]:
    step = finding.step
    headers = {}
    for name, value in step.headers.items():
        headers[name] = masked_authorization(value) if name.lower() == "authorization" else value
    return {
        "method": step.method,
        "url": origin + step.path,
        "headers": headers,
        "body": step.body.decode("utf-8", errors="backslashreplace") if step.body else None,
        "source": step.source,
        "note": step.note,
        "curl": curl_line(step.wire(origin)),
    }


def _answer_json(answer) -> dict[str, Any] | None:
    if answer is None:
        return None
    return {"status": answer.status, "contentType": answer.content_type, "summary": describe_response(answer)}


def as_json(result: DriftResult) -> dict[str, Any]:
    operations = {}
    for label, operation_id in result.operations.items():
        counts = result.counts(label)
        operations[label] = {
            "operationId": operation_id or None,
            "requests": result.requests.get(label, 0),
            "differences": dict(sorted(counts.items(), key=lambda item: KINDS.index(item[0]))),
        }
    return {
        "target": result.origin,
        "fake": result.fake_source,
        "customerId": result.customer_id,
        "settings": result.settings,
        "requests": result.sent,
        "requestsBySource": dict(result.sources),
        "notSent": result.not_sent,
        "readOnlyBecause": result.unreadable or None,
        "operations": operations,
        "differences": [
            {
                "operation": finding.operation,
                "operationId": result.operations.get(finding.operation) or None,
                "kind": finding.kind,
                "nature": finding.difference.nature,
                "where": finding.difference.where or None,
                "target": finding.difference.target,
                "fake": finding.difference.fake,
                "description": describe(finding),
                "count": finding.count,
                "baseline": finding.baseline or None,
                "request": _request_json(finding, result.origin),
                "targetAnswer": _answer_json(finding.target),
                "fakeAnswer": _answer_json(finding.fake),
            }
            for finding in _ordered_findings(result)
        ],
        "errors": result.errors,
        "interrupted": result.interrupted,
        "restore": None if result.restore is None else result.restore.lines(),
        "exitCode": result.exit_code,
        "verdict": result.verdict,
    }


def write_json(document: dict[str, Any], path: str | Path, redact: Redactor) -> None:
    write_report(path, redact(json.dumps(document, indent=2, ensure_ascii=False)) + "\n")
