"""Model-based differential runs: random, reproducible sequences of operations, to both sides.

The fixed probes send every read first and every write after; a deployment that forgets a write,
keeps a deleted user in a list or answers a search from a stale index looks right to them. Here
Hypothesis' stateful testing (:class:`hypothesis.stateful.RuleBasedStateMachine`) draws sequences
that interleave list, search (terms taken from the data: names, emails, nicknames, parts of them,
two terms, other letter cases), get, lookup, PATCH of the users the run may change (changes drawn
from the update schemas: strings, emails, also another user's email in another letter case, role
and delegate ids), DELETE where allowed, and reads of the list and of related users afterwards.
Every step goes to the target, then to the in-process fake seeded like it, and the two answers are
compared by :class:`mockserver.drift.compare.Comparer`, as the probes are. On the first difference
Hypothesis shrinks the sequence; the report shows the shortest one that reproduces it, as curl lines.

Both sides always get the same requests, so they stay in the same state: after each sequence the
users it changed are put back on both sides by the same PATCH (the target's snapshot taken before
the first sequence, as ``--user-id`` users are restored); a deleted user stays deleted on both. A
read-only target gets read-only sequences (no PATCH or DELETE rule applies).

Reproducible: ``--seed`` seeds Hypothesis, ``--steps`` is the budget (about that many steps in all,
in sequences of at most :data:`STEPS_PER_SEQUENCE`). Shrinking sends more requests than the budget,
only after a difference was found.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from mockserver.contract.results import WireResponse
from mockserver.drift.compare import Comparer, Difference
from mockserver.drift.sequence import USER_AGENT, Step, make_step
from mockserver.spec.operations import DELETE, GET, INTEGRATION, LIST, LOOKUP, PATCH_V1, PATCH_V2

STEPS_PER_SEQUENCE = 12
DEFAULT_STEPS = 60
SOURCE = "model"
TEXT_FIELDS = ("firstName", "lastName", "jobTitle", "nickname", "seniority", "department", "office", "subdepartment",
               "pod")
MAX_CONSECUTIVE_FAILURES = 3
# Requests shrinking may send after the budget (it stops there, keeping the shortest so far).
SHRINK_STEPS = 200


@dataclass
class ModelOutcome:
    sequences: int = 0
    steps: int = 0
    shortest: list[Step] = field(default_factory=list)  # the shortest sequence that shows a difference
    differences: list[tuple[Step, list[Difference], WireResponse, WireResponse]] = field(default_factory=list)
    stopped: str | None = None  # why the model run stopped early


class _Found(AssertionError):
    """A difference between the two sides (Hypothesis shrinks the sequence that raised it)."""


def run_model(*, steps: int, seed: int, customer_id: str, users: list[dict], roles: list[str], token: str | None,
              target, fake, comparer: Comparer, patchable: list[str], deletable: list[str],
              snapshots: dict[str, dict], on_answer) -> ModelOutcome:
    """Run the state machine; ``target``/``fake`` are drift's sides (``send(step) -> (answer, error)``);
    ``snapshots`` the target's ``patchable`` users before the first sequence (put back on both
    sides after each); ``on_answer(step, target, fake, error)`` counts a compared request."""
    from hypothesis import HealthCheck, Phase, Verbosity, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule, run_state_machine_as_test

    from mockserver.remote.restore import restore_body

    outcome = ModelOutcome()
    if steps <= 0 or not users:
        return outcome
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **auth}
    users_path = f"/api/v1/customers/{customer_id}/users"
    by_id = {user["_id"]: user for user in users}
    deleted_on_target: list[str] = []
    state = {"failures": 0}

    def path_of(user_id: str, version: str = "v1") -> str:
        return f"/api/{version}/customers/{customer_id}/users/{user_id}"

    words = sorted({str(u.get(name)) for u in users for name in ("firstName", "lastName", "email", "nickname")
                    if isinstance(u.get(name), str) and u.get(name)})
    user_ids = sorted(by_id)
    related_pool = list(dict.fromkeys([*deletable, *patchable, *user_ids[:3]]))
    other_emails = sorted({u["email"] for u in users if isinstance(u.get("email"), str)})

    values = {name: sorted({u[name] for u in users if isinstance(u.get(name), str) and u[name].strip()})
              for name in ("firstName", "lastName", "email", "nickname")}
    values = {name: found for name, found in values.items() if found}

    @st.composite
    def search_terms(draw, among: list[dict] | None = None) -> str:
        if among:
            user = draw(st.sampled_from(among))
            word = draw(st.sampled_from([user[n] for n in ("firstName", "lastName", "email", "nickname")
                                         if isinstance(user.get(n), str) and user[n].strip()] or ["a"]))
        else:
            word = draw(st.sampled_from(values[draw(st.sampled_from(sorted(values)))]))
        kind = draw(st.sampled_from(("whole", "part", "upper", "lower", "swapcase", "two")))
        if kind == "part" and len(word) > 2:
            start = draw(st.integers(0, len(word) - 2))
            end = draw(st.integers(start + 1, len(word)))
            return word[start:end]
        if kind == "upper":
            return word.upper()
        if kind == "lower":
            return word.lower()
        if kind == "swapcase":
            return word.swapcase()
        if kind == "two":
            user = by_id[draw(st.sampled_from(user_ids))]
            first, last = user.get("firstName") or word, user.get("lastName") or word
            other = draw(st.sampled_from(words)) if draw(st.booleans()) else last
            return f"{first} {other}"
        return word

    text = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ABCXYZ-'", min_size=0, max_size=12)
    emails = st.one_of(
        st.builds(lambda local, n: f"{local}.{n}@model-check.example", st.text("abcdefgh", min_size=1, max_size=6),
                  st.integers(0, 999)),
        st.builds(lambda email, case: {"upper": email.upper(), "swap": email.swapcase(), "same": email}[case],
                  st.sampled_from(other_emails), st.sampled_from(("upper", "swap", "same"))),
    ) if other_emails else st.just("model.check@model-check.example")

    @st.composite
    def changes(draw, version: str) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for name in draw(st.lists(st.sampled_from(TEXT_FIELDS), min_size=0, max_size=3, unique=True)):
            body[name] = draw(text)
        if draw(st.integers(0, 3)) == 0:
            body["email"] = draw(emails)
        if roles and draw(st.integers(0, 4)) == 0:
            body["roleIds"] = draw(st.lists(st.sampled_from(roles), max_size=2, unique=True))
        if version == "v1" and draw(st.integers(0, 3)) == 0:
            # Mostly users the sequence may delete or change: what a delete must clean up.
            body["delegateIds"] = draw(st.lists(st.sampled_from(related_pool), max_size=2, unique=True))
        return body or {"jobTitle": draw(text)}

    class Sequence(RuleBasedStateMachine):
        """One sequence of steps, both sides starting from the same state."""

        def __init__(self):
            super().__init__()
            self.trace: list[Step] = []
            self.touched: set[str] = set()
            self.related: set[str] = set()
            self.deleted: list[str] = []
            outcome.sequences += 1

        def exchange(self, operation: str, note: str, method: str, path: str, **kwargs) -> None:
            if outcome.stopped:
                return
            if outcome.differences and outcome.steps > shrink_budget:
                outcome.stopped = "shrinking stopped at its budget"
                return
            step = make_step(operation, SOURCE, note, method, path, headers=headers, **kwargs)
            self.trace.append(step)
            target_answer, target_error = target.send(step)
            not_sent = bool(target_error) and target_error.startswith("not sent")
            fake_answer, fake_error = (None, None) if not_sent else fake.send(step)
            outcome.steps += 1
            on_answer(step, target_answer, fake_answer, target_error or fake_error)
            if target_error or fake_error:
                state["failures"] = state["failures"] + 1 if (target_error or "").startswith("the target did not") else 0
                if state["failures"] >= MAX_CONSECUTIVE_FAILURES:
                    outcome.stopped = "the target stopped answering"
                return
            state["failures"] = 0
            differences = comparer.compare(target_answer, fake_answer)
            if differences:
                if not outcome.differences or len(self.trace) <= len(outcome.shortest):
                    outcome.shortest = list(self.trace)
                    outcome.differences = [(step, differences, target_answer, fake_answer)]
                raise _Found(f"{step.method} {step.path}: {differences[0].kind} at {differences[0].where}")

        @initialize()
        def start(self):
            pass

        @rule()
        def list_all(self):
            self.exchange(LIST, "the whole list", "GET", users_path, params={"integration": INTEGRATION})

        @rule(term=search_terms())
        def search(self, term):
            self.exchange(LIST, f"search {term!r}", "GET", users_path,
                          params={"integration": INTEGRATION, "search": term})

        @rule(user_id=st.sampled_from(user_ids))
        def get(self, user_id):
            self.exchange(GET, "a user", "GET", path_of(user_id))

        @rule()
        def lookup(self):
            self.exchange(LOOKUP, "the token's identity", "GET", f"{users_path}/lookup")

        @precondition(lambda self: bool(patchable))
        @rule(data=st.data())
        def patch(self, data):
            user_id = data.draw(st.sampled_from(patchable), label="user")
            version = data.draw(st.sampled_from(("v1", "v2")), label="version")
            body = data.draw(changes(version), label="changes")
            self.touched.add(user_id)
            if isinstance(body.get("delegateIds"), list):
                self.related.update(body["delegateIds"])
            self.exchange(PATCH_V1 if version == "v1" else PATCH_V2, f"update {', '.join(body)}", "PATCH",
                          path_of(user_id, version), json_body=body)

        @precondition(lambda self: bool(deletable))
        @rule(data=st.data())
        def delete(self, data):
            user_id = data.draw(st.sampled_from(deletable), label="user")
            self.exchange(DELETE, "delete a user", "DELETE", path_of(user_id))
            # Sequence-local state only decides what is drawn next (a replay draws the same).
            if user_id not in self.deleted:
                self.deleted.append(user_id)
            if user_id not in deleted_on_target:
                deleted_on_target.append(user_id)

        @precondition(lambda self: bool(self.deleted))
        @rule(data=st.data())
        def search_deleted(self, data):
            """A search for a user deleted in this sequence (its name, email, ... as any term)."""
            term = data.draw(search_terms([by_id[u] for u in self.deleted if u in by_id]), label="term")
            self.exchange(LIST, f"search {term!r} after a delete", "GET", users_path,
                          params={"integration": INTEGRATION, "search": term})

        @precondition(lambda self: bool(self.touched or self.deleted))
        @rule()
        def read_related(self):
            """After writes: the list, then each user a write touched or related to a deleted one."""
            self.exchange(LIST, "the list after writes", "GET", users_path, params={"integration": INTEGRATION})
            for user_id in sorted(self.touched | self.related | set(self.deleted))[:4]:
                self.exchange(GET, "a user touched by a write", "GET", path_of(user_id))

        def teardown(self):
            """Put the changed users back, by the same request to both sides (not compared)."""
            for user_id in sorted(self.touched - set(deleted_on_target)):
                if outcome.stopped == "the target stopped answering" or user_id not in snapshots:
                    continue
                body = restore_body(snapshots[user_id])
                if isinstance(body.get("delegateIds"), list):
                    body["delegateIds"] = [i for i in body["delegateIds"] if i not in deleted_on_target]
                step = make_step(PATCH_V1, "restore", "put the user back", "PATCH", path_of(user_id),
                                 headers=headers, json_body=body)
                target.send(step)
                fake.send(step)

    per_sequence = max(1, min(STEPS_PER_SEQUENCE, steps))
    shrink_budget = steps + max(SHRINK_STEPS, 4 * steps)
    config = settings(
        max_examples=max(1, math.ceil(steps / per_sequence)),
        stateful_step_count=per_sequence,
        database=None,
        deadline=None,
        derandomize=False,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        print_blob=False,
    )
    hypothesis_seed(seed)(Sequence)
    try:
        run_state_machine_as_test(Sequence, settings=config)
    except _Found:
        pass
    except Exception as error:  # Hypothesis found the sequence flaky (a target that changes on its own)
        if not outcome.differences:
            outcome.stopped = outcome.stopped or f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    if outcome.stopped == "shrinking stopped at its budget":
        outcome.stopped = None  # not an error: the shortest sequence found so far is reported
    return outcome


def describe_body(step: Step) -> str:
    if not step.body:
        return ""
    try:
        return json.dumps(json.loads(step.body), sort_keys=True)
    except ValueError:
        return step.body.decode("utf-8", "replace")
