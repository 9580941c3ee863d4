"""Run a drift check: the deployment and the fake, the same requests, every difference reported.

:func:`run_drift` is the whole run. It takes the contract runner's options and Schemathesis
configuration (:mod:`mockserver.contract.plan`, :mod:`mockserver.contract.schema`) and the remote
commands' safety policy, pre-flight, rate limit, TLS and token masking (:mod:`mockserver.remote`),
with no second copy of any of them; it seeds the fake in-process from ``--fixture FILE`` or, by default, from a fresh read-only
recording of the target (:mod:`mockserver.record`), serves it on a free loopback port, sends the
deterministic sequence of :mod:`mockserver.drift.sequence` to both sides one request at a time (the
target's request first), compares each pair (:mod:`mockserver.drift.compare`), restores the
``--user-id`` users when writes were allowed, renders the report and returns the exit code:
0 no drift, 1 drift, 2 could not run.

The fake knows the run's token, in memory only: it is added to the fake's tokens for the run's
customer, bound to the user whose identity the target's lookup answers for it (so lookup, 403s
and 401s are compared like for like). It is never written anywhere, and every output is masked.
"""

from __future__ import annotations

import contextlib
import copy
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from mockserver.contract import coverage_run
from mockserver.contract.plan import PHASES, ContractOptions, GenerationOptions, plan_contract
from mockserver.drift.compare import FAIL_ON, MEANING, VOLATILE_FIELDS, Comparer, Precision, Timeline
from mockserver.drift.model import DEFAULT_STEPS, run_model
from mockserver.drift.model import SOURCE as MODEL_SOURCE
from mockserver.drift.principals import principal_tokens, principals
from mockserver.drift.report import as_json, render, write_json
from mockserver.drift.results import COULD_NOT_RUN, DriftResult, classify, decide, finding_summary
from mockserver.drift.sequence import GENERATED_PHASES, USER_AGENT, Step, Subject, generated_steps, ordered, probe_steps
from mockserver.drift.side import NO_ANSWER, NOT_SENT, Side, quiet_connexion
from mockserver.remote import baseline as baselines
from mockserver.remote.client import Client, json_or_none, user_path, users_path
from mockserver.remote.process import interrupts_deferred, serve_app, sigterm_as_interrupt
from mockserver.remote.progress import Progress
from mockserver.remote.report import Redactor
from mockserver.remote.restore import restore_users, snapshot_users
from mockserver.remote.safety import UsageProblem
from mockserver.remote.tls import insecure_announced
from mockserver.spec.routes import path_methods

DEFAULT_PHASES = ("examples", "coverage")
DEFAULT_SEED = 0
DEFAULT_MAX_EXAMPLES = 10
# The target stops answering: after this many requests in a row without an answer, stop.
MAX_CONSECUTIVE_FAILURES = 3


@dataclass(kw_only=True)
class DriftOptions(GenerationOptions):
    """The target's and the generation's options (shared with ``contract``), drift's defaults, and its own."""

    seed: int = DEFAULT_SEED
    phases: tuple[str, ...] = DEFAULT_PHASES
    max_examples: int = DEFAULT_MAX_EXAMPLES  # per operation, fuzzing phase only
    fixture: str | None = None
    ignore: tuple[str, ...] = ()
    json_file: str | None = None
    progress: bool | None = None
    steps: int = DEFAULT_STEPS  # model-based sequences' budget (mockserver.drift.model); 0: none
    fail_on: str = MEANING  # "form": differences in form fail the run too (mockserver.drift.compare)
    # The run's other principals (the model reads and tries to write with each).
    other_customer_id: str | None = None
    other_token: str | None = None
    lookup_token: str | None = None
    lookup_user_id: str | None = None


class CouldNotRun(Exception):
    """The run cannot start or go on; ``str(err)`` is one line (or a short block) saying why."""


def run_drift(target: str | Any, options: DriftOptions | None = None, *, out: IO[str] | None = None,
              err: IO[str] | None = None) -> int:
    """Compare the deployment at ``target`` (an origin URL, or an ASGI app served on a free
    loopback port for the run) with the fake."""
    options = options or DriftOptions()
    out = out or sys.stdout
    err = err or sys.stderr
    if isinstance(target, str):
        return _Run(target, options, out, err).run()
    with serve_app(target) as url:
        return _Run(url, options, out, err).run()


