"""Run Schemathesis against a deployment (or an ASGI app) with the project's spec and config.

:func:`run_contract` is the whole run: check the options, decide the safety policy, pre-flight the
target (reachable? token accepted? customer and users there?), snapshot the users it may change,
run Schemathesis' engine under the request guard, restore the users (in a ``finally``, also on
Ctrl-C or SIGTERM), render the report and return the exit code: 0 conforms, 1 violations, 2 could
not run. It never imports the store: the target is a URL or an app.
"""

from __future__ import annotations

import contextlib
import copy
import re
import signal
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mockserver import resources
from mockserver.contract import checks as custom_checks
from mockserver.contract import coverage_run
from mockserver.contract.behaviour import BEHAVIOUR_CHECKS, Behaviour, Credentials
from mockserver.contract.report import Redactor, render, write_junit, write_junit_error
from mockserver.contract.restore import Client, RestoreReport, restore_users, snapshot_users, user_path
from mockserver.contract.results import CONFORMS, COULD_NOT_RUN, VIOLATIONS, Collector, ErrorRecord, RunResult
from mockserver.contract.safety import (
    OBJECT_ID,
    Policy,
    Target,
    UsageProblem,
    decide_policy,
    guard_requests,
    parse_target,
)
from mockserver.operations import INTEGRATION
from mockserver.remote.tls import certificate_problem

TOKEN_ENV = "MOCKSERVER_CONTRACT_TOKEN"
PHASES = ("examples", "coverage", "fuzzing", "stateful")
DEFAULT_REMOTE_RATE_LIMIT = "10/s"
DEFAULT_MAX_EXAMPLES = 25
DEFAULT_TIMEOUT = 10.0
# With the bundled fixtures: the first customer, and a token bound to a user so that the
# identity lookup can answer 200 (an admin token only reaches its 404).
LOCAL_DEFAULT_CUSTOMER = "6500000000000000000000a1"
LOCAL_DEFAULT_TOKEN = "jane-token"
# The behavioural checks' second customer and its token, and the user Jane's token is bound to.
LOCAL_OTHER_CUSTOMER = "6500000000000000000000b2"
LOCAL_OTHER_TOKEN = "birch-admin-token"
LOCAL_LOOKUP_USER = "6500000000000000000001a1"
_RATE = re.compile(r"^[1-9]\d*/(s|m|h|d)$")


@dataclass
class ContractOptions:
    token: str | None = None
    token_source: str = "--token"
    customer_id: str | None = None
    user_ids: tuple[str, ...] = ()
    junit: str | None = None
    seed: int | None = None
    max_examples: int = DEFAULT_MAX_EXAMPLES
    rate_limit: str | None = None  # None: the default for the target; "off": none
    checks: tuple[str, ...] = ("all",)
    exclude_checks: tuple[str, ...] = ()
    max_failures: int | None = None
    phases: tuple[str, ...] = PHASES
    read_only: bool = False
    allow_writes: bool = False
    allow_delete: bool = False
    request_timeout: float = DEFAULT_TIMEOUT
    config_file: str | None = None
    spec_file: str | None = None
    color: bool = False
    # Behavioural checks' extra credentials (mockserver.contract.behaviour).
    other_customer_id: str | None = None
    other_token: str | None = None
    lookup_token: str | None = None
    lookup_user_id: str | None = None
    # --coverage FILE, --min-coverage PCT (mockserver.contract.coverage_run)
    coverage: str | None = None
    min_coverage: float | None = None


