"""``--coverage FILE`` and ``--min-coverage PCT`` of ``mockserver contract`` and ``mockserver drift``.

What counts: every answer the target gave to a request the run sent it, whichever part of the run
sent it: the pre-flight, the snapshot of ``--user-id`` users, the behavioural checks, Schemathesis'
phases and the project's own checks (contract), the recording, probes, generated requests and
model-based sequences (drift), and the restore at the end. The count is taken where requests leave
the process (``requests.Session.send``, inside the safety guard: a refused request was never sent,
so it is not counted), and only for requests to the target's origin: drift's own fake is not
counted. A request that got no answer (a timeout, a refused connection) is counted apart, as
``unanswered``. Each answer is matched to its operation by method and the spec's path templates,
through the one coverage model (:mod:`mockserver.spec.coverage`).

:func:`prepare` checks the options before the run (exit 2 on a bad value); :meth:`RunCoverage.observing`
counts for the duration; :meth:`RunCoverage.finish` writes the file, prints the table and the gate
line, adds the coverage to the JUnit report and returns the exit code.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from mockserver.contract.results import CONFORMS, COULD_NOT_RUN, VIOLATIONS
from mockserver.remote.report import Redactor, line_writer, write_report
from mockserver.remote.safety import UsageProblem, WriteRefused, strip_base
from mockserver.spec.coverage import Tally, gate_line, meets, render_table

# Why a run may not reach a status, and what does; added to each unseen pair of the file.
HINTS = {
    "200": "a request the target accepts: a known user of the customer, a token that may read it",
    "204": "a request the target accepts: a known user of the customer, a token that may change it",
    "400": "a request the schema refuses (Schemathesis' negative cases, phases coverage and fuzzing)",
    "401": "no token or an unknown one (Schemathesis' auth probes)",
    "403": "a valid token of another customer (--other-customer-id and --other-token; default on the local fake)",
    "404": "an id the customer does not have (random ids; a deleted user)",
    "409": "PATCH with another user's email (email_uniqueness; needs writes: the fake or --allow-writes)",
    "413": "a body over the target's size limit: no generated case is that large; the fake: Prefer: code=413",
    "414": "a request target over the target's length limit: no generated case is that long; the fake: "
           "Prefer: code=414",
    "415": "a body that is not JSON (Schemathesis' coverage phase; needs writes)",
    "422": "roleIds naming no role of the customer (fuzzing; needs writes)",
    "429": "the target's rate limit; the fake: Prefer: code=429",
    "500": "a server error: never by design; the fake: Prefer: code=500 or --error-rate with --error-codes 500",
    "503": "the target unavailable; the fake: Prefer: code=503 or --error-rate with --error-codes 503",
}


def _origin_key(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


class RunCoverage:
    """The coverage of one run's answers from ``origin``; disabled (counts nothing, changes nothing)
    when neither a file nor a gate was asked for."""

    def __init__(self, origin: str, spec: dict[str, Any] | None, *, path: str | None = None,
                 min_coverage: float | None = None, tool: str = "contract"):
        self.origin, self.path, self.min_coverage, self.tool = origin, path, min_coverage, tool
        self.enabled = spec is not None and (path is not None or min_coverage is not None)
        self.tally = Tally(spec) if spec is not None else None
        self.unanswered = 0
        self._key = _origin_key(origin)
        self._base_path = urlsplit(origin).path.rstrip("/")  # a gateway's base path: the spec's paths are under it
        self._lock = threading.Lock()

    def record(self, method: str, url: str, status: int | None) -> None:
        """One answer (``status``) to ``method url``, or none (``status`` None); other origins are ignored."""
        if self.tally is None or _origin_key(url) != self._key:
            return
        if status is None:
            with self._lock:
                self.unanswered += 1
            return
        path = strip_base(unquote(urlsplit(url).path), self._base_path)  # the path as a server routes it
        self.tally.add(method, path, status)

    @contextlib.contextmanager
    def observing(self) -> Iterator[RunCoverage]:
        """Count every answer from the origin for the duration (install it inside the safety guard)."""
        if not self.enabled:
            yield self
            return
        import requests

        previous = requests.Session.send
        recorder = self

        def observed_send(session, request, **kwargs):
            try:
                response = previous(session, request, **kwargs)
            except WriteRefused:
                raise  # never sent
            except Exception:
                recorder.record(request.method, request.url, None)
                raise
            # Followed redirects: the later hops were counted by their own send; this call's answer
            # is the first one.
            first = response.history[0] if response.history else response
            recorder.record(request.method, request.url, first.status_code)
            return response

        requests.Session.send = observed_send
        try:
            yield self
        finally:
            requests.Session.send = previous

    def report(self) -> dict[str, Any]:
        """The coverage model, with a hint on each unseen pair and what the run counted."""
        coverage = self.tally.coverage()
        for operation in coverage["operations"]:
            for unseen in operation["unseen"]:
                unseen["hint"] = HINTS.get(unseen["status"], "")
        coverage["run"] = {
            "tool": f"mockserver {self.tool}",
            "target": self.origin,
            "answers": self.tally.answers(),
            "unanswered": self.unanswered,
            "counted": "every answer the target gave to a request of the run (all phases, checks, pre-flight "
                       "and restore)" + ("; the fake's answers are not counted" if self.tool == "drift" else ""),
        }
        if self.min_coverage is not None:
            coverage["minCoverage"] = self.min_coverage
            coverage["meetsMinCoverage"] = meets(coverage, self.min_coverage)
        return coverage

    def finish(self, exit_code: int, *, out: IO[str], err: IO[str], redact: Redactor, junit: str | None = None,
               color: bool = False) -> int:
        """Write the file, print the table (and the gate line, last), extend the JUnit report; the
        run's exit code, made 1 when a run that conforms is below ``--min-coverage``."""
        if not self.enabled:
            return exit_code
        coverage = self.report()
        judged = self.min_coverage is not None and exit_code != COULD_NOT_RUN
        if self.path:
            try:
                write_report(self.path, redact(json.dumps(coverage, indent=2)) + "\n")
            except OSError as error:
                return self._fail(err, redact, f"cannot write the coverage report {self.path}: "
                                               f"{error.strerror or error}")
        say = line_writer(out, redact, color=color)
        say()
        say(f"Coverage: the documented (operation, status) answers {self.origin} gave in this run "
            "(- never seen)" + (f"; written to {self.path}" if self.path else ""), "bold")
        for line in render_table(coverage).splitlines():
            say(line)
        if self.unanswered:
            say(f"{self.unanswered} request(s) got no answer (not counted)")
        if judged:
            passed = coverage["meetsMinCoverage"]
            say(gate_line(coverage, self.min_coverage), "bold green" if passed else "bold red")
            if not passed and exit_code == CONFORMS:
                exit_code = VIOLATIONS
        out.flush()
        if junit:
            try:
                add_to_junit(junit, coverage, gate_line(coverage, self.min_coverage) if judged else None)
            except (OSError, ET.ParseError) as error:
                return self._fail(err, redact, f"cannot add the coverage to the JUnit report {junit}: "
                                               f"{getattr(error, 'strerror', None) or error}")
        return exit_code

    def _fail(self, err: IO[str], redact: Redactor, message: str) -> int:
        err.write(redact(f"mockserver {self.tool}: could not run: {message}") + "\n")
        err.flush()
        return COULD_NOT_RUN


