"""Run Schemathesis against a deployment (or an ASGI app) with the project's spec and config.

:func:`run_contract` is the whole run: check the options and decide the safety policy
(:func:`mockserver.contract.plan.plan_contract`), pre-flight the target (reachable? token accepted?
customer and users there?), snapshot the users it may change, run the behavioural checks and
Schemathesis' engine under the request guard, restore the users (in a ``finally``, also on Ctrl-C
or SIGTERM), then :func:`report` renders the summary, writes JUnit and returns the exit code:
0 conforms, 1 violations, 2 could not run. It never imports the store: the target is a URL or an app.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import IO, Any

from mockserver.contract import coverage_run
from mockserver.contract.behaviour import Behaviour, Credentials
from mockserver.contract.plan import (
    ContractOptions,
    ContractPlan,
    behaviour_credentials,
    plan_contract,
    wanted_behaviour,
    wants_custom_checks,
)
from mockserver.contract.report import render, write_junit, write_junit_error
from mockserver.contract.results import CONFORMS, COULD_NOT_RUN, VIOLATIONS, Collector, ErrorRecord, RunResult
from mockserver.contract.schema import build_config, load_schema, load_spec
from mockserver.remote import baseline as baselines
from mockserver.remote.client import Client
from mockserver.remote.process import interrupts_deferred, serve_app, sigterm_as_interrupt
from mockserver.remote.progress import PhaseProgress
from mockserver.remote.report import Redactor
from mockserver.remote.restore import RestoreReport, restore_users, snapshot_users
from mockserver.remote.safety import UsageProblem
from mockserver.remote.target import TOKEN_ENV, preflight
from mockserver.remote.tls import insecure_announced
from mockserver.spec.routes import path_methods


def run_contract(
    target: str | Any,
    options: ContractOptions | None = None,
    *,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
) -> int:
    """Check ``target`` (an origin URL, or an ASGI app served on a free loopback port for the run)."""
    options = options or ContractOptions()
    out = out or sys.stdout
    err = err or sys.stderr
    redact = Redactor(tuple(s for s in (options.token, options.other_token, options.lookup_token) if s))
    if isinstance(target, str):
        return _run_url(target, options, out, err, redact)
    with serve_app(target) as url:
        return _run_url(url, options, out, err, redact)


def _fail(err: IO[str], redact: Redactor, message: str, *, junit: str | None = None, origin: str = "") -> int:
    """Exit code 2 with one line on stderr (and, when asked for, a JUnit file that says the same)."""
    err.write(redact(f"mockserver contract: could not run: {message}") + "\n")
    err.flush()
    if junit:
        with contextlib.suppress(OSError):
            write_junit_error(junit, origin, message, redact)
    return COULD_NOT_RUN


def _run_url(url: str, options: ContractOptions, out: IO[str], err: IO[str], redact: Redactor) -> int:
    try:
        plan = plan_contract(url, options)
        credentials = behaviour_credentials(plan, options)
        coverage = coverage_run.prepare(options, plan.target.base, plan.spec_file)  # coverage hook
        baseline = baselines.load_baseline(options.baseline, "contract")
        baselines.check_writable(options.write_baseline)
    except UsageProblem as problem:
        return _fail(err, redact, str(problem), junit=options.junit, origin=url)
    redact = Redactor(tuple(s for s in (options.token, plan.token, credentials.other_token, credentials.lookup_token,
                                        plan.fake_admin_token) if s))

    from mockserver.contract.checks import registered

    client = plan.client(options.request_timeout)
    try:
        with insecure_announced(plan.tls, err), sigterm_as_interrupt(), \
                plan.guard() as guard, registered(wants_custom_checks(plan)), \
                coverage.observing():  # coverage hook: counts what is sent, inside the guard
            problem = guard.rate_limited or preflight(client, plan)
            if problem is not None:
                return _fail(err, redact, guard.rate_limited or problem, junit=options.junit, origin=plan.target.base)
            snapshots: dict[str, dict] = {}
            unreadable = ""
            if plan.user_ids and (plan.policy.allow_patch or plan.policy.allow_delete):
                try:
                    snapshots = snapshot_users(client, plan.customer_id, plan.user_ids)
                except LookupError as lookup:
                    if guard.rate_limited:
                        return _fail(err, redact, guard.rate_limited, junit=options.junit, origin=plan.target.base)
                    # A user that cannot be read is never changed: the run goes on read-only.
                    unreadable = str(lookup)
                    plan = plan.read_only(guard)
            result = _new_result(plan, options)
            result.guard = guard
            result.unreadable = unreadable
            _print_header(plan, options, out, redact)
            _print_behaviour_header(plan, credentials, out, redact)
            progress = PhaseProgress(err, bar=options.progress)
            try:
                # The behavioural checks first: Schemathesis' stateful phase may delete the users
                # they read (on the unrestricted fake).
                progress.started("behavioural checks")
                _run_behaviour(client, plan, result, credentials)
                progress.sent(result.behaviour_requests)
                progress.finished()
                if result.stop_reason != "server_unavailable":  # else Schemathesis would wait out each request
                    _execute(plan, options, result, progress)
            except KeyboardInterrupt:
                result.interrupted = True
            except Exception as error:  # a crash in the runner or in Schemathesis: say so, still restore
                result.errors.append(ErrorRecord("run", "Internal error", f"{type(error).__name__}: {error}"))
            finally:
                progress.close()
                if snapshots:
                    guard.budget.renewed()  # the restore is sent even after the wait budget ran out
                    result.restore = _restore(client, plan, snapshots)
    except KeyboardInterrupt:
        return _fail(err, redact, "interrupted before the run started; nothing was changed",
                     junit=options.junit, origin=plan.target.base)
    finally:
        client.close()
        dropped = plan.drop_session()
        if dropped:
            err.write(redact(f"mockserver contract: note: {dropped}") + "\n")
    return report(result, plan, options, out, err, redact, coverage, baseline)


def report(result: RunResult, plan: ContractPlan, options: ContractOptions, out: IO[str], err: IO[str],
           redact: Redactor, coverage: coverage_run.RunCoverage | None = None,
           baseline: baselines.Baseline | None = None) -> int:
    """The end of a run: the verdict, the summary on ``out``, the JUnit file; the exit code."""
    classify(result, baseline)
    _decide(result, plan)
    render(result, out, redact, color=options.color)
    out.flush()
    if options.junit:
        try:
            write_junit(result, options.junit, redact)
        except OSError as error:
            return _fail(err, redact, f"cannot write the JUnit report {options.junit}: {error.strerror or error}")
    # coverage hook: the file, the table and the --min-coverage gate (its line last); may make 0 a 1
    if coverage is not None:
        gated = coverage.finish(result.exit_code, out=out, err=err, redact=redact, junit=options.junit,
                                color=options.color)
        if gated != result.exit_code:
            return gated
    if options.write_baseline and result.exit_code != COULD_NOT_RUN:
        try:
            count = baselines.write_baseline(options.write_baseline, "contract", [
                (failure.check, failure.operation, failure.title) for failure in result.failures], baseline)
        except OSError as error:
            return _fail(err, redact, f"cannot write the baseline {options.write_baseline}: {error.strerror or error}")
        out.write(f"Baseline: {count} finding(s) written to {options.write_baseline}\n")
    if result.exit_code == COULD_NOT_RUN:
        err.write(redact(f"mockserver contract: could not run: {result.verdict}") + "\n")
    return result.exit_code


def classify(result: RunResult, baseline: baselines.Baseline | None) -> None:
    """Mark every failure known, new or expired against ``baseline`` (none: every one is new)."""
    for failure in result.failures:
        if baseline is None:
            failure.baseline = ""
            continue
        status, entry = baseline.status(baselines.finding_key(failure.check, failure.operation, failure.title))
        failure.baseline = status
        failure.baseline_label = baseline.label(status, entry)


def _run_behaviour(client: Client, plan: ContractPlan, result: RunResult, credentials: Credentials) -> None:
    wanted = wanted_behaviour(plan)
    if not wanted:
        return
    limiter = plan.limiter()
    Behaviour(client=client, result=result, customer_id=plan.customer_id, policy=plan.policy,
              user_ids=plan.user_ids, credentials=credentials, wanted=wanted, limiter=limiter).run()


def _execute(plan: ContractPlan, options: ContractOptions, result: RunResult, progress: PhaseProgress) -> None:
    from schemathesis.engine import from_schema

    config = build_config(plan, options)
    result.settings["seed"] = config.seed
    schema = load_schema(plan, config)
    collector = Collector(result, progress)
    stream = from_schema(schema).execute()
    try:
        for event in stream:
            collector.feed(event)
    except KeyboardInterrupt:
        # Usually the engine catches the interrupt itself and ends the stream; when it lands in
        # this loop instead, stop the engine and let it wind down, so that no request of the run
        # is still in flight when the restore starts.
        result.interrupted = True
        stream.stop()
        with interrupts_deferred():
            for event in stream:
                collector.feed(event)


def _new_result(plan: ContractPlan, options: ContractOptions) -> RunResult:
    spec = load_spec(plan.spec_file)
    operations: dict[str, str] = {}
    skipped: dict[str, str] = {}
    allowed = plan.policy.allowed_methods()
    for path, item in spec.get("paths", {}).items():
        for method, operation in path_methods(item).items():
            label = f"{method} {path}"
            operations[label] = operation.get("operationId", "")
            if not plan.policy.unrestricted and method not in allowed:
                skipped[label] = f"{method} is not sent ({plan.policy.describe()})"
    result = RunResult(origin=plan.target.base, operations=operations, skipped_operations=skipped)
    result.checks = tuple(plan.included_checks) if "all" not in plan.included_checks else ()
    if not plan.policy.unrestricted and "unsupported_method" not in options.exclude_checks:
        result.not_run_checks["unsupported_method"] = "it sends undocumented methods such as PUT and POST"
    result.settings = {
        "target": plan.target.base,
        "customer": plan.customer_id,
        "users": ",".join(plan.user_ids) or "-",
        "policy": plan.policy.describe(),
        "max_examples": options.max_examples,
        "phases": ",".join(options.phases),
        "rate_limit": plan.rate_limit or "none",
    }
    return result


def _restore(client: Client, plan: ContractPlan, snapshots: dict[str, dict]) -> RestoreReport:
    # A second Ctrl-C (or SIGTERM) must not abandon the restore half-way.
    with interrupts_deferred():
        return restore_users(client, plan.customer_id, snapshots, deletes_allowed=plan.policy.allow_delete)


def _decide(result: RunResult, plan: ContractPlan) -> None:
    """Set the exit code and the one-line verdict."""
    refused = len(result.guard.refused) if result.guard is not None else 0
    restore_failed = result.restore is not None and not result.restore.ok
    answered = sum(result.statuses.values())
    tail = ""
    if restore_failed:
        tail = " RESTORE FAILED: some --user-id users were left changed (see above)."
    deleted = result.restore.deleted if result.restore is not None else []
    tail += f" Deleted, as --allow-delete allowed: {', '.join(deleted)}." if deleted else ""
    rate_limited = result.guard.rate_limited if result.guard is not None else ""
    failing = [failure for failure in result.failures if failure.baseline != baselines.KNOWN]
    known = len(result.failures) - len(failing)
    known_note = f" ({known} known violation(s) of the baseline reported above do not fail the run)" if known else ""
    if rate_limited:
        result.exit_code = COULD_NOT_RUN
        result.verdict = f"RATE LIMITED: the run stopped: {rate_limited}.{tail}"
        return
    if failing:
        checks = sorted({failure.check for failure in failing})
        result.exit_code = VIOLATIONS
        expired = sum(1 for failure in failing if failure.baseline == baselines.EXPIRED)
        which = f" ({expired} of them expired in the baseline)" if expired else ""
        result.verdict = (
            f"VIOLATIONS: {sum(f.count for f in failing)} contract violation(s) at {result.origin}, "
            f"{len(failing)} distinct{which}, named by: {', '.join(checks)}.{known_note}{tail}"
        )
        return
    result.exit_code = COULD_NOT_RUN
    if result.interrupted:
        result.verdict = f"INTERRUPTED: the run did not complete; no violation found before it stopped.{tail}"
    elif result.stop_reason == "server_unavailable":
        result.verdict = f"UNAVAILABLE: {result.origin} stopped responding during the run.{tail}"
    elif answered and result.statuses.get(401, 0) == answered:
        result.verdict = "UNAUTHORIZED: every request was answered 401; the token is not accepted."
    elif result.requests == 0 or answered == 0:
        result.verdict = f"NOTHING TESTED: no request reached {result.origin}.{tail}"
    elif refused:
        result.verdict = f"INCOMPLETE: the safety guard refused {refused} request(s); see above.{tail}"
    elif result.errors:
        result.verdict = f"INCOMPLETE: {len(result.errors)} error(s) kept parts of the run from completing.{tail}"
    elif restore_failed:
        result.verdict = f"NO VIOLATIONS, BUT{tail}"
    else:
        result.exit_code = CONFORMS
        found = "no new violations" if known else "no violations"
        result.verdict = (
            f"CONFORMS: {result.origin} matches {_spec_name(plan.spec_file)} "
            f"({result.requests} requests, {found}).{known_note}{tail}"
        )


def _print_header(plan: ContractPlan, options: ContractOptions, out: IO[str], redact: Redactor) -> None:
    if options.token:
        token_from = options.token_source
    elif plan.token:
        token_from = "the bundled fixtures (Jane's token; --token or $" + TOKEN_ENV + " to change)"
    else:
        token_from = "none"
    customer_from = "" if options.customer_id else " (the bundled fixtures' first customer; --customer-id to change)"
    under = f" (the spec's paths under {plan.target.base_path})" if plan.target.base_path else ""
    lines = [
        f"Contract check of {plan.target.base}{under} against {_spec_name(plan.spec_file)}",
        f"  safety: {plan.policy.describe()} [{plan.policy.reason}]",
        *([plan.state_line()] if plan.state_line() else []),
        *([f"  TLS: {plan.tls.describe()}"] if plan.tls.describe() else []),
        f"  customer {plan.customer_id}{customer_from}" + (f"; users {', '.join(plan.user_ids)}" if plan.user_ids else ""),
        f"  token: {token_from}",
        f"  phases {','.join(options.phases)}; max examples {options.max_examples}; "
        f"seed {options.seed if options.seed is not None else 'random'}; rate limit {plan.rate_limit or 'none'}; "
        f"429/503 waits up to {plan.wait_budget:g} s in all",
        *([f"  baseline: {options.baseline}"] if options.baseline else []),
    ]
    if plan.policy.allow_patch and plan.policy.allow_delete:
        lines.append("  WARNING: --allow-delete with --allow-writes: a deleted user cannot be restored (no create operation)")
    out.write(redact("\n".join(lines)) + "\n\n")
    out.flush()


def _print_behaviour_header(plan: ContractPlan, credentials: Credentials, out: IO[str], redact: Redactor) -> None:
    wanted = wanted_behaviour(plan)
    if not wanted:
        return
    extra = []
    if credentials.other_customer_id and credentials.other_token:
        extra.append(f"second customer {credentials.other_customer_id}")
    if credentials.lookup_token and credentials.lookup_user_id:
        extra.append(f"lookup as user {credentials.lookup_user_id}")
    source = f" ({credentials.source})" if extra and credentials.source != "options" else ""
    out.write(redact(f"  behavioural checks: {len(wanted)}; {', '.join(extra) or 'no extra credentials'}{source}")
              + "\n\n")


def _spec_name(path: Path) -> str:
    return f"{path.parent.name}/{path.name}" if path.parent.name else path.name