@dataclass
class _Plan:
    target: Target
    policy: Policy
    token: str | None
    customer_id: str
    user_ids: tuple[str, ...]
    rate_limit: str | None
    included_checks: list[str]
    excluded_checks: list[str]
    config_file: Path
    spec_file: Path


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
    with _serve_app(target) as url:
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
        plan = _plan(url, options)
        credentials = behaviour_credentials(plan, options)
        coverage = coverage_run.prepare(options, plan.target.origin, plan.spec_file)  # coverage hook
    except UsageProblem as problem:
        return _fail(err, redact, str(problem), junit=options.junit, origin=url)
    redact = Redactor(tuple(s for s in (options.token, plan.token, credentials.other_token, credentials.lookup_token) if s))

    from mockserver.contract.checks import registered

    client = Client(plan.target.origin, plan.token, options.request_timeout)
    try:
        with _sigterm_as_interrupt(), guard_requests(plan.policy) as guard, registered(_wants_custom_checks(plan)), \
                coverage.observing():  # coverage hook: counts what is sent, inside the guard
            problem = _preflight(client, plan)
            if problem is not None:
                return _fail(err, redact, problem, junit=options.junit, origin=plan.target.origin)
            snapshots: dict[str, dict] = {}
            if plan.user_ids and plan.policy.allow_patch:
                try:
                    snapshots = snapshot_users(client, plan.customer_id, plan.user_ids)
                except LookupError as lookup:
                    return _fail(err, redact, str(lookup), junit=options.junit, origin=plan.target.origin)
            result = _new_result(plan, options)
            result.guard = guard
            _print_header(plan, options, out, redact)
            _print_behaviour_header(plan, credentials, out, redact)
            try:
                # The behavioural checks first: Schemathesis' stateful phase may delete the users
                # they read (on the unrestricted fake).
                _run_behaviour(client, plan, options, result, credentials)
                _execute(plan, options, result)
            except KeyboardInterrupt:
                result.interrupted = True
            except Exception as error:  # a crash in the runner or in Schemathesis: say so, still restore
                result.errors.append(ErrorRecord("run", "Internal error", f"{type(error).__name__}: {error}"))
            finally:
                if snapshots:
                    result.restore = _restore(client, plan, snapshots)
    except KeyboardInterrupt:
        return _fail(err, redact, "interrupted before the run started; nothing was changed",
                     junit=options.junit, origin=plan.target.origin)
    finally:
        client.close()

    _decide(result, plan)
    render(result, out, redact, color=options.color)
    out.flush()
    if options.junit:
        try:
            write_junit(result, options.junit, redact)
        except OSError as error:
            return _fail(err, redact, f"cannot write the JUnit report {options.junit}: {error.strerror or error}")
    # coverage hook: the file, the table and the --min-coverage gate (its line last); may make 0 a 1
    gated = coverage.finish(result.exit_code, out=out, err=err, redact=redact, junit=options.junit, color=options.color)
    if gated != result.exit_code:
        return gated
    if result.exit_code == COULD_NOT_RUN:
        err.write(redact(f"mockserver contract: could not run: {result.verdict}") + "\n")
    return result.exit_code


# -- options and plan ----------------------------------------------------------------------------


def _plan(url: str, options: ContractOptions) -> _Plan:
    target = parse_target(url)
    local = target.is_loopback
    token = options.token
    customer_id = options.customer_id
    if local:
        if customer_id is None:
            customer_id = LOCAL_DEFAULT_CUSTOMER
        if token is None:
            token = LOCAL_DEFAULT_TOKEN
    else:
        if customer_id is None:
            raise UsageProblem(
                f"--customer-id is required for a non-loopback target ({target.origin}): random ids only reach 403/404"
            )
        if not token:
            raise UsageProblem(f"no token: pass --token or set {TOKEN_ENV} (the target is not the local fake)")
    if not OBJECT_ID.match(customer_id):
        raise UsageProblem(f"--customer-id {customer_id!r} is not an ObjectId (24 lowercase hex characters)")
    for user_id in options.user_ids:
        if not OBJECT_ID.match(user_id):
            raise UsageProblem(f"--user-id {user_id!r} is not an ObjectId (24 lowercase hex characters)")
    user_ids = tuple(dict.fromkeys(options.user_ids))
    proof = _prove(target, options.request_timeout)
    policy = decide_policy(
        target,
        customer_id=customer_id,
        user_ids=user_ids,
        read_only=options.read_only,
        allow_writes=options.allow_writes,
        allow_delete=options.allow_delete,
        proven=proof.ok,
        why=proof.reason,
    )
    # No rate limit by default only for the proven fake: a port-forward may lead to a deployment.
    rate_limit = resolve_rate_limit(options.rate_limit, loopback=proof.ok)
    if options.max_examples < 1:
        raise UsageProblem("--max-examples must be at least 1")
    unknown_phases = [phase for phase in options.phases if phase not in PHASES]
    if unknown_phases or not options.phases:
        raise UsageProblem(f"--phases: {', '.join(unknown_phases) or 'none given'}; choose from {', '.join(PHASES)}")
    included, excluded = _check_names(options)
    if not policy.unrestricted and "unsupported_method" not in excluded:
        # It works by sending methods the spec does not document (PUT, POST, TRACE, ...).
        excluded.append("unsupported_method")
    config_file = Path(options.config_file) if options.config_file else _default_config_file()
    if config_file is None or not config_file.is_file():
        raise UsageProblem(
            f"the Schemathesis config {config_file or 'contract/schemathesis.toml'} was not found; pass --config FILE"
        )
    spec_file = Path(options.spec_file) if options.spec_file else resources.spec_path()
    return _Plan(
        target=target,
        policy=policy,
        token=token,
        customer_id=customer_id,
        user_ids=user_ids,
        rate_limit=rate_limit,
        included_checks=included,
        excluded_checks=excluded,
        config_file=config_file,
        spec_file=spec_file,
    )


