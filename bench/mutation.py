"""Mutation testing of the fake's behaviour code, with the checkers as the tests.

Each mutant is one small change cosmic-ray makes to one module of the fake's behaviour (the store,
the rules module, the Users handlers). The mutated package is served as the *target* (a
``mockserver`` subprocess from a copy of the repository, on a free loopback port, behind a relay so
it is treated as a deployment, not as the proven fake), and ``mockserver contract`` and
``mockserver drift``, from the unmutated install, are run against it with the options a CI
engineer checking staging passes (``--allow-writes --allow-delete --user-id ...``,
``--other-customer-id/--other-token``, ``--lookup-token/--lookup-user-id``). A mutant is killed
when either exits non-zero (1: a violation or a difference; 2: the target could not be checked,
e.g. it no longer starts). The unmutated copy is run first the same way and must exit 0 twice.

Why cosmic-ray (8.7, pinned in pyproject.toml) and not mutmut: mutmut 3 runs mutants inside the
pytest process through trampolines selected by an environment variable, which suits unit tests
but not a mutant served as a separate process that other programs check over HTTP. cosmic-ray's
library API is exactly "apply one mutation to a file, then run any command": we use
:func:`cosmic_ray.plugins.operator_names`/:func:`~cosmic_ray.plugins.get_operator` to enumerate,
:func:`cosmic_ray.ast.get_ast_from_path`/:func:`~cosmic_ray.ast.ast_nodes` to count each operator's
occurrences (as ``cosmic-ray init`` does) and :func:`cosmic_ray.mutating.mutate_code` to make the
mutant's source.

Only code a request can reach is mutated (:data:`BEHAVIOUR`: the functions of each module that
answer the API); persistence, forks, the admin API and the memory tricks are not the API's
behaviour. Survivors are run a second time with another seed and more model steps; those that
survive again are run once more through drift with ``--fail-on form``: a mutant drift shows only as a
difference in form (what the documents leave open, such as the precision of a timestamp: by design
not a failure) is counted apart. The rest are listed with their diff, for a person to judge: a gap
(a missing check), or equivalent, with the reason, in ``bench/mutation-equivalent.json``. The score
is killed / (valid - form only - equivalent); the raw score, killed / valid, is given beside it.

    python bench/mutation.py --jobs 2 --json bench/mutation-results.json        # every mutant
    python bench/mutation.py --jobs 2 --only bench/mutation-results.json --json after-fix.json

About 15 s a mutant on one core (a survivor about twice that): run it in the background. ``--list`` only
counts.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import queue
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support import Relay  # noqa: E402  (the relay the tests put in front of a deployment)

ACME = "6500000000000000000000a1"
BIRCH = "6500000000000000000000b2"
USERS = ("6500000000000000000001a3", "6500000000000000000001a5", "6500000000000000000001a8")
STAGING = [
    "--token", "acme-admin-token", "--customer-id", ACME, "--allow-writes", "--allow-delete",
    *[arg for user in USERS for arg in ("--user-id", user)],
    "--other-customer-id", BIRCH, "--other-token", "birch-admin-token",
    "--lookup-token", "robert-token", "--lookup-user-id", "6500000000000000000001a2",
]
# A deployment's data may hold times ahead of its clock (replicas whose clocks disagree, imported
# records): only then does the rule "updatedAt moves to now, and at least 1 ms past its previous
# value" show its second half. One of the writable users is such a user on every target.
AHEAD = (USERS[2], "2030-06-01T12:00:00Z")
# module (relative to the repository) -> the functions (qualified) whose code answers the API;
# None: every function of the module.
BEHAVIOUR: dict[str, tuple[str, ...] | None] = {
    # The rules the fake answers by (the others are the checkers' side: order and time checks).
    "mockserver/spec/rules.py": ("search_terms", "search_key", "collapse", "email_key", "next_updated_at",
                                 "identity_answer"),
    "mockserver/server/handlers/users.py": None,
    "mockserver/store/memory.py": (
        "Store._user_ids", "Store.list_users_json", "Store.get_user_json", "Store.identity",
        "Store.update_user_json", "Store._check_update", "Store._next_timestamp", "Store.delete_user_json",
        "Store._customer", "Store._user", "Principal.may_access",
    ),
    "mockserver/store/index.py": (
        "Customer.__init__", "Customer.search", "Customer.set_search_key", "SearchText.__init__", "SearchText.find",
        "with_member", "without_member",
    ),
    "mockserver/store/render.py": None,
}
COPIED = ("mockserver", "openapi", "fixtures", "contract", "pyproject.toml")
START_TIMEOUT = 60.0
INVALID = "invalid: the mutated module is not valid Python (left out of the score)"
EQUIVALENT = ROOT / "bench" / "mutation-equivalent.json"
FORM_ONLY = "a difference in form only: drift lists it and fails with --fail-on form (left out of the score)"
RUN_TIMEOUT = 300.0  # a checker still running then: the target hangs (counted as killed: "hung")
HUNG = 124


@dataclass
class Mutant:
    module: str
    operator: str
    occurrence: int
    line: int
    function: str
    diff: str = ""

    @property
    def name(self) -> str:
        return f"{self.module}:{self.line} {self.operator.split('/')[-1]}#{self.occurrence}"


@dataclass
class Outcome:
    mutant: Mutant
    contract: int | None = None  # exit codes (None: not run)
    drift: int | None = None
    second: tuple[int | None, int | None] | None = None  # a survivor's second run
    form: int | None = None  # a survivor's drift exit with --fail-on form (1: a difference in form only)
    note: str = ""
    seconds: float = 0.0

    @property
    def killed(self) -> bool:
        return bool(self.contract) or bool(self.drift) or self.note.startswith("does not start")

    @property
    def invalid(self) -> bool:
        return self.note == INVALID


@dataclass
class Summary:
    generated: int = 0
    run: int = 0
    killed_by_contract: int = 0
    killed_by_drift: int = 0
    killed_by_either: int = 0
    killed_at_start: int = 0
    invalid: int = 0  # not valid Python: left out of the score
    form_only: int = 0  # survivors drift shows as differences in form only: left out of the score
    equivalent: int = 0  # survivors judged equivalent in EQUIVALENT (each with its reason): left out
    score: float | None = None  # killed / (run - invalid - form only - equivalent), in %
    raw_score: float | None = None  # killed / (run - invalid), in %
    survivors: list[dict] = field(default_factory=list)
    outcomes: list[dict] = field(default_factory=list)


def _enclosing(tree: ast.AST) -> dict[int, str]:
    """line -> the qualified name of the innermost function holding it."""
    names: dict[int, str] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qualified = f"{prefix}{child.name}"
                for line in range(child.lineno, (child.end_lineno or child.lineno) + 1):
                    names[line] = qualified
                visit(child, f"{qualified}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return names


def _annotations(tree: ast.AST) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) positions of every type annotation: with ``from __future__ import annotations``
    they are never evaluated, so a mutant there (``str | None`` to ``str & None``) changes nothing."""
    spans = []
    for node in ast.walk(tree):
        found = []
        if isinstance(node, ast.arg) and node.annotation is not None:
            found.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            found.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
        spans += [((a.lineno, a.col_offset), (a.end_lineno or a.lineno, a.end_col_offset or 0)) for a in found]
    return spans