class _Run:
    def __init__(self, url: str, options: DriftOptions, out: IO[str], err: IO[str]):
        self.url, self.options, self.out, self.err = url, options, out, err
        self.redact = Redactor.of_tokens(options.token, options.other_token, options.lookup_token)
        self.precision = Precision()  # the precision of updatedAt, judged over the whole run (form)

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> int:
        try:
            plan, contract_options = self._plan()
            self.coverage = coverage_run.prepare(self.options, plan.target.base, plan.spec_file, tool="drift")  # hook
            self.baseline = baselines.load_baseline(self.options.baseline, "drift")
            baselines.check_writable(self.options.write_baseline)
        except (UsageProblem, CouldNotRun) as problem:
            return self._fail(str(problem))
        self.redact = Redactor.of_tokens(self.options.token, plan.token, plan.fake_admin_token,
                                          self.options.other_token, self.options.lookup_token)
        self.plan = plan
        fixture = None
        if self.options.fixture:
            try:
                fixture = self._load_fixture(plan.customer_id)
            except CouldNotRun as problem:
                return self._fail(str(problem))
        self.limiter = plan.limiter()
        client = plan.client(self.options.request_timeout, USER_AGENT)
        try:
            with insecure_announced(plan.tls, self.err), sigterm_as_interrupt():
                return self._guarded(plan, contract_options, client, fixture)
        except KeyboardInterrupt:
            return self._fail("interrupted before the comparison started; nothing was changed")
        finally:
            client.close()
            dropped = plan.drop_session()
            if dropped:
                self.err.write(self.redact(f"mockserver drift: note: {dropped}") + "\n")

    def _guarded(self, plan, contract_options, client: Client, fixture: dict | None) -> int:
        from mockserver.remote.target import preflight

        with plan.guard() as guard, self.coverage.observing(), quiet_connexion():  # coverage hook
            problem = preflight(client, plan)
            if problem is not None:
                return self._fail(guard.rate_limited or problem)
            snapshots: dict[str, dict] = {}
            unreadable = ""
            if plan.user_ids and (plan.policy.allow_patch or plan.policy.allow_delete) and not plan.policy.unrestricted:
                try:
                    snapshots = snapshot_users(client, plan.customer_id, plan.user_ids)
                except LookupError as lookup:
                    if guard.rate_limited:
                        return self._fail(guard.rate_limited)
                    # A user that cannot be read is never changed: the run goes on read-only, as contract's.
                    unreadable = str(lookup)
                    plan = self.plan = plan.read_only(guard)
            try:
                document, source, identity = self._seed(client, fixture)
                app, subject = self._fake(document, identity)
                steps = self._sequence(plan, contract_options, subject)
            except CouldNotRun as problem:
                return self._fail(guard.rate_limited or str(problem))
            result = DriftResult(
                origin=plan.target.base,
                fake_source=source,
                customer_id=plan.customer_id,
                operations=self._operations(plan.spec_file),
                settings=self._settings(plan, source),
            )
            result.guard = guard
            result.unreadable = unreadable
            allowed = [step for step in steps if plan.policy.refusal(step.method, plan.target.base + step.path) is None]
            result.not_sent = len(steps) - len(allowed)
            self._header(plan, result, allowed)
            try:
                with serve_app(app) as fake_url:
                    self._compare(allowed, plan.target.base, fake_url, result, subject.users)
                    if self.options.steps > 0 and not (result.unavailable or result.interrupted or guard.rate_limited):
                        self._model(client, plan, subject, fake_url, result)
            except KeyboardInterrupt:
                result.interrupted = True
            finally:
                if snapshots:
                    guard.budget.renewed()  # the restore is sent even after the wait budget ran out
                    with interrupts_deferred():
                        result.restore = restore_users(client, plan.customer_id, snapshots,
                                                       deletes_allowed=plan.policy.allow_delete)
        return self._report(result)

    def _report(self, result: DriftResult) -> int:
        """The end of a run: the verdict, the report on ``out``, the ``--json`` file; the exit code."""
        classify(result, self.baseline)
        decide(result, self.options.fail_on)
        render(result, self.out, self.redact, color=self.options.color)
        self.out.flush()
        if self.options.json_file:
            try:
                write_json(as_json(result), self.options.json_file, self.redact)
            except OSError as error:
                return self._fail(f"cannot write the JSON report {self.options.json_file}: {error.strerror or error}")
        # coverage hook: the file, the table and the --min-coverage gate (its line last); may make 0 a 1
        gated = self.coverage.finish(result.exit_code, out=self.out, err=self.err, redact=self.redact,
                                     color=self.options.color)
        if gated != result.exit_code:
            return gated
        if self.options.write_baseline and result.exit_code != COULD_NOT_RUN:
            try:
                count = baselines.write_baseline(self.options.write_baseline, "drift",
                                                 [finding_summary(finding) for finding in result.findings], self.baseline)
            except OSError as error:
                return self._fail(f"cannot write the baseline {self.options.write_baseline}: {error.strerror or error}")
            self.out.write(f"Baseline: {count} difference(s) written to {self.options.write_baseline}\n")
        if result.exit_code == COULD_NOT_RUN:
            self.err.write(self.redact(f"mockserver drift: could not run: {result.verdict}") + "\n")
        return result.exit_code

    def _fail(self, message: str) -> int:
        self.err.write(self.redact(f"mockserver drift: could not run: {message}") + "\n")
        self.err.flush()
        if self.options.json_file:
            with contextlib.suppress(OSError):
                write_json({"target": self.url, "exitCode": COULD_NOT_RUN, "verdict": f"could not run: {message}",
                            "differences": []}, self.options.json_file, self.redact)
        return COULD_NOT_RUN

    # -- options ---------------------------------------------------------------------------

    def _plan(self):
        options = self.options
        if not options.phases:
            raise UsageProblem(f"--phases: none given; choose from {', '.join(GENERATED_PHASES)}")
        bad = [phase for phase in options.phases if phase not in GENERATED_PHASES]
        if "stateful" in bad:
            raise UsageProblem("--phases: stateful cannot be used by drift: its requests follow the answers, so the "
                               f"two sides would not get the same sequence; choose from {', '.join(GENERATED_PHASES)}")
        if bad:
            raise UsageProblem(f"--phases: {', '.join(bad)}; choose from {', '.join(GENERATED_PHASES)}")
        if options.fail_on not in FAIL_ON:
            raise UsageProblem(f"--fail-on: {options.fail_on}; choose from {', '.join(FAIL_ON)}")
        if any(not name.strip() for name in options.ignore):
            raise UsageProblem("--ignore needs a field name, e.g. --ignore lastLoginAt")
        # Every phase enabled in the Schemathesis config: generated_steps picks drift's own.
        contract_options = ContractOptions.built_on(options, phases=PHASES)
        return plan_contract(self.url, contract_options), contract_options

    def _load_fixture(self, customer_id: str) -> dict:
        from mockserver.fixtures.document import FixtureError, FixtureLoader

        try:
            document = FixtureLoader().load_files([self.options.fixture])
        except FixtureError as error:
            raise CouldNotRun(f"--fixture {self.options.fixture}: {error.render()}") from None
        if not any(customer["_id"] == customer_id for customer in document["customers"]):
            raise CouldNotRun(f"--fixture {self.options.fixture} has no customer {customer_id} "
                              "(record one with `mockserver record`)")
        return document

    # -- the fake ----------------------------------------------------------------------------

    def _seed(self, client: Client, fixture: dict | None) -> tuple[dict, str, dict | None]:
        """(fixture document, where it came from, the target's lookup answer for the token)."""
        from mockserver import record
        customer_id = self.plan.customer_id
        if fixture is not None:
            identity = self._lookup(client, customer_id)
            return fixture, f"--fixture {self.options.fixture}", identity
        try:
            recording = record.capture(
                client, customer_id, limiter=self.limiter,
                progress=lambda total: Progress(self.err, "users recorded", total, bar=self.options.progress, prefix="drift"),
            )
        except record.RecordError as error:
            raise CouldNotRun(f"recording the target failed: {error}") from None
        document, _notes = record.build_document(recording, real_token=self.plan.token)
        return document, f"a fresh read-only recording of the target ({len(recording.users)} users)", recording.identity

    def _lookup(self, client: Client, customer_id: str) -> dict | None:
        import requests

        try:
            if self.limiter is not None:
                self.limiter.try_acquire(client.origin)
            answer = client.request("GET", f"{users_path(customer_id)}/lookup")
        except requests.RequestException:
            return None
        identity = json_or_none(answer) if answer.status_code == 200 else None
        return identity if isinstance(identity, dict) else None

    def _fake(self, document: dict, identity: dict | None):
        """The fake's app (its store holding ``document`` plus the run's token; built by the one builder,
        as users' fakes are) and the probes' subject."""
        from mockserver.app.build import ServerOptions, build_app
        from mockserver.fixtures.document import FixtureError, FixtureLoader
        from mockserver.record import bound_user

        customer_id, token = self.plan.customer_id, self.plan.token
        document = copy.deepcopy(document)
        customer = next(c for c in document["customers"] if c["_id"] == customer_id)
        users = sorted(customer.get("users", []), key=lambda user: user["_id"])
        tokens = document.setdefault("tokens", [])
        existing = next((entry for entry in tokens if entry.get("token") == token), None)
        if existing is not None:
            token_user = existing.get("userId")
        else:
            token_user = bound_user(users, identity)
            entry: dict[str, Any] = {"token": token, "customerIds": [customer_id]}
            if token_user:
                entry["userId"] = token_user
            tokens.append(entry)
        principal_tokens(self.options, customer_id, document, users)
        try:
            seed = FixtureLoader().load_document(document, name="the fake's seed")
        except FixtureError as error:
            raise CouldNotRun(f"the fake cannot be seeded: {error.render()}") from None
        app = build_app(seed, ServerOptions(admin_token=None, journal_size=0)).app
        subject = Subject(
            customer_id=customer_id,
            users=users,
            roles=[role["_id"] for role in customer.get("roles", [])],
            token=token,
            token_user=token_user,
            writable=list(self.plan.user_ids),
        )
        return app, subject

    def _sequence(self, plan, contract_options, subject: Subject) -> list[Step]:
        from mockserver.contract.schema import build_config, load_schema

        write_user = subject.write_user()
        # Generated requests on a user name the one the probes update (the first --user-id if any).
        config_plan = replace(plan, user_ids=(write_user,)) if write_user and not plan.user_ids else plan
        try:
            config = build_config(config_plan, contract_options)
            schema = load_schema(plan, config)
            generated = list(generated_steps(schema, self.options.phases, self.options.seed))
        except Exception as error:  # Schemathesis refused the spec or the config
            raise CouldNotRun(f"cannot generate the requests: {type(error).__name__}: {error}") from None
        return ordered([*probe_steps(subject), *generated])

    # -- sending and comparing ---------------------------------------------------------------

    def _sides(self, origin: str, fake_origin: str) -> tuple[Side, Side]:
        timeout = self.options.request_timeout
        return (Side("target", origin, timeout, self.limiter, tls=self.plan.tls),
                Side("the fake", fake_origin, timeout, None, trust_env=False))

    def _compare(self, steps: list[Step], origin: str, fake_origin: str, result: DriftResult,
                 users: list[dict]) -> None:
        comparer, timeline = Comparer(self.options.ignore), Timeline(self.precision)  # updatedAt across the probes
        timeline.start(users)  # both sides hold the recorded users: the first update is compared too
        target, fake = self._sides(origin, fake_origin)
        progress = Progress(self.err, "requests", len(steps), bar=self.options.progress, prefix="drift")
        failures = 0
        try:
            for step in steps:
                target_answer, target_error = target.send(step)
                # The fake gets every request the target got (or may have got): the same sequence.
                not_sent = bool(target_error) and target_error.startswith(NOT_SENT)
                fake_answer, fake_error = (None, None) if not_sent else fake.send(step)
                progress.advance()
                if result.guard is not None and result.guard.rate_limited:
                    break  # the wait budget ran out: nothing more is sent
                if target_error or fake_error:
                    result.errors.append(f"{step.method} {step.path}: {target_error or fake_error}")
                    result.uncompared += 1
                    failures = failures + 1 if (target_error or "").startswith(NO_ANSWER) else 0
                    if failures >= MAX_CONSECUTIVE_FAILURES:
                        result.unavailable = True
                        break
                    continue
                failures = 0
                result.add(step, comparer.compare(target_answer, fake_answer)
                           + timeline.observe_answers(target_answer, fake_answer), target_answer, fake_answer)
        finally:
            progress.close()
            target.close()
            fake.close()

    def _model(self, client: Client, plan, subject: Subject, fake_origin: str, result: DriftResult) -> None:
        """Model-based sequences after the fixed probes (:mod:`mockserver.drift.model`)."""
        import requests

        policy = plan.policy
        others = [user["_id"] for user in subject.users if user["_id"] != subject.token_user]
        if policy.unrestricted:
            # The probes update and delete the last of these: the sequences take the ones before it.
            patchable, deletable = others[-5:-2], others[-2:-1]
        else:
            patchable = list(plan.user_ids) if policy.allow_patch else []
            deletable = list(plan.user_ids) if policy.allow_delete else []
        snapshots: dict[str, dict] = {}
        for user_id in dict.fromkeys([*patchable, *deletable]):  # those the probes deleted are left out
            try:
                answer = client.request("GET", user_path(plan.customer_id, user_id))
            except requests.RequestException:
                continue
            if answer.status_code == 200:
                snapshots[user_id] = answer.json()
        patchable = [user_id for user_id in patchable if user_id in snapshots]
        deletable = [user_id for user_id in deletable if user_id in snapshots]
        comparer = Comparer(self.options.ignore)
        target, fake = self._sides(plan.target.base, fake_origin)

        def on_answer(step, target_answer, fake_answer, error):
            if error:
                result.errors.append(f"{step.method} {step.path}: {error}")
                result.uncompared += 1
            else:
                result.add(step, [], target_answer, fake_answer)

        try:
            outcome = run_model(
                steps=self.options.steps, seed=self.options.seed, customer_id=plan.customer_id, users=subject.users,
                roles=subject.roles, token=subject.token, target=target, fake=fake, comparer=comparer,
                patchable=patchable, deletable=deletable, snapshots=snapshots, on_answer=on_answer,
                principals=principals(self.options), fail_on=self.options.fail_on, precision=self.precision,
            )
        finally:
            target.close()
            fake.close()
        kinds = "reads and writes" if patchable or deletable else "read-only"
        result.model_summary = (f"{outcome.sequences} sequences, {outcome.steps} requests to each side ({kinds}; "
                                f"--steps {self.options.steps}, --seed {self.options.seed})")
        if outcome.stopped:
            result.errors.append(f"model-based sequences stopped: {outcome.stopped}")
        for step, differences, target_answer, fake_answer in outcome.differences:
            result.add(step, differences, target_answer, fake_answer)
            result.requests[step.operation] -= 1
            result.sources[MODEL_SOURCE] -= 1
        if outcome.differences:
            result.sequence = outcome.shortest
        for step, differences, target_answer, fake_answer in outcome.form:
            result.add(step, differences, target_answer, fake_answer)
            result.requests[step.operation] -= 1
            result.sources[MODEL_SOURCE] -= 1

    # -- report ------------------------------------------------------------------------------

    @staticmethod
    def _operations(spec_file: Path) -> dict[str, str]:
        import yaml

        spec = yaml.safe_load(Path(spec_file).read_text(encoding="utf-8"))
        operations = {}
        for path, item in spec.get("paths", {}).items():
            for method, operation in path_methods(item).items():
                operations[f"{method} {path}"] = operation.get("operationId", "")
        return operations

    def _settings(self, plan, source: str) -> dict[str, Any]:
        return {
            "target": plan.target.base,
            "customer": plan.customer_id,
            "fake": source,
            "policy": plan.policy.describe(),
            "phases": ",".join(self.options.phases),
            "seed": self.options.seed,
            "maxExamples": self.options.max_examples,
            "rateLimit": plan.rate_limit or "none",
            "shapeOnly": sorted(set(VOLATILE_FIELDS) | set(self.options.ignore)),
            "steps": self.options.steps,
            "failOn": self.options.fail_on,
        }

    def _header(self, plan, result: DriftResult, steps: list[Step]) -> None:
        options = self.options
        probes = sum(1 for step in steps if step.source == "probe")
        token_from = options.token_source if options.token else (
            "the bundled fixtures (Jane's token; --token or $MOCKSERVER_CONTRACT_TOKEN to change)" if plan.token else "none"
        )
        customer_from = "" if options.customer_id else " (the bundled fixtures' first customer; --customer-id to change)"
        under = f" (the spec's paths under {plan.target.base_path})" if plan.target.base_path else ""
        lines = [
            f"Drift check of {plan.target.base}{under} against the fake, seeded from {result.fake_source}",
            f"  safety: {plan.policy.describe()} [{plan.policy.reason}]",
            *([plan.state_line()] if plan.state_line() else []),
            *([f"  TLS: {plan.tls.describe()}"] if plan.tls.describe() else []),
            f"  customer {plan.customer_id}{customer_from}; token: {token_from}",
            f"  requests: {probes} probes + {len(steps) - probes} generated ({', '.join(options.phases)}; seed "
            f"{options.seed}) to each side, in the same order; rate limit {plan.rate_limit or 'none'}; 429/503 waits "
            f"up to {plan.wait_budget:g} s in all",
            *([f"  baseline: {options.baseline}"] if options.baseline else []),
            f"  compared by shape only: {', '.join(result.settings['shapeOnly'])}",
        ]
        if result.unreadable:
            lines.append(f"  Run read-only: {result.unreadable}; no user is changed or deleted")
        if plan.policy.allow_patch and plan.policy.allow_delete:
            lines.append("  WARNING: --allow-delete with --allow-writes: a deleted user cannot be restored (no create operation)")
        self.out.write(self.redact("\n".join(lines)) + "\n\n")
        self.out.flush()


# The run's seeding (--fixture or a fresh recording) and its fake, under a public name: the base of
# mockserver replay's run (mockserver.replay.run), which sends recorded requests instead.
DriftRun = _Run