def _prove(target: Target, timeout: float):
    """The identity handshake (mockserver.identity), only for a loopback target."""
    from mockserver.identity import Proof, prove

    if not target.is_loopback:
        return Proof(False, "")
    return prove(target.scheme, target.host, target.port, timeout=min(timeout, 5.0))


def resolve_rate_limit(value: str | None, *, loopback: bool) -> str | None:
    """``--rate-limit`` as the runner reads it: None gives the target's default (10/s for a
    non-loopback target, none for loopback); ``off``, ``none`` or ``0`` give none; else ``N/s``,
    ``N/m``, ``N/h`` or ``N/d`` (raises :class:`UsageProblem` otherwise)."""
    if value is None:
        return None if loopback else DEFAULT_REMOTE_RATE_LIMIT
    if value.lower() in ("off", "none", "0"):
        return None
    if not _RATE.match(value):
        raise UsageProblem(f"--rate-limit {value!r}: use N/s, N/m or N/h (for example 10/s), or off")
    return value


def known_checks() -> list[str]:
    from schemathesis.checks import CHECKS, load_all_checks

    load_all_checks()
    return sorted({*CHECKS.get_all_names(), *custom_checks.CUSTOM_CHECKS, *BEHAVIOUR_CHECKS, "max_response_time"})


def _check_names(options: ContractOptions) -> tuple[list[str], list[str]]:
    known = set(known_checks())
    included = [name for name in options.checks if name] or ["all"]
    excluded = [name for name in options.exclude_checks if name]
    bad = [name for name in (*included, *excluded) if name != "all" and name not in known]
    if bad:
        raise UsageProblem(f"unknown check {', '.join(bad)}; known checks: {', '.join(sorted(known))}")
    return included, excluded


def _default_config_file() -> Path | None:
    """The project's Schemathesis config: bundled in a wheel, else ``contract/schemathesis.toml``."""
    try:
        return resources.schemathesis_config_path()
    except FileNotFoundError:
        return None


def _wants_custom_checks(plan: _Plan) -> bool:
    names = set(plan.included_checks) - set(plan.excluded_checks)
    wanted = set(custom_checks.CUSTOM_CHECKS)
    return ("all" in plan.included_checks or bool(names & wanted)) and not wanted <= set(plan.excluded_checks)


def _wanted_behaviour(plan: _Plan) -> set[str]:
    if "all" in plan.included_checks:
        wanted = set(BEHAVIOUR_CHECKS)
    else:
        wanted = set(plan.included_checks) & set(BEHAVIOUR_CHECKS)
    return wanted - set(plan.excluded_checks)


