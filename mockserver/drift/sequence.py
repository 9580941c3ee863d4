"""The deterministic sequence of requests a drift run sends to both sides.

Two sources, both fixed by the data and the seed, never by an answer:

- **probes** (:func:`probe_steps`): a hand-picked set per operation that reaches the answers a
  fake most often gets wrong: the list with and without search, real users, a missing and a
  malformed id, no token and a made-up token, another customer and another customer's user,
  the identity lookup; and, when writes are allowed, updates that succeed, clash (409), name
  unknown roles (422), send unknown fields or the wrong media type, then a delete and a read of
  the deleted user.
- **generated** (:func:`generated_steps`): the contract runner's Schemathesis cases from its own
  configuration (``contract/schemathesis.toml``, customer and user fixed the same way), from the
  examples and coverage phases (deterministic by construction) and, if asked, the fuzzing phase
  under a fixed seed. Generated without sending anything: the same cases go to both sides.

Reads come first, then updates, then deletes, so a delete never hides what a read would show.
Identical requests are sent once. Each step is prepared once; both sides get the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

from mockserver.remote.report import WireRequest
from mockserver.spec import rules
from mockserver.spec.operations import DELETE, GET, INTEGRATION, LIST, LOOKUP, PATCH_V1, PATCH_V2

USER_AGENT = "mockserver-drift"
_BASE = "http://drift.invalid"  # only the path and query of a prepared step are kept
UNKNOWN_ID = "fffffffffffffffffffffff0"
MADE_UP_TOKEN = "mockserver-drift-made-up-token"
PROBE_EMAIL = "Drift.Probe@Drift-Check.Example"
SAMPLE_USERS = 10
GENERATED_PHASES = ("examples", "coverage", "fuzzing")



@dataclass
class Step:
    """One request, prepared once (``path`` is the path and query as sent)."""

    operation: str  # the spec's "METHOD /path/template" it exercises
    source: str  # "probe", "examples", "coverage" or "fuzzing"
    note: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None = None

    @property
    def phase(self) -> int:
        """0 reads, 1 updates, 2 deletes: the order the sequence keeps."""
        if self.method == "DELETE":
            return 2
        return 0 if self.method in ("GET", "HEAD", "OPTIONS") else 1

    def key(self) -> tuple:
        return (self.method, self.path, tuple(sorted(self.headers.items())), self.body)

    def prepared(self, origin: str) -> requests.PreparedRequest:
        request = requests.PreparedRequest()
        request.method = self.method
        request.url = origin + self.path
        request.headers = requests.structures.CaseInsensitiveDict(self.headers)
        request.body = self.body
        return request

    def wire(self, origin: str) -> WireRequest:
        return WireRequest(method=self.method, url=origin + self.path, headers=dict(self.headers), body=self.body)


def make_step(operation: str, source: str, note: str, method: str, url_path: str, *, headers: dict[str, str],
              params: Any = None, json_body: Any = None, data: Any = None, cookies: Any = None) -> Step:
    prepared = requests.Request(
        method=method, url=_BASE + url_path, headers=headers, params=params, json=json_body, data=data, cookies=cookies
    ).prepare()
    body = prepared.body.encode("utf-8") if isinstance(prepared.body, str) else prepared.body
    return Step(operation, source, note, method.upper(), prepared.path_url, dict(prepared.headers), body)


@dataclass
class Subject:
    """What the probes are built from: the customer, its users (by ``_id``) and the token."""

    customer_id: str
    users: list[dict[str, Any]]
    roles: list[str]
    token: str | None
    token_user: str | None = None  # the user the token is bound to, if known
    writable: list[str] = field(default_factory=list)  # users updates may change (--user-id), [] any

    def write_user(self) -> str | None:
        """The user updated and deleted: the first --user-id, else the last user not bound to the token."""
        if self.writable:
            return self.writable[0]
        candidates = [user["_id"] for user in self.users if user["_id"] != self.token_user]
        return candidates[-1] if candidates else None


def other_customer(customer_id: str) -> str:
    """An ObjectId that is not ``customer_id`` (its last digit changed): another customer."""
    return customer_id[:-1] + ("0" if customer_id[-1] != "0" else "1")


def probe_steps(subject: Subject) -> list[Step]:
    customer = subject.customer_id
    other = other_customer(customer)
    auth = {"Authorization": f"Bearer {subject.token}"} if subject.token else {}
    base = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    users_path = rules.users_path(customer)
    steps: list[Step] = []

    def add(operation, note, method, path, *, headers=None, **kwargs):
        steps.append(make_step(operation, "probe", note, method, path, headers={**base, **(auth if headers is None else headers)}, **kwargs))

    listing = {"integration": INTEGRATION}
    add(LIST, "the whole list", "GET", users_path, params=listing)
    first = subject.users[0] if subject.users else None
    if first is not None:
        name = " ".join(part for part in (first.get("firstName"), first.get("lastName")) if part)
        if name:
            add(LIST, "search by a user's name", "GET", users_path, params={**listing, "search": name})
            add(LIST, "search in other letter case", "GET", users_path, params={**listing, "search": name.swapcase()})
    add(LIST, "search that matches no one", "GET", users_path, params={**listing, "search": "zz-drift-no-such-user-zz"})
    for edge in rules.SEARCH_EDGE_VALUES:  # blank: everyone
        add(LIST, f"a blank search {edge!r}", "GET", users_path, params={**listing, "search": edge})
    titled = next((user["jobTitle"] for user in subject.users if isinstance(user.get("jobTitle"), str)
                   and len(user["jobTitle"].strip()) > 2), None)
    if titled:  # other fields are not searched
        add(LIST, "a job title (not a searched field)", "GET", users_path, params={**listing, "search": titled})
    add(LIST, "no integration parameter", "GET", users_path)
    add(LIST, "unknown integration", "GET", users_path, params={"integration": "not-an-integration"})
    add(LIST, "no token", "GET", users_path, params=listing, headers={})
    add(LIST, "a token no server issued", "GET", users_path, params=listing, headers={"Authorization": f"Bearer {MADE_UP_TOKEN}"})
    add(LIST, "another customer", "GET", rules.users_path(other), params=listing)
    add(LIST, "a malformed customer id", "GET", rules.users_path("not-an-id"), params=listing)

    sample = [user["_id"] for user in subject.users[:SAMPLE_USERS]]
    for extra in (subject.token_user, subject.write_user()):
        if extra and extra not in sample:
            sample.append(extra)
    for user_id in sample:
        add(GET, "a user", "GET", f"{users_path}/{user_id}")
    add(GET, "an unknown user", "GET", f"{users_path}/{UNKNOWN_ID}")
    add(GET, "a malformed user id", "GET", f"{users_path}/not-an-id")
    if sample:
        add(GET, "another customer's user", "GET", rules.user_path(other, sample[0]))
        add(GET, "no token", "GET", f"{users_path}/{sample[0]}", headers={})
        add(GET, "HEAD of a user", "HEAD", f"{users_path}/{sample[0]}")
        add(GET, "OPTIONS of a user", "OPTIONS", f"{users_path}/{sample[0]}")
    add(LOOKUP, "the token's identity", "GET", rules.lookup_path(customer))
    add(LOOKUP, "no token", "GET", rules.lookup_path(customer), headers={})
    add(LOOKUP, "another customer", "GET", rules.lookup_path(other))

    target = subject.write_user()
    if target is None:
        return steps
    user_path = rules.user_path(customer, target)
    v2_path = rules.user_path(customer, target, "v2")
    others = [user for user in subject.users if user["_id"] != target]
    add(PATCH_V1, "an update", "PATCH", user_path, json_body={"jobTitle": "Drift Probe"})
    add(PATCH_V2, "an update (v2)", "PATCH", v2_path, json_body={"nickname": "drift-probe"})
    add(PATCH_V1, "an empty update (updatedAt still moves)", "PATCH", user_path, json_body={})
    add(PATCH_V1, "an email in mixed case", "PATCH", user_path, json_body={"email": PROBE_EMAIL})
    if others and isinstance(others[0].get("email"), str):
        add(PATCH_V1, "another user's email, other case", "PATCH", user_path, json_body={"email": others[0]["email"].swapcase()})
    if subject.roles:
        add(PATCH_V1, "a role of the customer", "PATCH", user_path, json_body={"roleIds": subject.roles[:1]})
    add(PATCH_V1, "a role that does not exist", "PATCH", user_path, json_body={"roleIds": [UNKNOWN_ID]})
    add(PATCH_V1, "a valid change with an unknown role (changes nothing)", "PATCH", user_path,
        json_body={"jobTitle": "Drift Rejected", "roleIds": [UNKNOWN_ID]})
    add(PATCH_V1, "a delegation to itself", "PATCH", user_path, json_body={"delegateIds": [target]})
    if others:
        # To users before and after it in the list (ids on both sides of its own).
        add(PATCH_V1, "a delegation", "PATCH", user_path,
            json_body={"delegateIds": list(dict.fromkeys([others[0]["_id"], others[-1]["_id"]]))})
    add(PATCH_V2, "delegateIds in v2", "PATCH", v2_path, json_body={"delegateIds": []})
    add(PATCH_V1, "a null value", "PATCH", user_path, json_body={"firstName": None})
    add(PATCH_V1, "an unknown field", "PATCH", user_path, json_body={"notAField": "x"})
    add(PATCH_V1, "malformed JSON", "PATCH", user_path, data=b'{"jobTitle": ',
        headers={**auth, "Content-Type": "application/json"})
    add(PATCH_V1, "a text/plain body", "PATCH", user_path, data=b'{"jobTitle": "x"}',
        headers={**auth, "Content-Type": "text/plain"})
    add(PATCH_V1, "an unknown user", "PATCH", f"{users_path}/{UNKNOWN_ID}", json_body={"jobTitle": "x"})
    add(PATCH_V1, "another customer's user", "PATCH", rules.user_path(other, target),
        json_body={"jobTitle": "x"})
    add(GET, "the updated user", "GET", user_path)
    add(DELETE, "a malformed isForwarded", "DELETE", user_path, params={"isForwarded": "maybe"})
    add(DELETE, "another customer's user", "DELETE", rules.user_path(other, target))
    add(DELETE, "a delete", "DELETE", user_path, params={"isForwarded": "false"})
    add(GET, "the deleted user", "GET", user_path)
    add(DELETE, "the deleted user again", "DELETE", user_path)
    return steps


def generated_steps(schema, phases: Iterable[str], seed: int) -> Iterator[Step]:
    """The runner's Schemathesis cases for ``schema`` (from :func:`mockserver.contract.schema.load_schema`)."""
    from schemathesis.core.result import Ok
    from schemathesis.generation import overrides
    from schemathesis.generation.coverage import GenerationSession
    from schemathesis.generation.drivers import CoverageGenerator, ExamplesGenerator
    from schemathesis.generation.feedback import FeedbackSources
    from schemathesis.generation.hypothesis.reporting import ignore_hypothesis_output

    phases = tuple(phases)
    project = schema.config
    session = GenerationSession()
    with ignore_hypothesis_output():
        for result in schema.get_all_operations():
            if not isinstance(result, Ok):
                continue
            operation = result.ok()
            override = overrides.with_config_headers(project, operation=operation)
            feedback = FeedbackSources()
            sources: list[tuple[str, Iterable]] = []
            if "examples" in phases:
                fill = project.phases_for(operation=operation).examples.fill_missing
                sources.append(("examples", ExamplesGenerator(operation=operation, override=override,
                                                              feedback=feedback, fill_missing=fill)))
            if "coverage" in phases:
                generation = project.generation_for(operation=operation, phase="coverage")
                sources.append(("coverage", CoverageGenerator(
                    operation=operation, generation_modes=generation.modes, generation_config=generation,
                    auth_storage=None, override=override, feedback=feedback, session=session,
                )))
            if "fuzzing" in phases:
                sources.append(("fuzzing", _fuzzed(operation, project, override, seed)))
            for source, cases in sources:
                for case in cases:
                    step = _step_from_case(case, source)
                    if step is not None:
                        yield step