def mutants(modules: dict[str, tuple[str, ...] | None] = BEHAVIOUR) -> list[Mutant]:
    """Every mutant cosmic-ray's core operators make in the behaviour code, in a stable order."""
    from cosmic_ray.ast import ast_nodes, get_ast_from_path
    from cosmic_ray.plugins import get_operator, operator_names

    found = []
    operators = []
    for name in operator_names():
        cls = get_operator(name)
        if not cls.arguments():
            operators.append((name, cls()))
    for module, functions in modules.items():
        path = ROOT / module
        tree = get_ast_from_path(path)
        parsed = ast.parse(path.read_text(encoding="utf-8"))
        lines, annotations = _enclosing(parsed), _annotations(parsed)
        for name, operator in operators:
            positions = [(start, end) for node in ast_nodes(tree) for start, end in operator.mutation_positions(node)]
            for occurrence, (start, _end) in enumerate(positions):
                function = lines.get(start[0], "")
                if not function:
                    continue  # module level: constants, imports
                if any(low <= start < high for low, high in annotations):
                    continue  # a type annotation, never evaluated
                if functions is not None and not any(function == f or function.startswith(f + ".")
                                                     for f in functions):
                    continue
                found.append(Mutant(module, name, occurrence, start[0], function))
    return found


def mutated_source(mutant: Mutant) -> str | None:
    from cosmic_ray.mutating import mutate_code
    from cosmic_ray.plugins import get_operator

    source = (ROOT / mutant.module).read_text(encoding="utf-8")
    return mutate_code(source, get_operator(mutant.operator)(), mutant.occurrence)