def behaviour_credentials(plan: _Plan, options: ContractOptions) -> Credentials:
    """The behavioural checks' extra credentials: the options, or (when the run uses the bundled
    fixtures' token, i.e. the local fake) the fixtures' second customer and Jane's bound token."""
    credentials = Credentials(
        other_customer_id=options.other_customer_id,
        other_token=options.other_token,
        lookup_token=options.lookup_token,
        lookup_user_id=options.lookup_user_id,
        source="options",
    )
    for name in ("other_customer_id", "lookup_user_id"):
        value = getattr(credentials, name)
        if value is not None and not OBJECT_ID.match(value):
            flag = "--" + name.replace("_", "-")
            raise UsageProblem(f"{flag} {value!r} is not an ObjectId (24 lowercase hex characters)")
    if options.token is None and plan.token == LOCAL_DEFAULT_TOKEN:
        if credentials.other_customer_id is None and credentials.other_token is None:
            credentials.other_customer_id, credentials.other_token = LOCAL_OTHER_CUSTOMER, LOCAL_OTHER_TOKEN
        if credentials.lookup_token is None and credentials.lookup_user_id is None:
            credentials.lookup_token, credentials.lookup_user_id = LOCAL_DEFAULT_TOKEN, LOCAL_LOOKUP_USER
        credentials.source = "the bundled fixtures"
    return credentials


def _run_behaviour(client: Client, plan: _Plan, options: ContractOptions, result: RunResult,
                   credentials: Credentials) -> None:
    wanted = _wanted_behaviour(plan)
    if not wanted:
        return
    limiter = None
    if plan.rate_limit:
        from schemathesis.core.rate_limit import build_limiter

        limiter = build_limiter(plan.rate_limit)
    Behaviour(client=client, result=result, customer_id=plan.customer_id, policy=plan.policy,
              user_ids=plan.user_ids, credentials=credentials, wanted=wanted, limiter=limiter).run()


# -- pre-flight ----------------------------------------------------------------------------------


def _preflight(client: Client, plan: _Plan) -> str | None:
    """One line saying why the run cannot be meaningful, or None."""
    import requests

    path = f"/api/v1/customers/{plan.customer_id}/users"
    try:
        response = client.request("GET", path, params={"integration": INTEGRATION})
    except requests.RequestException as error:
        return f"cannot reach {plan.target.origin}: {_network_reason(error)}"
    status = response.status_code
    if status == 401:
        return (
            f"the token was rejected (GET {path} answered 401): every request would be a 401. "
            f"Check --token / ${TOKEN_ENV}"
        )
    if status == 403:
        return f"the token may not access customer {plan.customer_id} (GET {path} answered 403)"
    if status == 404:
        return f"customer {plan.customer_id} was not found at {plan.target.origin} (GET {path} answered 404)"
    for user_id in plan.user_ids:
        try:
            answer = client.request("GET", user_path(plan.customer_id, user_id))
        except requests.RequestException as error:
            return f"cannot reach {plan.target.origin}: {_network_reason(error)}"
        if answer.status_code == 404:
            return f"--user-id {user_id} was not found in customer {plan.customer_id} (GET answered 404)"
    return None


def _network_reason(error: Exception) -> str:
    certificate = certificate_problem(error)
    if certificate is not None:
        return certificate
    text = str(error)
    for marker in ("Connection refused", "Name or service not known", "timed out", "No route to host",
                   "Temporary failure in name resolution", "certificate verify failed"):
        if marker in text:
            return marker.lower()
    return type(error).__name__


# -- the Schemathesis run ------------------------------------------------------------------------


