"""Model-based differential runs: random, reproducible sequences of operations, to both sides.

The fixed probes send every read first and every write after; a deployment that forgets a write,
keeps a deleted user in a list or answers a search from a stale index looks right to them. Here
Hypothesis' stateful testing draws sequences from the documented behaviour
(:mod:`mockserver.spec.rules`): the rules of the machine (:data:`MODEL_RULES`), their inputs, and
every principal the run has, reading *and* trying to write, are listed in docs/drift.md.

Every step goes to the target, then to the in-process fake seeded like it; the answers are compared
by :class:`~mockserver.drift.compare.Comparer` and, across the sequence, by
:class:`~mockserver.drift.compare.Timeline`. On the first difference in meaning (also in form with
``--fail-on form``) Hypothesis shrinks the sequence; the report shows the shortest one, as curl
lines. Both sides always get the same requests, so they stay in the same state; the users a
sequence changed are put back on both sides by the same PATCH. ``--seed`` seeds Hypothesis,
``--steps`` is the budget (sequences of at most :data:`STEPS_PER_SEQUENCE`); shrinking may send more.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from mockserver.contract.results import WireResponse
from mockserver.drift.compare import FORM, Comparer, Difference, Precision, Timeline, meaning_only
from mockserver.drift.inputs import REJECTED, Inputs, Principal, rejected_body
from mockserver.drift.sequence import USER_AGENT, Step, make_step
from mockserver.spec import rules
from mockserver.spec.operations import DELETE, GET, INTEGRATION, LIST, LOOKUP, PATCH_V1, PATCH_V2

STEPS_PER_SEQUENCE = 12
DEFAULT_STEPS = 60
SOURCE = "model"
MAX_CONSECUTIVE_FAILURES = 3
FAIR_SHARE = 3  # requests one rule may send in a sequence (Hypothesis tends to repeat a rule)
# Requests shrinking may send after the budget (it stops there, keeping the shortest so far).
SHRINK_STEPS = 200
# The state machine's rules (docs: what each exercises is named in mockserver.spec.rules).
MODEL_RULES = ("list_all", "search", "search_edge", "get", "lookup", "patch", "rejected_write", "delete",
               "after_delete", "search_deleted", "read_related", "other_principal")

@dataclass
class ModelOutcome:
    sequences: int = 0
    steps: int = 0
    shortest: list[Step] = field(default_factory=list)  # the shortest sequence that shows a difference
    differences: list[tuple[Step, list[Difference], WireResponse, WireResponse]] = field(default_factory=list)
    form: list[tuple[Step, list[Difference], WireResponse, WireResponse]] = field(default_factory=list)
    rules_run: set[str] = field(default_factory=set)  # the MODEL_RULES that sent at least one request
    stopped: str | None = None  # why the model run stopped early


class _Found(AssertionError):
    """A difference between the two sides (Hypothesis shrinks the sequence that raised it)."""


def run_model(*, steps: int, seed: int, customer_id: str, users: list[dict], roles: list[str], token: str | None,
              target, fake, comparer: Comparer, patchable: list[str], deletable: list[str],
              snapshots: dict[str, dict], on_answer, principals: list[Principal] | None = None,
              fail_on: str = "meaning", precision: Precision | None = None) -> ModelOutcome:
    """Run the state machine; ``target``/``fake`` are drift's sides (``send(step) -> (answer, error)``);
    ``snapshots`` the target's ``patchable`` users before the first sequence (put back on both
    sides after each); ``on_answer(step, target, fake, error)`` counts a compared request;
    ``principals`` the run's other credentials (the run's ``token`` is always the first); ``precision``
    the run's evidence on the precision of ``updatedAt``, shared with its probes."""
    from hypothesis import HealthCheck, Phase, Verbosity, settings
    from hypothesis import seed as hypothesis_seed
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule, run_state_machine_as_test

    from mockserver.remote.restore import restore_body

    precision = precision if precision is not None else Precision()
    outcome = ModelOutcome()
    if steps <= 0 or not users:
        return outcome
    main = Principal("the run's token", token)
    everyone = [main, *(p for p in principals or () if p.token and p.token != token)]
    others = [p for p in everyone if p.other_customer]
    # The run's token twice: it stays the most frequent (and what shrinking goes back to).
    who = st.sampled_from([main, *everyone])
    users_path = rules.users_path(customer_id)
    by_id = {user["_id"]: user for user in users}
    deleted_on_target: list[str] = []
    state = {"failures": 0}

    def headers_of(principal: Principal) -> dict[str, str]:
        auth = {"Authorization": f"Bearer {principal.token}"} if principal.token else {}
        return {"User-Agent": USER_AGENT, "Accept": "application/json", **auth}

    def path_of(user_id: str, version: str = "v1") -> str:
        return rules.user_path(customer_id, user_id, version)

    inputs = Inputs(users, roles, [*deletable, *patchable])
    user_ids, other_emails = inputs.user_ids, inputs.other_emails
    search_terms, field_searches, edge_searches, changes = (inputs.search_terms, inputs.field_searches,
                                                            inputs.edge_searches, inputs.changes)

    def related_to(user_id: str) -> list[str]:
        """The users a delete of ``user_id`` touches: its delegates and delegators (as recorded)."""
        user = by_id.get(user_id) or {}
        found = [i for i in user.get("delegateIds") or () if i in by_id]
        found += [u["_id"] for u in users if user_id in (u.get("delegateIds") or ())]
        return list(dict.fromkeys(found))

    class Sequence(RuleBasedStateMachine):
        """One sequence of steps, both sides starting from the same state."""

        def __init__(self):
            super().__init__()
            self.trace: list[Step] = []
            self.touched: set[str] = set()
            self.related: set[str] = set()
            self.delegated: dict[str, list[str]] = {}  # user -> the delegates this sequence gave it
            self.deleted: list[str] = []
            self.timeline = Timeline(precision)
            self.uses: dict[str, int] = {}
            outcome.sequences += 1

        def fair(self, name: str) -> bool:
            """A rule sends at most FAIR_SHARE requests a sequence: the others get their turn."""
            return self.uses.get(name, 0) < FAIR_SHARE

        def exchange(self, rule_name: str, operation: str, note: str, method: str, path: str,
                     principal: Principal = main, **kwargs) -> int | None:
            """Send one step to both sides and compare; the fake's status (None: not compared)."""
            # Counted whether or not it is sent: what a sequence draws next (the preconditions) must
            # depend on its own draws only, never on the run's budget or on earlier sequences, or
            # Hypothesis finds the same prefix drawing differently (FlakyStrategyDefinition).
            self.uses[rule_name] = self.uses.get(rule_name, 0) + 1
            if outcome.stopped:
                return
            if outcome.differences and outcome.steps > shrink_budget:
                outcome.stopped = "shrinking stopped at its budget"
                return
            if not outcome.differences and outcome.steps >= steps:
                return  # the budget is spent: the remaining sequences send nothing
            if principal is not main:
                note = f"{note}, as {principal.name}"
            step = make_step(operation, SOURCE, note, method, path, headers=headers_of(principal), **kwargs)
            self.trace.append(step)
            target_answer, target_error = target.send(step)
            not_sent = bool(target_error) and target_error.startswith("not sent")
            fake_answer, fake_error = (None, None) if not_sent else fake.send(step)
            outcome.steps += 1
            outcome.rules_run.add(rule_name)
            on_answer(step, target_answer, fake_answer, target_error or fake_error)
            if target_error or fake_error:
                state["failures"] = state["failures"] + 1 if (target_error or "").startswith("the target did not") else 0
                if state["failures"] >= MAX_CONSECUTIVE_FAILURES:
                    outcome.stopped = "the target stopped answering"
                return
            state["failures"] = 0
            differences = comparer.compare(target_answer, fake_answer)
            differences += self.timeline.observe_answers(target_answer, fake_answer)
            failing = differences if fail_on == FORM else meaning_only(differences)
            if differences and not failing and len(outcome.form) < 20:
                outcome.form.append((step, differences, target_answer, fake_answer))
            if failing:
                if not outcome.differences or len(self.trace) <= len(outcome.shortest):
                    outcome.shortest = list(self.trace)
                    outcome.differences = [(step, differences, target_answer, fake_answer)]
                raise _Found(f"{step.method} {step.path}: {failing[0].kind} at {failing[0].where}")
            return fake_answer.status

        @initialize()
        def start(self):
            pass

        @precondition(lambda self: self.fair("list_all"))
        @rule(principal=who)
        def list_all(self, principal):
            self.exchange("list_all", LIST, "the whole list", "GET", users_path, principal,
                          params={"integration": INTEGRATION})

        @precondition(lambda self: self.fair("search"))
        @rule(term=search_terms(), each_field=field_searches(), principal=who)
        def search(self, term, each_field, principal):
            """A drawn search, then one term from each searched field of a drawn user."""
            for one in [term, *each_field]:
                self.exchange("search", LIST, f"search {one!r}", "GET", users_path, principal,
                              params={"integration": INTEGRATION, "search": one})

        @precondition(lambda self: self.fair("search_edge"))
        @rule(term=edge_searches())
        def search_edge(self, term):
            self.exchange("search_edge", LIST, f"search {term!r} (an edge value)", "GET", users_path,
                          params={"integration": INTEGRATION, "search": term})

        @precondition(lambda self: self.fair("get"))
        @rule(user_id=st.sampled_from(user_ids), principal=who)
        def get(self, user_id, principal):
            self.exchange("get", GET, "a user", "GET", path_of(user_id), principal)

        @precondition(lambda self: self.fair("lookup"))
        @rule(principal=who)
        def lookup(self, principal):
            self.exchange("lookup", LOOKUP, "the token's identity", "GET", rules.lookup_path(customer_id), principal)

        @precondition(lambda self: bool(patchable) and self.fair("patch"))
        @rule(data=st.data())
        def patch(self, data):
            user_id = data.draw(st.sampled_from(patchable), label="user")
            version = data.draw(st.sampled_from(("v1", "v2")), label="version")
            body = data.draw(changes(version), label="changes")
            principal = data.draw(who, label="principal")
            self.touched.add(user_id)
            if isinstance(body.get("delegateIds"), list):
                self.related.update(body["delegateIds"])
            if user_id not in self.timeline.seen and user_id not in self.deleted:
                # Seen first, so the timeline knows whether the PATCH moved updatedAt.
                self.exchange("patch", GET, "the user before an update", "GET", path_of(user_id))
            self.exchange("patch", PATCH_V1 if version == "v1" else PATCH_V2, f"update {', '.join(body) or '{}'}",
                          "PATCH", path_of(user_id, version), principal, json_body=body)

        @precondition(lambda self: bool(patchable) and self.fair("rejected_write"))
        @rule(data=st.data())
        def rejected_write(self, data):
            """A PATCH the documents reject (409, 422, 400), then reads: it changed nothing."""
            user_id = data.draw(st.sampled_from(patchable), label="user")
            kind = data.draw(st.sampled_from(REJECTED), label="kind")
            text_field = data.draw(st.sampled_from([n for n in rules.TEXT_FIELDS if n != "email"]), label="field")
            email = next((e for e in other_emails if e != (by_id.get(user_id) or {}).get("email")), None)
            version, body = rejected_body(kind, user_id, email, text_field)
            self.touched.add(user_id)
            self.exchange("rejected_write", PATCH_V1 if version == "v1" else PATCH_V2, f"rejected: {kind}", "PATCH",
                          path_of(user_id, version), json_body=body)
            self.exchange("rejected_write", GET, f"the user after a rejected write ({kind})", "GET", path_of(user_id))
            if kind == "duplicate email":
                self.exchange("rejected_write", LIST, "search the email after a rejected write", "GET", users_path,
                              params={"integration": INTEGRATION, "search": body["email"]})

        @precondition(lambda self: bool(deletable) and self.fair("delete"))
        @rule(data=st.data())
        def delete(self, data):
            user_id = data.draw(st.sampled_from(deletable), label="user")
            principal = data.draw(who, label="principal")
            if user_id in patchable and user_id not in self.deleted:
                # A user the model may also update is updated right before, by the run's token, with a change
                # that is always accepted: it cannot come back once deleted, and its last update is compared
                # (updatedAt too). Only the sequence's own draws decide this, never earlier sequences.
                self.touched.add(user_id)
                if user_id not in self.timeline.seen:
                    # Seen first, so the timeline knows whether the PATCH moved updatedAt.
                    self.exchange("delete", GET, "the user before an update", "GET", path_of(user_id))
                self.exchange("delete", PATCH_V1, "update jobTitle before the delete", "PATCH", path_of(user_id),
                              json_body={"jobTitle": "Updated Before Delete"})
            if (user_id in patchable and user_id not in self.deleted
                    and data.draw(st.booleans(), label="delegates first")):
                # A user who delegates: the delete must also drop it from its delegates' delegators.
                delegate = data.draw(st.sampled_from([u for u in user_ids if u != user_id]), label="its delegate")
                self.exchange("delete", PATCH_V1, "the user delegates before it is deleted", "PATCH",
                              path_of(user_id), json_body={"delegateIds": [delegate]})
                self.related.add(delegate)
                self.delegated[user_id] = [delegate]
            bound = [p for p in everyone if p.user_id == user_id and user_id not in self.deleted]
            for principal_of_user in bound:
                # The lookup depends on the user: asked before the delete, and again right after it.
                self.exchange("delete", LOOKUP, "lookup before its user is deleted", "GET",
                              rules.lookup_path(customer_id), principal_of_user)
            self.exchange("delete", DELETE, "delete a user", "DELETE", path_of(user_id), principal)
            if principal.other_customer:
                return  # refused (403): nothing was deleted, on either side
            # Sequence-local state only decides what is drawn next (a replay draws the same).
            if user_id not in self.deleted:
                self.deleted.append(user_id)
            if user_id not in deleted_on_target:
                deleted_on_target.append(user_id)
            self.timeline.forget(user_id)
            for principal_of_user in bound:
                self.exchange("delete", LOOKUP, "lookup after its user was deleted", "GET",
                              rules.lookup_path(customer_id), principal_of_user)
            # At once (a few of the operations), and all of them when the machine draws after_delete.
            self.involve_deleted(data, user_id, at_most=4)

        @precondition(lambda self: bool(self.deleted) and self.fair("after_delete"))
        @rule(data=st.data())
        def after_delete(self, data):
            """Every operation that can involve a deleted user, in a drawn order."""
            self.involve_deleted(data, data.draw(st.sampled_from(self.deleted), label="deleted user"))

        def involve_deleted(self, data, user_id: str, at_most: int | None = None) -> None:
            bound = [p for p in everyone if p.user_id == user_id]
            operations = {
                "get": lambda: self.exchange("after_delete", GET, "the deleted user", "GET", path_of(user_id)),
                "patch v1": lambda: self.exchange("after_delete", PATCH_V1, "update the deleted user", "PATCH",
                                                  path_of(user_id), json_body={"jobTitle": "After Delete"}),
                "patch v2": lambda: self.exchange("after_delete", PATCH_V2, "update the deleted user (v2)", "PATCH",
                                                  path_of(user_id, "v2"), json_body={"nickname": "after-delete"}),
                "delete again": lambda: self.exchange("after_delete", DELETE, "delete the deleted user again",
                                                      "DELETE", path_of(user_id)),
                "lookup": lambda: self.exchange("after_delete", LOOKUP, "lookup after a delete", "GET",
                                                rules.lookup_path(customer_id), (bound or [main])[0]),
                "list": lambda: self.exchange("after_delete", LIST, "the list after a delete", "GET", users_path,
                                              params={"integration": INTEGRATION}),
                "related": lambda: [self.exchange("after_delete", GET, "a user related to the deleted one", "GET",
                                                  path_of(other))
                                    for other in (self.delegated.get(user_id, []) + related_to(user_id))[:3]],
                "search": lambda: self.exchange("after_delete", LIST, "search the deleted user's email", "GET",
                                                users_path, params={"integration": INTEGRATION,
                                                                    "search": (by_id.get(user_id) or {}).get("email")
                                                                    or user_id}),
            }
            live = [u for u in patchable if u not in self.deleted and u != user_id]
            if live:
                operations["delegate to it"] = lambda: self.exchange(
                    "after_delete", PATCH_V1, "a delegation to the deleted user", "PATCH", path_of(live[0]),
                    json_body={"delegateIds": [user_id]})
            order = data.draw(st.permutations(sorted(operations)), label="order")
            for name in order[:at_most]:
                operations[name]()

        @precondition(lambda self: bool(self.deleted) and self.fair("search_deleted"))
        @rule(data=st.data())
        def search_deleted(self, data):
            """A search for a user deleted in this sequence (its name, email, ... as any term)."""
            term = data.draw(search_terms([by_id[u] for u in self.deleted if u in by_id]), label="term")
            self.exchange("search_deleted", LIST, f"search {term!r} after a delete", "GET", users_path,
                          params={"integration": INTEGRATION, "search": term})

        @precondition(lambda self: bool(self.touched or self.deleted) and self.fair("read_related"))
        @rule()
        def read_related(self):
            """After writes: the list, then each user a write touched or related to a deleted one."""
            self.exchange("read_related", LIST, "the list after writes", "GET", users_path,
                          params={"integration": INTEGRATION})
            written = sorted(self.touched | self.related) + self.deleted
            # Then the users related to them: they show a changed name in delegates/delegators.
            related = list(dict.fromkeys([*written, *(r for u in written for r in related_to(u))]))
            for user_id in related[:5]:
                self.exchange("read_related", GET, "a user touched by a write", "GET", path_of(user_id))

        @precondition(lambda self: bool(others) and self.fair("other_principal"))
        @rule(data=st.data())
        def other_principal(self, data):
            """Another customer's token reads and tries to write this customer's users (403)."""
            principal = data.draw(st.sampled_from(others), label="principal")
            user_id = data.draw(st.sampled_from(patchable or user_ids), label="user")
            kind = data.draw(st.sampled_from(("get", "patch", "lookup", "delete", "list")), label="operation")
            if kind in ("patch", "delete") and user_id not in (*patchable, *deletable):
                kind = "get"  # a refused write is only tried on a user the run may change
            if kind == "list":
                self.exchange("other_principal", LIST, "the list", "GET", users_path, principal,
                              params={"integration": INTEGRATION})
            elif kind == "get":
                self.exchange("other_principal", GET, "a user", "GET", path_of(user_id), principal)
            elif kind == "lookup":
                self.exchange("other_principal", LOOKUP, "the identity", "GET", rules.lookup_path(customer_id),
                              principal)
            elif kind == "patch":
                self.exchange("other_principal", PATCH_V1, "an update", "PATCH", path_of(user_id), principal,
                              json_body={"jobTitle": "Other Tenant"})
            else:
                self.exchange("other_principal", DELETE, "a delete", "DELETE", path_of(user_id), principal)
            if kind == "delete":
                self.exchange("other_principal", GET, "the user after another customer's delete", "GET",
                              path_of(user_id))

        def teardown(self):
            """Put the changed users back, by the same request to both sides (not compared)."""
            if not self.trace:
                return  # nothing was sent (the budget was spent before this sequence)
            for user_id in sorted(self.touched - set(deleted_on_target)):
                if outcome.stopped == "the target stopped answering" or user_id not in snapshots:
                    continue
                body = restore_body(snapshots[user_id], gone=deleted_on_target)
                step = make_step(PATCH_V1, "restore", "put the user back", "PATCH", path_of(user_id),
                                 headers=headers_of(main), json_body=body)
                target.send(step)
                fake.send(step)

    per_sequence = max(1, min(STEPS_PER_SEQUENCE, steps))
    shrink_budget = steps + max(SHRINK_STEPS, 4 * steps)
    config = settings(
        # Sequences are drawn until the requests reach the budget (the rest send nothing).
        max_examples=max(1, math.ceil(steps / per_sequence) * 2),
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