def _diff(before: str, after: str, module: str) -> str:
    import difflib

    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), f"a/{module}", f"b/{module}",
                                 lineterm="", n=0)
    return "\n".join(line for line in lines if not line.startswith(("---", "+++")))


class Target:
    """A copy of the repository served by ``mockserver`` (one mutant applied), behind a relay."""

    def __init__(self, copy: Path):
        self.copy = copy
        self.process: subprocess.Popen | None = None
        self.relay: Relay | None = None

    def __enter__(self) -> str | None:
        env = {**os.environ, "PYTHONPATH": str(self.copy), "PYTHONDONTWRITEBYTECODE": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mockserver", "--port", "0", "--no-access-log"], cwd=self.copy, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + START_TIMEOUT
        url = None
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            if "serving on http://" in line:
                url = line.rsplit(" ", 1)[1].strip()
                break
        if url is None:
            return None
        # Keep reading its output (a full pipe would stall the server).
        threading.Thread(target=lambda: [None for _ in self.process.stdout], daemon=True).start()
        self.relay = Relay(url).__enter__()
        return self.relay.url

    def __exit__(self, *exc) -> None:
        if self.relay is not None:
            self.relay.__exit__(None, None, None)
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


CHECKERS: dict[str, Path] = {}  # "copy": an unmutated copy the checkers run from (made once per run)


def check(copy: Path, command: str, seed: int, steps: int, more: tuple[str, ...] = ()) -> tuple[int | None, str]:
    """Start the copy as a fresh target and run one checker against it: (exit code, its output's tail);
    None when the target did not start. The checkers run from an unmutated copy made at the start
    (so the whole run uses one version of them), else from this repository."""
    with Target(copy) as url:
        if url is None:
            return None, "the target did not start"
        # --rate-limit off: the target is a local process (a deployment would keep the 10/s default);
        # it answers in milliseconds, so 5 s without an answer is a hang.
        extra = ["--seed", str(seed), "--rate-limit", "off", "--request-timeout", "5"] + (
            ["--phases", "examples,coverage", "--max-examples", "2"] if command == "contract" else
            ["--steps", str(steps)]) + list(more)
        checkers = CHECKERS.get("copy")
        env = {**os.environ, "NO_COLOR": "1", **({"PYTHONPATH": str(checkers)} if checkers else {})}
        try:
            done = subprocess.run([sys.executable, "-m", "mockserver", command, url, *STAGING, *extra],
                                  cwd=checkers or ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env)
        except subprocess.TimeoutExpired:
            return HUNG, f"{command} did not finish in {RUN_TIMEOUT:.0f} s: the target hangs"
        verdict = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()][-1:]
        return done.returncode, " ".join(verdict)


def make_copy(into: Path, *, target: bool = True) -> Path:
    """A copy of the repository in ``into``. A target's copy serves the bundled fixtures with
    :data:`AHEAD`: one writable user whose ``updatedAt`` is ahead of the clock."""
    into.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, into / name)
    if target:
        fixtures = into / "fixtures" / "acme.json"
        document = json.loads(fixtures.read_text(encoding="utf-8"))
        user_id, updated_at = AHEAD
        for customer in document["customers"]:
            for user in customer.get("users", []):
                if user["_id"] == user_id:
                    user["updatedAt"] = updated_at
        fixtures.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return into