def _fuzzed(operation, project, override, seed: int) -> list:
    from schemathesis.generation.hypothesis.builder import HypothesisTestConfig, HypothesisTestMode, create_test

    cases: list = []

    def collect(case) -> None:
        cases.append(case)

    test = create_test(
        operation=operation,
        test_func=collect,
        config=HypothesisTestConfig(
            project=project,
            modes=[HypothesisTestMode.FUZZING],
            settings=project.get_hypothesis_settings(operation=operation, phase="fuzzing", apply_ci_profile=False),
            apply_ci_profile=False,
            seed=seed,
            override=override,
        ),
    )
    test()
    return cases


def _step_from_case(case, source: str) -> Step | None:
    kwargs = case.as_transport_kwargs(base_url=_BASE)
    headers = {
        name: str(value) for name, value in (kwargs.get("headers") or {}).items()
        if not name.lower().startswith("x-schemathesis") and name.lower() not in ("user-agent", "connection")
    }
    headers["User-Agent"] = USER_AGENT
    method = str(kwargs["method"]).upper()
    label = f"{case.operation.method.upper()} {case.operation.path}"
    operation = label if method == case.operation.method.upper() else f"{method} {case.operation.path}"
    try:
        prepared = requests.Request(
            method=method, url=kwargs["url"], headers=headers, params=kwargs.get("params"),
            json=kwargs.get("json"), data=kwargs.get("data"), cookies=kwargs.get("cookies"),
        ).prepare()
    except (ValueError, TypeError, requests.RequestException):
        return None  # a case requests itself cannot send (Schemathesis would not send it either)
    body = prepared.body.encode("utf-8") if isinstance(prepared.body, str) else prepared.body
    note = _describe_case(case)
    return Step(operation, source, note, method, prepared.path_url, dict(prepared.headers), body)


def _describe_case(case) -> str:
    meta = getattr(case, "meta", None)
    description = getattr(getattr(getattr(meta, "phase", None), "data", None), "description", None)
    if isinstance(description, str) and description:
        return description
    generation = getattr(meta, "generation", None)
    mode = getattr(getattr(generation, "mode", None), "value", None)
    return f"{mode} case" if mode else "generated case"


def ordered(steps: Iterable[Step]) -> list[Step]:
    """Reads, then updates, then deletes (each in the order given), identical requests once."""
    seen: set[tuple] = set()
    unique = []
    for step in steps:
        key = step.key()
        if key not in seen:
            seen.add(key)
            unique.append(step)
    return sorted(unique, key=lambda step: step.phase)  # sorted() is stable
