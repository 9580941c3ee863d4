"""A known-findings baseline for nightly runs: ``--baseline FILE`` and ``--write-baseline FILE``.

A finding (a contract violation, a drift difference) is keyed by what stays the same from one run
to the next, never by what a run generated: the check (or the kind of difference), the operation
as the spec names it (``GET /api/v1/customers/{customerId}/users``), and a normalized summary (the
violation's title, or the JSON path of the difference with list indexes dropped), where ids,
numbers, quoted values and e-mail addresses are masked. Two runs with other seeds that find the
same fault give the same key; the request's random body never enters it. (Schemathesis keys a
failure the same way, by check, operation and title; Specmatic's backward-compatibility gate
compares operations, not examples.)

The file is JSON::

    {"tool": "contract", "findings": [
      {"key": "...", "check": "ignored_auth", "operation": "GET /api/v1/...", "summary": "...",
       "expires": "2027-01-31", "note": "TICKET-123: the gateway answers 200 to a bad token"}]}

``expires`` (optional, a date) ends the acceptance: from that day on the finding fails again.
``note`` is free text for people. ``--write-baseline`` writes every finding of the run, keeping
the ``expires`` and ``note`` of entries the file already had.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from mockserver.remote.safety import UsageProblem

KNOWN, NEW, EXPIRED = "known", "new", "expired"
_MASKS = (
    (re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), "<email>"),
    (re.compile(r"\b[0-9a-f]{24}\b"), "<id>"),
    (re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`"), "<value>"),
    (re.compile(r"\b\d+(\.\d+)?\b"), "<n>"),
    (re.compile(r"\[\d+\]|\[\*\]"), "[]"),
)


def normalize(text: str) -> str:
    """``text`` without what changes between runs: ids, numbers, quoted values, e-mail addresses."""
    text = " ".join(str(text).split())
    for pattern, mask in _MASKS:
        text = pattern.sub(mask, text)
    return text


def finding_key(check: str, operation: str, summary: str) -> str:
    return f"{check} | {operation} | {normalize(summary)}"


@dataclass(frozen=True)
class Entry:
    key: str
    check: str
    operation: str
    summary: str
    expires: date | None = None
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"key": self.key, "check": self.check, "operation": self.operation,
                                 "summary": self.summary}
        if self.expires is not None:
            entry["expires"] = self.expires.isoformat()
        if self.note:
            entry["note"] = self.note
        return entry


@dataclass
class Baseline:
    """The accepted findings of one tool; :meth:`status` says what a run's finding is."""

    tool: str
    path: str = ""
    entries: dict[str, Entry] = field(default_factory=dict)
    today: date = field(default_factory=lambda: datetime.now(UTC).date())

    def status(self, key: str) -> tuple[str, Entry | None]:
        """(KNOWN, entry), (EXPIRED, entry) or (NEW, None)."""
        entry = self.entries.get(key)
        if entry is None:
            return NEW, None
        if entry.expires is not None and entry.expires <= self.today:
            return EXPIRED, entry
        return KNOWN, entry

    @staticmethod
    def label(status: str, entry: Entry | None) -> str:
        """How a finding is marked in the report."""
        if status == KNOWN:
            until = f", accepted until {entry.expires.isoformat()}" if entry and entry.expires else ""
            return f"known (baseline{until})"
        if status == EXPIRED:
            return f"EXPIRED in the baseline on {entry.expires.isoformat()}" if entry and entry.expires else "expired"
        return "NEW (not in the baseline)"


def load_baseline(path: str | None, tool: str) -> Baseline | None:
    """The ``--baseline`` file, or None without one; raises :class:`UsageProblem` (one line) for a bad file."""
    if not path:
        return None
    where = f"--baseline {path}"
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageProblem(f"{where}: no such file (write one with --write-baseline {path})") from None
    except OSError as error:
        raise UsageProblem(f"{where}: cannot read it: {error.strerror or error}") from None
    except ValueError as error:
        raise UsageProblem(f"{where}: not JSON: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
        raise UsageProblem(f'{where}: expected {{"tool": "{tool}", "findings": [...]}}')
    if data.get("tool", tool) != tool:
        raise UsageProblem(f"{where} is a baseline of `mockserver {data.get('tool')}`, not of `mockserver {tool}`")
    baseline = Baseline(tool=tool, path=path)
    for number, item in enumerate(data["findings"], 1):
        if not isinstance(item, dict) or not all(isinstance(item.get(name), str)
                                                 for name in ("check", "operation", "summary")):
            raise UsageProblem(f"{where}: finding {number} needs check, operation and summary (strings)")
        expires = None
        if item.get("expires") is not None:
            try:
                expires = date.fromisoformat(str(item["expires"]))
            except ValueError:
                raise UsageProblem(f"{where}: finding {number}: expires {item['expires']!r} is not a date "
                                   "(YYYY-MM-DD)") from None
        # The key is recomputed: a hand-edited summary still matches what a run finds.
        key = finding_key(item["check"], item["operation"], item["summary"])
        baseline.entries[key] = Entry(key, item["check"], item["operation"], item["summary"], expires,
                                      str(item.get("note") or ""))
    return baseline


def check_writable(path: str | None) -> None:
    """Raise :class:`UsageProblem` before the run when ``--write-baseline`` cannot be written."""
    if path and (Path(path).is_dir() or not Path(path).parent.is_dir()):
        raise UsageProblem(f"--write-baseline {path}: give a file in an existing folder")


def write_baseline(path: str, tool: str, findings: list[tuple[str, str, str]], previous: Baseline | None) -> int:
    """Write ``findings`` ((check, operation, summary) each) as the baseline; returns how many."""
    from mockserver.core.files import write_atomic

    kept = previous.entries if previous is not None else {}
    entries: dict[str, Entry] = {}
    for check, operation, summary in findings:
        key = finding_key(check, operation, summary)
        old = kept.get(key)
        entries[key] = Entry(key, check, operation, summary, old.expires if old else None, old.note if old else "")
    document = {"tool": tool, "findings": [entry.as_json() for entry in entries.values()]}
    write_atomic(Path(path), (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return len(entries)