def run_mutant(copy: Path, mutant: Mutant, seed: int, steps: int, log=print, listed: frozenset[str] = frozenset()) -> Outcome:
    """One mutant: served from ``copy``, checked by contract and drift; a survivor runs again (and through
    drift with --fail-on form), unless ``listed`` (judged equivalent before: --quick-equivalent) names it."""
    started = time.monotonic()
    path = copy / mutant.module
    original = path.read_text(encoding="utf-8")
    source = mutated_source(mutant)
    outcome = Outcome(mutant)
    if source is None:
        outcome.note = "no mutation applied"
        return outcome
    mutant.diff = _diff(original, source, mutant.module)
    try:
        compile(source, mutant.module, "exec")
    except SyntaxError:
        # cosmic-ray's operators also rewrite ``**`` in ``{**mapping}``: not Python, not a mutant.
        outcome.note = INVALID
        return outcome
    path.write_text(source, encoding="utf-8")
    try:
        outcome.contract, said = check(copy, "contract", seed, steps)
        if outcome.contract is None:
            outcome.note = "does not start"
            return outcome
        outcome.drift, said_drift = check(copy, "drift", seed, steps)
        if not outcome.killed and mutant.name in listed:
            outcome.note = "survived; listed as equivalent (no second run: --quick-equivalent)"
        elif not outcome.killed:
            # A second run, another seed and more steps: a survivor is listed only if it survives again.
            second = (check(copy, "contract", seed + 1, steps)[0], check(copy, "drift", seed + 1, steps * 2)[0])
            outcome.second = second
            if any(second):
                outcome.note = "killed only by the second run (another seed)"
            else:
                # What the documents leave open (timestamp precision, extra fields) is a difference in
                # form: listed by drift, failing only with --fail-on form. Such a survivor is marked.
                outcome.form = check(copy, "drift", seed, steps, ("--fail-on", "form"))[0]
                if outcome.form == 1:
                    outcome.note = FORM_ONLY
        else:
            outcome.note = said if outcome.contract else said_drift
    finally:
        path.write_text(original, encoding="utf-8")
        outcome.seconds = round(time.monotonic() - started, 1)
        log(f"{mutant.name} [{mutant.function}] contract={outcome.contract} drift={outcome.drift} "
            f"second={outcome.second} {outcome.seconds}s")
    return outcome


def summarize(generated: int, outcomes: list[Outcome], equivalent: dict[str, str] | None = None) -> Summary:
    """The figures; ``equivalent``: survivors a person judged equivalent ({mutant name: why})."""
    equivalent = load_equivalent() if equivalent is None else equivalent
    summary = Summary(generated=generated, run=len(outcomes))
    for outcome in outcomes:
        if outcome.invalid:
            summary.invalid += 1
            summary.outcomes.append({**asdict(outcome), "mutant": outcome.mutant.name,
                                     "mutant_fields": asdict(outcome.mutant)})
            continue
        by_second = bool(outcome.second and any(outcome.second))
        summary.killed_by_contract += bool(outcome.contract) or bool(outcome.second and outcome.second[0])
        summary.killed_by_drift += bool(outcome.drift) or bool(outcome.second and outcome.second[1])
        summary.killed_at_start += outcome.note == "does not start"
        if outcome.killed or by_second:
            summary.killed_by_either += 1
        elif outcome.note == FORM_ONLY:
            summary.form_only += 1
        elif outcome.mutant.name in equivalent:
            summary.equivalent += 1
            outcome.note = f"equivalent: {equivalent[outcome.mutant.name]}"
        else:
            summary.survivors.append({"mutant": outcome.mutant.name, "function": outcome.mutant.function,
                                      "diff": outcome.mutant.diff})
        summary.outcomes.append({**asdict(outcome), "mutant": outcome.mutant.name,
                                     "mutant_fields": asdict(outcome.mutant)})
    valid = summary.run - summary.invalid - summary.form_only - summary.equivalent
    summary.score = round(100 * summary.killed_by_either / valid, 1) if valid else None
    compiled = summary.run - summary.invalid
    summary.raw_score = round(100 * summary.killed_by_either / compiled, 1) if compiled else None
    return summary


def load_equivalent() -> dict[str, str]:
    """The survivors judged equivalent, by mutant name, each with the reason (bench/mutation-equivalent.json)."""
    if not EQUIVALENT.exists():
        return {}
    return {entry["mutant"]: entry["why"] for entry in json.loads(EQUIVALENT.read_text(encoding="utf-8"))}


