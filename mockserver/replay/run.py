"""Run a replay: the app's recorded requests, in order, to the deployment and to the fake.

:func:`run_replay` is the whole run. It is drift's run (:class:`mockserver.drift.runner.DriftRun`)
with another sequence: the target's options, safety policy, pre-flight, rate limit, TLS and token
masking are :mod:`mockserver.remote`'s; the fake is seeded as drift seeds it (``--fixture FILE``
or a fresh read-only recording of the target) and knows the run's token; every pair of answers
is compared by drift's :class:`~mockserver.drift.compare.Comparer`. What is new here: the
requests come from a HAR file (:mod:`.har`, :mod:`.plan`), each one's outcome is kept, and a
difference is given the shortest sequence of the app's earlier requests that shows it
(:func:`shrink`).

Exit codes as drift's: 0 every replayed request answered alike, 1 a difference, 2 could not run.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from typing import IO, Any

from mockserver.drift.compare import VOLATILE_FIELDS, Comparer
from mockserver.drift.results import COULD_NOT_RUN, DRIFT, NO_DRIFT
from mockserver.drift.runner import MAX_CONSECUTIVE_FAILURES, CouldNotRun, DriftOptions, DriftRun
from mockserver.drift.side import NO_ANSWER, NOT_SENT, Side, quiet_connexion
from mockserver.remote.process import interrupts_deferred, serve_app, sigterm_as_interrupt
from mockserver.remote.progress import Progress
from mockserver.remote.report import Redactor
from mockserver.remote.restore import restore_users, snapshot_users
from mockserver.remote.safety import OBJECT_ID, UsageProblem, guard_requests
from mockserver.remote.tls import insecure_announced
from mockserver.replay.har import HarError, read_har
from mockserver.replay.plan import USER_AGENT, Item, Rewriter, api_base, customer_of, parse_maps, route_table
from mockserver.replay.report import ReplayResult, write_header, write_json, write_junit, write_text
from mockserver.spec.routes import SAFE_METHODS

# A difference after more earlier writes than this is not shrunk: its sequence is all of them.
MAX_SHRINK_WRITES = 16


@dataclass(kw_only=True)
class ReplayOptions(DriftOptions):
    """drift's options (target, safety, TLS, --fixture, --ignore, --json) and the replay's own."""

    har_file: str = ""
    maps: tuple[str, ...] = ()
    har_origin: str | None = None
    junit: str | None = None


def run_replay(target: str | Any, options: ReplayOptions, *, out: IO[str] | None = None,
               err: IO[str] | None = None) -> int:
    """Replay ``options.har_file`` against the deployment at ``target`` (an origin URL, or an ASGI
    app served on a free loopback port for the run) and the fake."""
    out = out or sys.stdout
    err = err or sys.stderr
    if isinstance(target, str):
        return ReplayRun(target, options, out, err).run()
    with serve_app(target) as url:
        return ReplayRun(url, options, out, err).run()


class ReplayRun(DriftRun):
    options: ReplayOptions

    def run(self) -> int:
        from mockserver.remote.target import plan_target

        options = self.options
        try:
            entries = read_har(options.har_file)
            mapping = parse_maps(options.maps)
            routes = route_table()
            base = api_base(entries, routes, options.har_origin, options.har_file)
            if any(not name.strip() for name in options.ignore):
                raise UsageProblem("--ignore needs a field name, e.g. --ignore lastLoginAt")
            plan = plan_target(self.url, options)
        except (HarError, UsageProblem) as problem:
            return self._fail(str(problem))
        self.redact = Redactor.of_tokens(options.token, plan.token, plan.fake_admin_token)
        self.plan, self.routes = plan, routes
        rewriter = Rewriter(routes, base, mapping, plan.token)
        items = [rewriter.item(entry) for entry in entries]
        result = ReplayResult(har_file=options.har_file, har_origin=str(base), origin=plan.target.base,
                              customer_id=plan.customer_id, items=items, mapping=mapping, mapped=rewriter.mapped)
        fixture = None
        if options.fixture:
            try:
                fixture = self._load_fixture(plan.customer_id)
            except CouldNotRun as problem:
                return self._fail(str(problem))
        self.limiter = plan.limiter()
        client = plan.client(options.request_timeout, USER_AGENT)
        try:
            with insecure_announced(plan.tls, self.err), sigterm_as_interrupt():
                return self._guarded(client, fixture, result)
        except KeyboardInterrupt:
            return self._fail("interrupted before the replay started; nothing was changed")
        finally:
            client.close()

    def _guarded(self, client, fixture: dict | None, result: ReplayResult) -> int:
        from mockserver.remote.target import preflight

        plan = self.plan
        with guard_requests(plan.policy, retries=plan.retries) as guard:
            problem = preflight(client, plan)
            if problem is not None:
                return self._fail(problem)
            snapshots: dict[str, dict] = {}
            if plan.user_ids and plan.policy.allow_patch and not plan.policy.unrestricted:
                try:
                    snapshots = snapshot_users(client, plan.customer_id, plan.user_ids)
                except LookupError as lookup:
                    if guard.rate_limited:
                        return self._fail(guard.rate_limited)
                    # A user that cannot be read is never changed: the recorded writes are not sent.
                    result.unreadable = str(lookup)
                    plan = self.plan = plan.read_only(guard)
            try:
                document, source, identity = self._seed(client, fixture)
                app, _subject = self._fake(document, identity)
            except CouldNotRun as problem:
                return self._fail(str(problem))
            result.fake_source = source
            result.guard = guard
            result.settings = self._replay_settings(source)
            for item in result.items:
                if item.step is not None and not item.not_sent:
                    refusal = plan.policy.refusal(item.step.method, plan.target.base + item.step.path)
                    if refusal is not None:
                        item.not_sent = f"the safety policy: {refusal}"
            named = {customer_of(self.routes, item.step) for item in result.items if item.step is not None}
            result.foreign = sorted(customer for customer in named
                                    if customer and customer != plan.customer_id and OBJECT_ID.match(customer))
            write_header(result, self.out, self.redact, plan, self.options)
            try:
                with serve_app(app) as fake_url, quiet_connexion():
                    self._replay(result, plan.target.base, fake_url)
            except KeyboardInterrupt:
                result.interrupted = True
            finally:
                if snapshots:
                    with interrupts_deferred():
                        result.restore = restore_users(client, plan.customer_id, snapshots)
        if not result.interrupted:
            try:
                with quiet_connexion():
                    shrink(result.items, lambda: self._fake(document, identity)[0], self._comparer(),
                           self.options.request_timeout)
            except KeyboardInterrupt:
                result.interrupted = True
        return self._finish(result)

    def _comparer(self) -> Comparer:
        return Comparer(self.options.ignore)

    def _replay(self, result: ReplayResult, origin: str, fake_origin: str) -> None:
        comparer = self._comparer()
        target, fake = self._sides(origin, fake_origin)
        pending = [item for item in result.items if item.step is not None and not item.not_sent]
        progress = Progress(self.err, "requests", len(pending), bar=self.options.progress, prefix="replay")
        failures = 0
        try:
            for position, item in enumerate(pending):
                target_answer, target_error = target.send(item.step)
                not_sent = bool(target_error) and target_error.startswith(NOT_SENT)
                fake_answer, fake_error = (None, None) if not_sent else fake.send(item.step)
                progress.advance()
                if not_sent:
                    item.not_sent = target_error
                    continue
                if target_error or fake_error:
                    item.error = target_error or fake_error
                    failures = failures + 1 if (target_error or "").startswith(NO_ANSWER) else 0
                    if failures >= MAX_CONSECUTIVE_FAILURES:
                        result.unavailable = True
                        for later in pending[position + 1:]:
                            later.not_sent = "the target stopped answering"
                        break
                    continue
                failures = 0
                item.target, item.fake = target_answer, fake_answer
                item.differences = comparer.compare(target_answer, fake_answer)
        except KeyboardInterrupt:
            for item in pending:
                if item.target is None and not (item.error or item.not_sent):
                    item.not_sent = "the run was interrupted"
            raise
        finally:
            progress.close()
            target.close()
            fake.close()

    def _replay_settings(self, source: str) -> dict[str, Any]:
        plan = self.plan
        return {
            "target": plan.target.base,
            "customer": plan.customer_id,
            "fake": source,
            "policy": plan.policy.describe(),
            "rateLimit": plan.rate_limit or "none",
            "shapeOnly": sorted(set(VOLATILE_FIELDS) | set(self.options.ignore)),
        }

    def _finish(self, result: ReplayResult) -> int:
        result.decide()
        write_text(result, self.out, self.redact, color=self.options.color)
        self.out.flush()
        for writer, path, flag in ((write_json, self.options.json_file, "--json"),
                                   (write_junit, self.options.junit, "--junit")):
            if path:
                try:
                    writer(result, path, self.redact)
                except OSError as error:
                    return self._fail(f"cannot write the {flag} report {path}: {error.strerror or error}")
        if result.exit_code == COULD_NOT_RUN:
            self.err.write(self.redact(f"mockserver replay: could not run: {result.verdict}") + "\n")
        return result.exit_code

    def _fail(self, message: str) -> int:
        self.err.write(self.redact(f"mockserver replay: could not run: {message}") + "\n")
        self.err.flush()
        for writer, path in ((write_json, self.options.json_file), (write_junit, self.options.junit)):
            if path:
                with contextlib.suppress(OSError):
                    writer(ReplayResult.failed(self.options.har_file, self.url, message), path, self.redact)
        return COULD_NOT_RUN


def shrink(items: list[Item], fresh_fake, comparer: Comparer, timeout: float) -> None:
    """Give each differing request the shortest sequence of the app's earlier requests that shows
    it: the target's answer is kept as the run got it, and a fresh fake is asked again after only
    some of the earlier writes (reads change nothing, so they are never needed): the fewest after
    which it answers the request as it did in the run, so the kept answer of the target differs
    from it in the same way. Without earlier writes the request shows the difference alone; no
    request reaches the target here."""
    sent_writes: list[Item] = []
    for item in items:
        if item.step is not None and item.target is not None and item.differences:
            item.sequence = _shortest(item, sent_writes, fresh_fake, comparer, timeout)
        if item.step is not None and item.target is not None and item.step.method not in SAFE_METHODS:
            sent_writes.append(item)


def _shortest(item: Item, writes: list[Item], fresh_fake, comparer: Comparer, timeout: float) -> list[int]:
    if not writes:
        return [item.number]
    if len(writes) > MAX_SHRINK_WRITES:
        item.sequence_note = f"not shrunk: {len(writes)} earlier writes (at most {MAX_SHRINK_WRITES} are tried)"
        return [write.number for write in writes] + [item.number]
    def shows(prefix: list[Item]) -> bool:
        with serve_app(fresh_fake()) as url:
            side = Side("the fake", url, timeout, None, trust_env=False)
            try:
                for write in prefix:
                    side.send(write.step)
                answer, error = side.send(item.step)
            finally:
                side.close()
        if error or answer is None:
            return False
        # The fake answers as it did in the run: the earlier writes it saw are the ones this answer
        # depends on, and the target's answer (kept) differs from it in the same way.
        return not comparer.compare(item.fake, answer)

    if shows([]):
        return [item.number]
    keep = list(writes)
    if not shows(keep):
        item.sequence_note = "the difference did not show again on a fresh fake after the same writes"
        return [write.number for write in writes] + [item.number]
    for write in list(keep):
        trial = [other for other in keep if other is not write]
        if shows(trial):
            keep = trial
    return [write.number for write in keep] + [item.number]


__all__ = ["ReplayOptions", "run_replay", "NO_DRIFT", "DRIFT", "COULD_NOT_RUN"]