def build_config(plan: _Plan, options: ContractOptions):
    """The project's config file, plus what this run needs. Returns a ``SchemathesisConfig``."""
    from schemathesis.config import SchemathesisConfig

    data = tomllib.loads(plan.config_file.read_text(encoding="utf-8"))
    parameters = dict(data.get("parameters", {}))
    parameters["path.customerId"] = plan.customer_id
    if plan.user_ids:
        parameters["path.userId"] = plan.user_ids[0]
    phases = dict(data.get("phases", {}))
    for phase in PHASES:
        section = dict(phases.get(phase, {}))
        section["enabled"] = phase in options.phases
        phases[phase] = section
    if not plan.policy.unrestricted:
        # Schemathesis' coverage phase probes undocumented methods (PUT, POST, DELETE, TRACE, ...)
        # to see a 405: not on a target where only some methods may be sent.
        phases["coverage"] = {**phases["coverage"], "unexpected-methods": []}
    generation = {**data.get("generation", {}), "max-examples": options.max_examples, "database": "none"}
    data.update(
        {
            "base-url": plan.target.origin,
            "parameters": parameters,
            "phases": phases,
            "generation": generation,
            "workers": 1,
            # Keep testing an operation after its first failure: the report is a table of every
            # operation and check, and one violation must not hide another.
            "continue-on-failure": True,
            "request-timeout": options.request_timeout,
            # No replay of requests stored by earlier runs: each run sends only what it generates.
            "cache": {"enabled": False},
        }
    )
    if plan.token:
        data["headers"] = {**data.get("headers", {}), "Authorization": f"Bearer {plan.token}"}
    if plan.rate_limit:
        data["rate-limit"] = plan.rate_limit
    if options.seed is not None:
        data["seed"] = options.seed
    if options.max_failures is not None:
        data["max-failures"] = options.max_failures
    config = SchemathesisConfig.from_dict(data)
    included = [name for name in plan.included_checks if name not in BEHAVIOUR_CHECKS]
    if not included:  # only behavioural checks asked for: Schemathesis still checks server errors
        included = ["not_a_server_error"]
    excluded = [name for name in plan.excluded_checks if name not in BEHAVIOUR_CHECKS]
    config.projects.override.checks.update(included_check_names=included, excluded_check_names=excluded or None)
    return config


def _execute(plan: _Plan, options: ContractOptions, result: RunResult) -> None:
    from schemathesis.engine import from_schema

    config = build_config(plan, options)
    result.settings["seed"] = config.seed
    schema = load_schema(plan, config)
    collector = Collector(result)
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
        with _interrupts_deferred():
            for event in stream:
                collector.feed(event)


def load_schema(plan: _Plan, config):
    """The Schemathesis schema of the run: the spec (with :func:`with_read_after_delete_links`)
    under ``config``, without the operations whose method the policy does not allow."""
    import schemathesis

    schema = schemathesis.openapi.from_dict(with_read_after_delete_links(_load_spec(plan.spec_file)), config=config)
    excluded = [m for m in ("PATCH", "DELETE", "PUT", "POST") if m not in plan.policy.allowed_methods()]
    if not plan.policy.unrestricted and excluded:
        schema = schema.exclude(method=excluded)
    return schema