def baseline(copy: Path, seed: int, steps: int) -> list[str]:
    """The unmutated copy, checked like a mutant (two seeds, drift also with --fail-on form): every run must exit 0."""
    problems = []
    for run_seed in (seed, seed + 1):
        # drift with --fail-on form too: a survivor's form-only verdict means nothing if the
        # unmutated target already shows a difference in form.
        for command, more in (("contract", ()), ("drift", ()), ("drift", ("--fail-on", "form"))):
            code, said = check(copy, command, run_seed, steps, more)
            if code != 0:
                problems.append(f"{command} {' '.join(more)} --seed {run_seed} exited {code}: {said}")
    return problems


def markdown(summary: dict, only: dict | list[dict] | None = None) -> str:
    """The figures of a --json file as the Markdown of bench/RESULTS.md; ``only``: later runs (an --only
    run of its survivors after a fix, or the rest of an interrupted run), in order, whose outcomes
    replace or add to its own, mutant by mutant."""
    later = [only] if isinstance(only, dict) else list(only or [])
    diffs = {entry["mutant"]: entry["diff"] for run in (summary, *later) for entry in run.get("survivors", [])}
    outcomes = {entry["mutant"]: entry for entry in summary["outcomes"]}
    for run in later:
        outcomes.update({entry["mutant"]: entry for entry in run["outcomes"]})
    read = [_outcome(entry, diffs) for entry in outcomes.values()]
    merged = summarize(summary["generated"], read)
    per_module: dict[str, list[int]] = {}
    for outcome in read:
        counts = per_module.setdefault(outcome.mutant.module, [0, 0])
        counts[0] += 1
        counts[1] += outcome.killed or bool(outcome.second and any(outcome.second))
    lines = [
        "| | mutants |", "|---|---|",
        f"| generated | {merged.generated} |",
        f"| run | {merged.run} |",
        f"| not valid Python (left out) | {merged.invalid} |",
        f"| killed by contract | {merged.killed_by_contract} |",
        f"| killed by drift | {merged.killed_by_drift} |",
        f"| killed by either | {merged.killed_by_either} |",
        f"| a difference in form only (drift lists it; fails with `--fail-on form`) | {merged.form_only} |",
        f"| equivalent (listed below with the reason) | {merged.equivalent} |",
        f"| survived: gaps | {len(merged.survivors)} |",
        f"| **score** (killed / (valid - form only - equivalent)) | **{merged.score} %** |",
        f"| raw score (killed / valid) | {merged.raw_score} % |",
        "", "| module | run | killed |", "|---|---|---|",
        *[f"| `{module}` | {run} | {killed} |" for module, (run, killed) in sorted(per_module.items())],
        "", "| mutant | change | outcome |", "|---|---|---|",
    ]
    for outcome in read:
        if outcome.invalid or outcome.killed or (outcome.second and any(outcome.second)):
            continue
        if not outcome.mutant.diff:  # an older file: made again from the source (unchanged since)
            source = mutated_source(outcome.mutant)
            original = (ROOT / outcome.mutant.module).read_text(encoding="utf-8")
            outcome.mutant.diff = _diff(original, source, outcome.mutant.module) if source else ""
        change = " / ".join(line[1:].strip() for line in outcome.mutant.diff.splitlines() if line.startswith("+"))
        verdict = outcome.note or "**gap**: survived contract and drift twice"
        lines.append(f"| `{outcome.mutant.name}` | `{change[:90]}` | {verdict} |")
    return "\n".join(lines)