def prepare(options: Any, origin: str, spec_file: str | Path | None, *, tool: str = "contract") -> RunCoverage:
    """The run's coverage from ``options.coverage`` and ``options.min_coverage``; raises
    :class:`UsageProblem` for a bad value, before anything is sent."""
    path = getattr(options, "coverage", None)
    minimum = getattr(options, "min_coverage", None)
    if minimum is not None:
        if isinstance(minimum, bool) or not isinstance(minimum, int | float) or not math.isfinite(minimum) \
                or not 0 <= minimum <= 100:
            raise UsageProblem(f"--min-coverage {minimum!r}: give a percentage from 0 to 100 (such as 80 or 62.5)")
        minimum = float(minimum)
    if path is not None and (not str(path).strip() or Path(path).is_dir()):
        raise UsageProblem(f"--coverage {str(path)!r}: give a file to write (it is a directory or empty)")
    if path is None and minimum is None:
        return RunCoverage(origin, None, tool=tool)
    from mockserver.spec import schemas
    spec = schemas.load_spec(str(spec_file) if spec_file else None)
    return RunCoverage(origin, spec, path=path, min_coverage=minimum, tool=tool)


def junit_properties(coverage: dict[str, Any]) -> list[tuple[str, str]]:
    """The coverage as JUnit ``<property>`` (name, value) pairs: the figures, then the unseen pairs."""
    unseen = [f"{op['operationId']}:{u['status']}" for op in coverage["operations"] for u in op["unseen"]]
    pairs = [
        ("coverage.covered", str(coverage["covered"])),
        ("coverage.total", str(coverage["total"])),
        ("coverage.percent", f"{coverage['percent']}"),
        ("coverage.undocumented", str(sum(u["count"] for u in coverage["undocumented"]))),
        ("coverage.unseen", " ".join(unseen) or "none"),
    ]
    if "minCoverage" in coverage:
        pairs.append(("coverage.minimum", f"{coverage['minCoverage']:g}"))
    return pairs


def add_to_junit(path: str | Path, coverage: dict[str, Any], gate: str | None) -> None:
    """Add the coverage to every test suite of the JUnit file at ``path`` (as properties), and, when
    the gate was judged, a ``coverage / min_coverage`` testcase that fails below it."""
    path = Path(path)
    tree = ET.parse(path)
    root = tree.getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    for suite in suites:
        properties = suite.find("properties")
        if properties is None:
            properties = ET.Element("properties")
            suite.insert(0, properties)
        for name, value in junit_properties(coverage):
            ET.SubElement(properties, "property", name=name, value=value)
    if gate is not None and suites:
        suite = suites[0]
        case = ET.SubElement(suite, "testcase", classname="coverage", name="min_coverage")
        suite.set("tests", str(int(suite.get("tests", "0")) + 1))
        if not coverage["meetsMinCoverage"]:
            ET.SubElement(case, "failure", type="coverage", message=gate)
            suite.set("failures", str(int(suite.get("failures", "0")) + 1))
    ET.indent(root)
    write_report(path, ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n")