def _load_spec(path: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def with_read_after_delete_links(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec, plus a link from each DELETE's 2xx answer to the GET of the same path.

    The contract says a deleted user answers 404 afterwards, but declares no link from
    ``delete_user`` to ``get_user``; without one, Schemathesis' stateful phase reaches
    "DELETE, then GET the same user" (what ``use_after_free`` needs) only by chance. Added in
    memory, only where the spec has no such link; the file is not changed.
    """
    spec = copy.deepcopy(spec)
    paths = spec.get("paths", {})
    for path, item in paths.items():
        delete, get = item.get("delete"), item.get("get")
        if not delete or not get or "operationId" not in get:
            continue
        parameters = re.findall(r"{([^}]+)}", path)
        for status, response in delete.get("responses", {}).items():
            if not str(status).startswith("2") or "$ref" in response:
                continue
            links = response.setdefault("links", {})
            if any(link.get("operationId") == get["operationId"] for link in links.values()):
                continue
            links["ReadAfterDelete"] = {
                "operationId": get["operationId"],
                "description": "Added by the contract runner: the deleted resource is gone.",
                "parameters": {name: f"$request.path.{name}" for name in parameters},
            }
    return spec


def _new_result(plan: _Plan, options: ContractOptions) -> RunResult:
    spec = _load_spec(plan.spec_file)
    operations: dict[str, str] = {}
    skipped: dict[str, str] = {}
    allowed = plan.policy.allowed_methods()
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if method.upper() not in ("GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"):
                continue
            label = f"{method.upper()} {path}"
            operations[label] = operation.get("operationId", "")
            if not plan.policy.unrestricted and method.upper() not in allowed:
                skipped[label] = f"{method.upper()} is not sent ({plan.policy.describe()})"
    result = RunResult(origin=plan.target.origin, operations=operations, skipped_operations=skipped)
    result.checks = tuple(plan.included_checks) if "all" not in plan.included_checks else ()
    if not plan.policy.unrestricted and "unsupported_method" not in options.exclude_checks:
        result.not_run_checks["unsupported_method"] = "it sends undocumented methods such as PUT and POST"
    result.settings = {
        "target": plan.target.origin,
        "customer": plan.customer_id,
        "users": ",".join(plan.user_ids) or "-",
        "policy": plan.policy.describe(),
        "max_examples": options.max_examples,
        "phases": ",".join(options.phases),
        "rate_limit": plan.rate_limit or "none",
    }
    return result


def _restore(client: Client, plan: _Plan, snapshots: dict[str, dict]) -> RestoreReport:
    # A second Ctrl-C (or SIGTERM) must not abandon the restore half-way.
    with _interrupts_deferred():
        return restore_users(client, plan.customer_id, snapshots)


def _decide(result: RunResult, plan: _Plan) -> None:
    """Set the exit code and the one-line verdict."""
    refused = len(result.guard.refused) if result.guard is not None else 0
    restore_failed = result.restore is not None and not result.restore.ok
    answered = sum(result.statuses.values())
    tail = ""
    if restore_failed:
        tail = " RESTORE FAILED: some --user-id users were left changed (see above)."
    if result.failures:
        checks = sorted({failure.check for failure in result.failures})
        result.exit_code = VIOLATIONS
        result.verdict = (
            f"VIOLATIONS: {result.failure_count} contract violation(s) at {result.origin}, "
            f"{len(result.failures)} distinct, named by: {', '.join(checks)}.{tail}"
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
        result.verdict = (
            f"CONFORMS: {result.origin} matches {_spec_name(plan.spec_file)} "
            f"({result.requests} requests, no violations)."
        )


def _print_header(plan: _Plan, options: ContractOptions, out: IO[str], redact: Redactor) -> None:
    if options.token:
        token_from = options.token_source
    elif plan.token:
        token_from = "the bundled fixtures (Jane's token; --token or $" + TOKEN_ENV + " to change)"
    else:
        token_from = "none"
    customer_from = "" if options.customer_id else " (the bundled fixtures' first customer; --customer-id to change)"
    lines = [
        f"Contract check of {plan.target.origin} against {_spec_name(plan.spec_file)}",
        f"  safety: {plan.policy.describe()} [{plan.policy.reason}]",
        f"  customer {plan.customer_id}{customer_from}" + (f"; users {', '.join(plan.user_ids)}" if plan.user_ids else ""),
        f"  token: {token_from}",
        f"  phases {','.join(options.phases)}; max examples {options.max_examples}; "
        f"seed {options.seed if options.seed is not None else 'random'}; rate limit {plan.rate_limit or 'none'}",
    ]
    if plan.policy.allow_patch and plan.policy.allow_delete:
        lines.append("  WARNING: --allow-delete with --allow-writes: a deleted user cannot be restored (no create operation)")
    out.write(redact("\n".join(lines)) + "\n\n")
    out.flush()


def _print_behaviour_header(plan: _Plan, credentials: Credentials, out: IO[str], redact: Redactor) -> None:
    wanted = _wanted_behaviour(plan)
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


# -- process plumbing ----------------------------------------------------------------------------


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI timeout) stops the run like Ctrl-C, so the restore still happens."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum, _frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def remember(signum, _frame):
        received.append(signum)

    previous = {sig: signal.signal(sig, remember) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _serve_app(app: Any) -> Iterator[str]:
    """Serve an ASGI app on a free loopback port in a thread, for the duration."""
    import socket
    import time

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", access_log=False, lifespan="off"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


# -- for the commands built on the runner's options, safety and plumbing (mockserver.record,
# mockserver.drift): the same checks, messages and behaviour as ``mockserver contract``.
plan_run = _plan
preflight = _preflight
serve_app = _serve_app
sigterm_as_interrupt = _sigterm_as_interrupt
interrupts_deferred = _interrupts_deferred
network_reason = _network_reason