def _outcome(entry: dict, diffs: dict[str, str] | None = None) -> Outcome:
    """An outcome read back from a --json file (``diffs``: the survivors' diffs, by name, for files
    written before outcomes carried their mutant's fields)."""
    if "mutant_fields" in entry:
        mutant = Mutant(**entry["mutant_fields"])
    else:  # "module:line Operator#occurrence"
        where, _, operator = entry["mutant"].partition(" ")
        module, _, line = where.rpartition(":")
        name, _, occurrence = operator.rpartition("#")
        mutant = Mutant(module, f"core/{name}", int(occurrence), int(line), "", (diffs or {}).get(entry["mutant"], ""))
    second = tuple(entry["second"]) if entry.get("second") else None
    note = entry.get("note") or ""
    return Outcome(mutant, entry.get("contract"), entry.get("drift"), second, entry.get("form"),
                   "" if note.startswith("equivalent: ") else note, entry.get("seconds", 0.0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", type=int, default=0, help="run this many mutants, drawn with --seed (0: all)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", type=int, default=200, help="drift's --steps for each mutant")
    parser.add_argument("--jobs", type=int, default=1, help="mutants checked at once, each on a copy of its own")
    parser.add_argument("--json", dest="json_file", help="write the figures and every outcome here")
    parser.add_argument("--list", action="store_true", help="only count the mutants, per module")
    parser.add_argument("--only", metavar="FILE", action="append", default=[],
                        help="run only the survivors listed in this earlier --json file (after a fix; repeatable)")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--quick-equivalent", action="store_true",
                        help="a survivor listed in bench/mutation-equivalent.json gets no second run")
    parser.add_argument("--module", action="append", default=[],
                        help="only the mutants of this module (a path ending, repeatable: --module render.py)")
    parser.add_argument("--markdown", metavar="FILE", help="only print an earlier --json file's figures as Markdown "
                        "(with --only: those later runs' outcomes replace or add to the first's, in order)")
    parser.add_argument("--start", type=int, default=0, help="skip the first N mutants of the sample (a resumed run)")
    options = parser.parse_args(argv)
    if options.markdown:
        read = json.loads(Path(options.markdown).read_text(encoding="utf-8"))
        later = [json.loads(Path(name).read_text(encoding="utf-8")) for name in options.only]
        print(markdown(read, later))
        return 0
    every = mutants()
    stale = set(load_equivalent()) - {mutant.name for mutant in every}
    if stale:
        print(f"{EQUIVALENT.name}: no longer among the mutants (the source moved; judge them again): "
              + ", ".join(sorted(stale)))
    if options.list:
        for module in BEHAVIOUR:
            print(f"{module}: {sum(1 for m in every if m.module == module)}")
        print(f"total: {len(every)}")
        return 0
    chosen = every if not options.sample else random.Random(options.seed).sample(every, min(options.sample, len(every)))
    if options.module:
        chosen = [mutant for mutant in chosen if any(mutant.module.endswith(end) for end in options.module)]
    if options.only:
        wanted = {entry["mutant"] for name in options.only
                  for entry in json.loads(Path(name).read_text(encoding="utf-8"))["survivors"]}
        chosen = [mutant for mutant in chosen if mutant.name in wanted]
        missing = wanted - {mutant.name for mutant in chosen}
        if missing:
            print(f"not among today's mutants (the source moved): {', '.join(sorted(missing))}")
            return 2
    chosen = chosen[options.start:]
    listed = frozenset(load_equivalent()) if options.quick_equivalent else frozenset()
    with tempfile.TemporaryDirectory(prefix="mockserver-mutants-") as folder:
        copies = [make_copy(Path(folder) / f"target-{job}") for job in range(max(1, options.jobs))]
        CHECKERS["copy"] = make_copy(Path(folder) / "checkers", target=False)
        if not options.skip_baseline:
            problems = baseline(copies[0], options.seed, options.steps)
            if problems:
                print("the unmutated target does not pass: " + "; ".join(problems))
                return 2
            print("baseline: the unmutated target passes contract and drift (two seeds)", flush=True)
        outcomes: list[Outcome] = []
        free: queue.Queue[Path] = queue.Queue()
        for copy in copies:
            free.put(copy)
        lock = threading.Lock()

        def one(mutant: Mutant) -> None:
            copy = free.get()
            try:
                outcome = run_mutant(copy, mutant, options.seed, options.steps,
                                     log=lambda line: print(line, flush=True), listed=listed)
            finally:
                free.put(copy)
            with lock:
                outcomes.append(outcome)
                if options.json_file:
                    ordered = sorted(outcomes, key=lambda done: chosen.index(done.mutant))
                    Path(options.json_file).write_text(
                        json.dumps(asdict(summarize(len(every), ordered)), indent=2) + "\n", encoding="utf-8")

        with ThreadPoolExecutor(max_workers=len(copies)) as pool:
            list(pool.map(one, chosen))
        summary = summarize(len(every), sorted(outcomes, key=lambda done: chosen.index(done.mutant)))
    print(json.dumps({key: value for key, value in asdict(summary).items() if key != "outcomes"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
