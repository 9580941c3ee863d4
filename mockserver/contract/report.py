"""Render a :class:`~mockserver.contract.results.RunResult`: the summary table, each failure with
curl lines to reproduce it, the restore result, the verdict line; and the JUnit report.

Every string that leaves this module goes through a :class:`~mockserver.remote.report.Redactor`,
so the token cannot appear in the output or the reports even if a server echoes it back.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import IO

from rich import box
from rich.console import Console
from rich.table import Table

from mockserver.contract.results import FailureRecord, RunResult
from mockserver.remote.report import (
    Redactor,
    curl_line,
    describe_response,
    line_writer,
    say_restore_and_verdict,
    write_plain,
    write_report,
)


def render(result: RunResult, out: IO[str], redact: Redactor, *, color: bool = False) -> None:
    """Plain lines (never wrapped, so curl lines paste whole); colour only on a terminal."""
    say = line_writer(out, redact, color=color)
    write_plain(out, redact, lambda console: _render_table(result, console, redact))
    if result.skipped_operations:
        say()
        say("Not tested:")
        for label, why in result.skipped_operations.items():
            say(f"  {label}: {why}")
    if result.guard is not None and result.guard.refused:
        say(f"The safety guard refused {len(result.guard.refused)} request(s) (never sent):", "bold red")
        for method, url in result.guard.refused[:10]:
            say(f"  {method} {url}")
    if result.unreadable:
        say()
        say(f"Run read-only: {result.unreadable}; no user was changed or deleted", "bold")
    if result.failures:
        say()
        say(f"Failures ({len(result.failures)} distinct, {result.failure_count} in all)", "bold")
        for number, failure in enumerate(result.failures, 1):
            _render_failure(number, failure, say, redact.secrets)
    if result.errors:
        say()
        say(f"Errors ({len(result.errors)}): parts of the run could not be completed", "bold")
        for error in result.errors[:20]:
            message = error.message.strip().splitlines()
            say(f"  {error.label}: {error.title}: {message[0] if message else ''}")
    say_restore_and_verdict(say, result.restore, result.verdict, result.exit_code)


def _render_table(result: RunResult, console: Console, redact: Redactor) -> None:
    labels = list(result.operations)
    checks = sorted({check for _, check in result.tallies} | set(result.checks))
    table = Table(box=box.SIMPLE_HEAD, title=None, pad_edge=False, show_lines=False)
    table.add_column("check", no_wrap=True)
    for label in labels:
        table.add_column(result.operations[label] or label, no_wrap=True)
    for check in checks:
        row = [check]
        for label in labels:
            if label in result.skipped_operations:
                row.append("skipped")
                continue
            tally = result.tallies.get((label, check))
            if tally is None or tally.total == 0:
                row.append("-")
            elif tally.failed:
                row.append(f"FAIL {tally.failed}/{tally.total}")
            elif tally.errored:
                row.append(f"ERROR {tally.errored}/{tally.total}")
            else:
                row.append(f"ok {tally.passed}")
        table.add_row(*row)
    console.print(table)
    for label in labels:
        console.print(redact(f"  {result.operations[label]:<22} {label}"), markup=False, highlight=False)
    statuses = ", ".join(f"{status}: {count}" for status, count in sorted(result.statuses.items()))
    phases = ", ".join(f"{phase} {count}" for phase, count in result.phase_requests.items())
    lines = [f"  {result.requests} requests in {result.running_time:.1f} s ({phases or 'no phase ran'})"
             + (f"; {result.behaviour_requests} of them by the behavioural checks" if result.behaviour_requests else "")]
    lines.append(f"  statuses: {statuses or 'none'}")
    if result.guard is not None:
        sent = ", ".join(f"{method} {count}" for method, count in sorted(result.guard.sent.items()))
        refused = len(result.guard.refused)
        lines.append(f"  methods on the wire: {sent or 'none'}; refused by the safety guard: {refused}")
    for check, why in result.not_run_checks.items():
        lines.append(f"  not run: {check} ({why})")
    for line in lines:
        console.print(redact(line), markup=False, highlight=False)


def _render_failure(number: int, failure: FailureRecord, say, secrets: tuple[str, ...]) -> None:
    say()
    seen = f" (seen {failure.count} times)" if failure.count > 1 else ""
    marked = f" [{failure.baseline_label}]" if failure.baseline_label else ""
    say(f"{number}. [{failure.check}] {failure.operation}: {failure.title}{seen}{marked}", "bold")
    for line in failure.message.strip().splitlines():
        say(f"   {line}")
    if failure.steps:
        say("   Reproduce:" if len(failure.steps) == 1 else "   Reproduce (in order):")
        for step in failure.steps:
            say(f"     {curl_line(step, secrets)}")
    say(f"   Came back: {describe_response(failure.response)}")


def write_junit(result: RunResult, path: str | Path, redact: Redactor) -> None:
    """One testcase per operation and check (classname = operation, name = check)."""
    suite = ET.Element("testsuite", name=f"users-api contract {result.origin}")
    tests = failures = errors = skipped = 0
    properties = ET.SubElement(suite, "properties")
    for key, value in result.settings.items():
        ET.SubElement(properties, "property", name=str(key), value=redact.xml(str(value)))
    failures_by_key: dict[tuple[str, str], list[FailureRecord]] = {}
    for failure in result.failures:
        failures_by_key.setdefault((failure.operation, failure.check), []).append(failure)

    for label in result.operations:
        if label in result.skipped_operations:
            case = ET.SubElement(suite, "testcase", classname=label, name="all checks")
            ET.SubElement(case, "skipped", message=redact.xml(result.skipped_operations[label]))
            tests += 1
            skipped += 1
            continue
        for (op, check), tally in sorted(result.tallies.items()):
            if op != label or tally.total == 0:
                continue
            tests += 1
            case = ET.SubElement(suite, "testcase", classname=label, name=check)
            found = failures_by_key.get((label, check), [])
            if tally.failed or found:
                failures += 1
                for failure in found or []:
                    element = ET.SubElement(case, "failure", type=check, message=redact.xml(failure.title))
                    element.text = redact.xml(_failure_text(failure, redact.secrets))
                if not found:
                    ET.SubElement(case, "failure", type=check, message=f"{tally.failed} failing responses")
            elif tally.errored:
                errors += 1
                ET.SubElement(case, "error", message=f"{tally.errored} of {tally.total} check runs crashed")
    for failure in result.failures:
        if failure.operation not in result.operations:
            tests += 1
            failures += 1
            case = ET.SubElement(suite, "testcase", classname=failure.operation, name=failure.check)
            element = ET.SubElement(case, "failure", type=failure.check, message=redact.xml(failure.title))
            element.text = redact.xml(_failure_text(failure, redact.secrets))
    if result.errors:
        tests += 1
        errors += 1
        case = ET.SubElement(suite, "testcase", classname="run", name="errors")
        element = ET.SubElement(case, "error", message=f"{len(result.errors)} error(s) during the run")
        element.text = redact.xml("\n".join(f"{e.label}: {e.title}: {e.message}" for e in result.errors))
    if result.restore is not None:
        for restore in result.restore.results:
            tests += 1
            case = ET.SubElement(suite, "testcase", classname="restore", name=f"user {restore.user_id}")
            if restore.status == "failed":
                failures += 1
                ET.SubElement(case, "failure", type="restore", message=redact.xml(restore.detail or "restore failed"))
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", str(skipped))
    suite.set("time", f"{result.running_time:.3f}")
    root = ET.Element("testsuites", name="mockserver contract")
    root.append(suite)
    ET.indent(root)
    write_report(path, redact.xml(ET.tostring(root, encoding="unicode", xml_declaration=True)) + "\n")


def write_junit_error(path: str | Path, origin: str, message: str, redact: Redactor) -> None:
    """A JUnit file for a run that could not start: one errored testcase saying why."""
    root = ET.Element("testsuites", name="mockserver contract")
    suite = ET.SubElement(root, "testsuite", name=redact.xml(f"users-api contract {origin}"), tests="1",
                          failures="0", errors="1", skipped="0", time="0")
    case = ET.SubElement(suite, "testcase", classname="run", name="could not run")
    ET.SubElement(case, "error", message=redact.xml(message))
    ET.indent(root)
    write_report(path, ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")


def _failure_text(failure: FailureRecord, secrets: tuple[str, ...]) -> str:
    lines = [failure.message.strip(), ""]
    lines += [curl_line(step, secrets) for step in failure.steps]
    lines.append(f"Came back: {describe_response(failure.response)}")
    if failure.count > 1:
        lines.append(f"(seen {failure.count} times)")
    return "\n".join(lines)
