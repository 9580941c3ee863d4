"""Behavioural checks: what the answers *mean*, not only their shape.

Schemathesis checks each answer against the schema; no schema can say that a search for a user's
own name finds that user, that another customer's token never reads this customer's users, or that
a PATCH leaves the fields it did not send alone. These checks say it, from the source documents'
promises (see ``openapi/users.yaml``), using only the target and the run's credentials:

=====================  =========  ===============================================================
check                  sends      what it asserts
=====================  =========  ===============================================================
search_semantics       GET        every term of a search matches first name, last name, nickname or
                                  email, case-insensitively; a user's own name, email, nickname,
                                  a part of them, two terms, other letter cases find that user; a
                                  term nobody has finds nothing
tenant_scoping         GET        a list, a search and a get under customer C show only users of C
                                  (``customer._id``, ids of C's list); another customer's user is a
                                  404 under C
tenant_isolation       GET        another customer's token never reads C's list or users (needs
                                  ``--other-customer-id`` and ``--other-token``)
lookup_identity        GET        the identity lookup answers one of the token's own user's
                                  identities (needs ``--lookup-token`` and ``--lookup-user-id``)
update_timestamps      PATCH      ``createdAt`` never changes, ``updatedAt`` moves forward
partial_update         PATCH      fields not sent keep their values (answer and next read)
read_your_writes       PATCH      a field sent shows the new value on the next read
email_uniqueness       PATCH      another user's email, in any letter case, earns 409
delete_semantics       DELETE     a deleted user is gone from get, list, search and every other
                                  user's ``delegates``/``delegators``; a second delete is a 404
=====================  =========  ===============================================================

Write checks run only where the policy allows the method, on users the run may change, and those
users are restored afterwards (the runner restores ``--user-id`` users; the users picked on the
unrestricted local fake are snapshotted and restored here). A check that cannot run (missing
credential, method not allowed, not enough users) is reported as *not run*, never as passed.

Every request goes through the run's guarded ``requests`` session (the safety policy holds on the
wire); results land in the run's :class:`RunResult`, shown like Schemathesis' own checks.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from mockserver.contract.results import FailureRecord, RunResult, Tally, WireRequest, WireResponse
from mockserver.contract.user_facts import (
    customer_of,
    first_term,
    matches,
    mixed_terms,
    moment,
    no_match_term,
    related_ids,
    sample_users,
    short_json,
    terms_for,
    users_of,
    who,
)
from mockserver.remote.client import Client, user_path
from mockserver.remote.restore import restore_users, snapshot_users
from mockserver.spec.operations import DELETE, GET, INTEGRATION, LIST, LOOKUP, PATCH_V1, PATCH_V2

READ_CHECKS = ("search_semantics", "tenant_scoping", "tenant_isolation", "lookup_identity")
WRITE_CHECKS = ("update_timestamps", "partial_update", "read_your_writes", "email_uniqueness", "delete_semantics")
BEHAVIOUR_CHECKS = READ_CHECKS + WRITE_CHECKS

# Fields that legitimately change with a PATCH (besides the ones sent).
MOVING = frozenset({"updatedAt"})


@dataclass
class Credentials:
    """What the behavioural checks may use besides the run's main token."""

    other_customer_id: str | None = None
    other_token: str | None = None
    lookup_token: str | None = None
    lookup_user_id: str | None = None
    source: str = ""  # where they came from, for the header


@dataclass
class _Exchange:
    request: WireRequest
    response: WireResponse | None
    status: int | None
    body: Any


@dataclass
class Behaviour:
    """Runs the behavioural checks against ``client``'s origin and records them in ``result``."""

    client: Client
    result: RunResult
    customer_id: str
    policy: Any
    user_ids: tuple[str, ...]
    credentials: Credentials
    wanted: set[str]
    limiter: Any = None
    _picked: dict[str, dict] = field(default_factory=dict)
    unreadable: str = ""  # why a user picked to be changed could not be read first (then none is changed)
    _failure_keys: dict[tuple[str, str, str], FailureRecord] = field(default_factory=dict)

    # -- plumbing --------------------------------------------------------------------------

    def send(self, method: str, path: str, *, token: str | None = None, params=None, body=None) -> _Exchange:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = json.dumps(body).encode() if body is not None else None
        if data is not None:
            headers["Content-Type"] = "application/json"
        if self.limiter is not None:
            self.limiter.try_acquire(self.client.origin)
        request = requests.Request(method, self.client.origin + path, params=params, headers=headers, data=data)
        prepared = self.client.session.prepare_request(request)
        wire = WireRequest(method=method, url=prepared.url, headers=dict(prepared.headers), body=data)
        self.result.requests += 1
        try:
            response = self.client.send(prepared, allow_redirects=False)
        except requests.RequestException as error:
            return _Exchange(wire, None, None, f"{type(error).__name__}: {error}")
        self.result.statuses[response.status_code] += 1
        self.result.behaviour_requests += 1
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        answer = WireResponse(status=response.status_code, content_type=response.headers.get("Content-Type", ""),
                              body=response.content or b"")
        return _Exchange(wire, answer, response.status_code, parsed)

    def ok(self, check: str, label: str) -> None:
        self.result.tallies.setdefault((label, check), Tally()).passed += 1

    def fail(self, check: str, label: str, title: str, message: str, steps: list[_Exchange]) -> None:
        self.result.tallies.setdefault((label, check), Tally()).failed += 1
        key = (label, check, title)
        if key in self._failure_keys:
            self._failure_keys[key].count += 1
            return
        record = FailureRecord(operation=label, check=check, title=title, message=message,
                               steps=[step.request for step in steps], response=steps[-1].response if steps else None)
        self._failure_keys[key] = record
        self.result.failures.append(record)

    def expect(self, condition: bool, check: str, label: str, title: str, message: str, steps: list[_Exchange]) -> bool:
        if condition:
            self.ok(check, label)
        else:
            self.fail(check, label, title, message, steps)
        return condition

    def not_run(self, check: str, why: str) -> None:
        if check in self.wanted:
            self.result.not_run_checks[check] = why

    def needs(self, check: str, values: tuple, why: str) -> bool:
        """Whether every one of ``values`` (credentials) is there; if not, ``check`` is not run, for ``why``."""
        if all(values):
            return True
        self.not_run(check, why)
        return False

    def list_users(self, customer_id: str | None = None, *, token: str | None = None, search: str | None = None):
        params = {"integration": INTEGRATION}
        if search is not None:
            params["search"] = search
        return self.send("GET", f"/api/v1/customers/{customer_id or self.customer_id}/users", token=token, params=params)

    def get_user(self, user_id: str, *, customer_id: str | None = None, token: str | None = None):
        return self.send("GET", user_path(customer_id or self.customer_id, user_id), token=token)

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> None:
        listing = self.list_users()
        users = users_of(listing.body) if listing.status == 200 else None
        if users is None:
            for check in BEHAVIOUR_CHECKS:
                self.not_run(check, f"the list of customer {self.customer_id} could not be read "
                                    f"(GET answered {listing.status})")
            return
        sample = sample_users(users)
        if "search_semantics" in self.wanted:
            self.search_semantics(users, sample)
        if "tenant_scoping" in self.wanted:
            self.tenant_scoping(users, sample)
        if "tenant_isolation" in self.wanted:
            self.tenant_isolation(users)
        if "lookup_identity" in self.wanted:
            self.lookup_identity()
        try:
            self.write_checks(users)
        finally:
            if self._picked:
                restore_users(self.client, self.customer_id, self._picked)

    # -- read-only checks ------------------------------------------------------------------

    def search_semantics(self, users: list[dict], sample: list[dict]) -> None:
        check = "search_semantics"
        if not sample:
            self.not_run(check, "the customer has no users to search for")
            return
        ids = {user["_id"] for user in users}
        searches: list[tuple[str, dict | None]] = [(term, user) for user in sample for term in terms_for(user)]
        searches += [(term, None) for term in mixed_terms(sample)]
        for term, user in searches:
            answer = self.list_users(search=term)
            found = users_of(answer.body)
            if not self.expect(answer.status == 200 and found is not None, check, LIST, "Search not answered",
                               f"a search for {term!r} answered {answer.status}, not 200 with a list of users",
                               [answer]):
                continue
            found_ids = {u.get("_id") for u in found}
            if user is not None:
                self.expect(user["_id"] in found_ids, check, LIST, "Search misses a matching user",
                            f"user {user['_id']} ({who(user)}) matches the search {term!r} (every term is part "
                            f"of a first name, last name, nickname or email, letter case aside), but is not among "
                            f"the {len(found)} users found", [answer])
            missing = [u for u in users if matches(u, term) and u["_id"] not in found_ids]
            self.expect(not missing, check, LIST, "Search misses a matching user",
                        f"the search {term!r} did not find {len(missing)} user(s) of the list that match every "
                        "term: " + ", ".join(f"{u['_id']} ({who(u)})" for u in missing[:5]), [listing_hint(self), answer])
            wrong = [u for u in found if u.get("_id") in ids and not matches(u, term)]
            self.expect(not wrong, check, LIST, "Search finds a user who does not match",
                        f"the search {term!r} found {len(wrong)} user(s) matching none of first name, last name, "
                        f"nickname, email for some term: " + ", ".join(f"{u.get('_id')} ({who(u)})" for u in wrong[:5]),
                        [answer])
            strangers = [u.get("_id") for u in found if u.get("_id") not in ids]
            self.expect(not strangers, check, LIST, "Search finds users the list does not have",
                        f"the search {term!r} found ids not in the customer's list: {strangers[:5]}",
                        [listing_hint(self), answer])
        term = no_match_term(users)
        answer = self.list_users(search=term)
        found = users_of(answer.body)
        self.expect(answer.status == 200 and found == [], check, LIST, "Search for nothing finds something",
                    f"no user has {term!r} in a name, nickname or email, but the search answered {answer.status} "
                    f"with {len(found) if found is not None else 'no list of'} users", [answer])

    def tenant_scoping(self, users: list[dict], sample: list[dict]) -> None:
        check = "tenant_scoping"
        foreign = [u.get("_id") for u in users if customer_of(u) not in (None, self.customer_id)]
        listing = listing_hint(self)
        self.expect(not foreign, check, LIST, "List shows another customer's users",
                    f"the list of customer {self.customer_id} holds users whose customer._id is another customer: "
                    f"{foreign[:5]}", [listing])
        for user in sample:
            answer = self.get_user(user["_id"])
            body = answer.body if isinstance(answer.body, dict) else {}
            self.expect(answer.status == 200 and body.get("_id") == user["_id"]
                        and customer_of(body) in (None, self.customer_id), check, GET,
                        "Get shows another user or customer",
                        f"GET of user {user['_id']} of customer {self.customer_id} answered {answer.status} with "
                        f"_id {body.get('_id')!r}, customer._id {customer_of(body)!r}", [answer])
        if self.credentials.other_customer_id and self.credentials.other_token:
            other = self.list_users(self.credentials.other_customer_id, token=self.credentials.other_token)
            for stranger in (users_of(other.body) or [])[:3]:
                if stranger.get("_id") in {u["_id"] for u in users}:
                    continue
                answer = self.get_user(stranger["_id"])
                self.expect(answer.status == 404, check, GET, "Get under C shows another customer's user",
                            f"user {stranger['_id']} belongs to customer {self.credentials.other_customer_id}, but "
                            f"GET under customer {self.customer_id} answered {answer.status} (404 expected)",
                            [other, answer])

    def tenant_isolation(self, users: list[dict]) -> None:
        check = "tenant_isolation"
        other_id, token = self.credentials.other_customer_id, self.credentials.other_token
        if not self.needs(check, (other_id, token), "needs a second customer and a token of it: --other-customer-id "
                                                    "and --other-token / $MOCKSERVER_CONTRACT_OTHER_TOKEN"):
            return
        own = self.list_users(other_id, token=token)
        theirs = users_of(own.body) if own.status == 200 else None
        if theirs is None:
            self.not_run(check, f"the other token cannot read its own customer {other_id} "
                                f"(GET answered {own.status})")
            return
        ids = {u["_id"] for u in users}
        leaked = [u.get("_id") for u in theirs if u.get("_id") in ids or customer_of(u) == self.customer_id]
        self.expect(not leaked, check, LIST, "Another customer's list shows this customer's users",
                    f"the list of customer {other_id} holds users of customer {self.customer_id}: {leaked[:5]}", [own])
        # (operation, title, what the token did, the request): each must be refused.
        attempts = [
            (LIST, "Another customer's token reads the list", f"listed customer {self.customer_id}",
             lambda: self.list_users(token=token)),
            (LIST, "Another customer's token searches the list", f"searched customer {self.customer_id}",
             lambda: self.list_users(token=token, search=first_term(users))),
        ]
        attempts += [(GET, "Another customer's token reads a user",
                      f"read user {user['_id']} of customer {self.customer_id}",
                      lambda user=user: self.get_user(user["_id"], token=token)) for user in users[:2]]
        for label, title, did, attempt in attempts:
            answer = attempt()
            self.expect(answer.status in (401, 403, 404), check, label, title,
                        f"a token of customer {other_id} {did}: {answer.status} (403 or 404 expected)", [answer])

    def lookup_identity(self) -> None:
        check = "lookup_identity"
        token, user_id = self.credentials.lookup_token, self.credentials.lookup_user_id
        if not self.needs(check, (token, user_id), "needs a token bound to a user and that user's id: --lookup-token "
                                                   "/ $MOCKSERVER_CONTRACT_LOOKUP_TOKEN and --lookup-user-id"):
            return
        owner = self.get_user(user_id)
        if owner.status != 200 or not isinstance(owner.body, dict):
            self.not_run(check, f"--lookup-user-id {user_id} cannot be read (GET answered {owner.status})")
            return
        identities = [i for i in owner.body.get("identities") or [] if isinstance(i, dict)]
        answer = self.send("GET", f"/api/v1/customers/{self.customer_id}/users/lookup", token=token)
        if not identities:
            self.expect(answer.status == 404, check, LOOKUP, "Lookup invents an identity",
                        f"user {user_id} has no identity, but the lookup answered {answer.status} (404 expected)",
                        [owner, answer])
            return
        if not self.expect(answer.status == 200 and isinstance(answer.body, dict), check, LOOKUP,
                           "Lookup does not find the token's user",
                           f"the token's user {user_id} has {len(identities)} identities, but the lookup answered "
                           f"{answer.status}", [owner, answer]):
            return
        mine = {(i.get("type"), i.get("value")) for i in identities}
        got = (answer.body.get("type"), answer.body.get("value"))
        self.expect(got in mine, check, LOOKUP, "Lookup answers another user's identity",
                    f"the lookup answered {got[0]}:{got[1]}, which is not one of the token's user {user_id}'s "
                    f"identities ({', '.join(f'{t}:{v}' for t, v in sorted(mine, key=str))})", [owner, answer])

    # -- write checks ----------------------------------------------------------------------

    def _writable(self, users: list[dict], count: int, avoid: set[str]) -> list[str]:
        """Users the checks may change: the --user-id users, or (unrestricted fake) picked ones."""
        if not self.policy.unrestricted:
            return [u for u in self.user_ids if u not in avoid][:count]
        picked = []
        for user in reversed(users):
            if user["_id"] not in avoid and user["_id"] != self.credentials.lookup_user_id:
                picked.append(user["_id"])
            if len(picked) == count:
                break
        fresh = tuple(u for u in picked if u not in self._picked)
        if fresh:
            try:
                self._picked.update(snapshot_users(self.client, self.customer_id, fresh))
            except LookupError as unreadable:  # a listed user that cannot be read is never changed
                self.unreadable = str(unreadable)
                return []
        return picked

    def write_checks(self, users: list[dict]) -> None:
        patch_ok = self.policy.unrestricted or self.policy.allow_patch
        delete_ok = self.policy.unrestricted or self.policy.allow_delete
        patch_checks = ("update_timestamps", "partial_update", "read_your_writes", "email_uniqueness")
        if not patch_ok:
            for check in patch_checks:
                self.not_run(check, "it sends PATCH; writes are not allowed (--allow-writes --user-id ID)")
        if not delete_ok:
            self.not_run("delete_semantics", "it sends DELETE; deletes are not allowed (--allow-delete --user-id ID)")
        if patch_ok and self.wanted & set(patch_checks):
            targets = self._writable(users, 1, set())
            if not targets:
                for check in patch_checks:
                    self.not_run(check, self.unreadable or "no user may be changed (--user-id ID)")
            else:
                if self.wanted & {"update_timestamps", "partial_update", "read_your_writes"}:
                    self.update_checks(targets[0])
                if "email_uniqueness" in self.wanted:
                    self.email_uniqueness(targets[0], users)
        if delete_ok and "delete_semantics" in self.wanted:
            self.delete_semantics(users, patch_ok)

    def update_checks(self, user_id: str) -> None:
        before = self.get_user(user_id)
        if before.status != 200 or not isinstance(before.body, dict):
            for check in ("update_timestamps", "partial_update", "read_your_writes"):
                self.not_run(check, f"user {user_id} cannot be read (GET answered {before.status})")
            return
        current = before.body
        stamp = int(time.time() * 1000) % 100000
        for label, version, name, value in (
            (PATCH_V1, "v1", "jobTitle", f"Behaviour Check {stamp}"),
            (PATCH_V2, "v2", "department", f"Behaviour Dept {stamp}"),
        ):
            answer = self.send("PATCH", user_path(self.customer_id, user_id, version), body={name: value})
            if not self.expect(answer.status == 200 and isinstance(answer.body, dict), "read_your_writes", label,
                               "Update refused", f"PATCH {{{name!r}: {value!r}}} answered {answer.status}, not 200",
                               [before, answer]):
                continue
            after = self.get_user(user_id)
            for shown, what in ((answer, "the PATCH answer"), (after, "the next GET")):
                body = shown.body if isinstance(shown.body, dict) else {}
                steps = [before, answer] + ([after] if shown is after else [])
                self._timestamps(label, current, body, what, steps)
                changed = [k for k in sorted(set(current) | set(body))
                           if k not in MOVING and k != name and current.get(k) != body.get(k)]
                self.expect(not changed, "partial_update", label, "Fields not sent changed",
                            f"PATCH sent only {name}, but {what} shows other fields changed: "
                            + "; ".join(f"{k}: {short_json(current.get(k))} -> {short_json(body.get(k))}" for k in changed[:5]),
                            steps)
                if shown is after:
                    self.expect(after.status == 200 and body.get(name) == value, "read_your_writes", label,
                                "Write not visible on the next read",
                                f"PATCH set {name} to {value!r} (answered 200), but the next GET answered "
                                f"{after.status} with {name} {short_json(body.get(name))}", steps)
            if isinstance(after.body, dict) and after.status == 200:
                current = after.body
            else:
                current = {**current, name: value, "updatedAt": answer.body.get("updatedAt")}

    def _timestamps(self, label: str, before: dict, body: dict, what: str, steps: list[_Exchange]) -> None:
        check = "update_timestamps"
        self.expect(body.get("createdAt") == before.get("createdAt"), check, label, "createdAt changed",
                    f"createdAt was {before.get('createdAt')!r} before the PATCH, {what} shows "
                    f"{body.get('createdAt')!r}", steps)
        old, new = moment(before.get("updatedAt")), moment(body.get("updatedAt"))
        self.expect(old is not None and new is not None and new > old, check, label, "updatedAt did not move forward",
                    f"updatedAt was {before.get('updatedAt')!r} before the PATCH, {what} shows "
                    f"{body.get('updatedAt')!r} (it must be later)", steps)

    def email_uniqueness(self, user_id: str, users: list[dict]) -> None:
        check = "email_uniqueness"
        owner = next((u for u in users if u["_id"] != user_id and isinstance(u.get("email"), str)), None)
        if owner is None:
            self.not_run(check, "the customer has no second user whose email could clash")
            return
        for email in (owner["email"], owner["email"].upper(), owner["email"].swapcase()):
            answer = self.send("PATCH", user_path(self.customer_id, user_id), body={"email": email})
            self.expect(answer.status == 409, check, PATCH_V1, "Duplicate email accepted",
                        f"{email!r} is already the email of user {owner['_id']} (letter case aside), but PATCH of "
                        f"user {user_id} answered {answer.status} (409 expected)", [answer])

    def delete_semantics(self, users: list[dict], patch_ok: bool) -> None:
        check = "delete_semantics"
        delegator = None
        if self.policy.unrestricted:
            chosen = self._writable(users, 3, set())
            if len(chosen) < 3:
                self.not_run(check, self.unreadable or "the customer has too few users to delete one")
                return
            victim, delegator = chosen[2], chosen[1]
        else:
            allowed = [u for u in self.user_ids if self.policy.refusal("DELETE", self.client.origin
                                                                       + user_path(self.customer_id, u)) is None]
            if not allowed:
                self.not_run(check, "no user may be deleted (--allow-delete --user-id ID)")
                return
            victim = allowed[-1]
            others = [u for u in self.user_ids if u != victim]
            delegator = others[0] if others and patch_ok else None
        steps: list[_Exchange] = []
        if delegator is not None:
            link = self.send("PATCH", user_path(self.customer_id, delegator), body={"delegateIds": [victim]})
            steps.append(link)
            if link.status != 200:
                delegator = None
        victim_before = self.get_user(victim)
        email = victim_before.body.get("email") if isinstance(victim_before.body, dict) else None
        gone = self.send("DELETE", user_path(self.customer_id, victim))
        steps.append(gone)
        if not self.expect(gone.status == 200, check, DELETE, "Delete refused",
                           f"DELETE of user {victim} answered {gone.status}, not 200", steps):
            return
        answer = self.get_user(victim)
        self.expect(answer.status == 404, check, GET, "Deleted user still readable",
                    f"user {victim} was deleted, but GET answered {answer.status} (404 expected)", [*steps, answer])
        listing = self.list_users()
        remaining = users_of(listing.body) or []
        self.expect(all(u.get("_id") != victim for u in remaining), check, LIST, "Deleted user still listed",
                    f"user {victim} was deleted, but the list still holds it", [*steps, listing])
        stale = [u.get("_id") for u in remaining if victim in related_ids(u)]
        self.expect(not stale, check, LIST, "Deleted user still in delegations",
                    f"user {victim} was deleted, but the delegates/delegators of {stale[:5]} still name it",
                    [*steps, listing])
        if email:
            found = self.list_users(search=email)
            self.expect(all(u.get("_id") != victim for u in users_of(found.body) or []), check, LIST,
                        "Deleted user still found by search",
                        f"user {victim} was deleted, but a search for its email {email!r} still finds it",
                        [*steps, found])
        if delegator is not None:
            reread = self.get_user(delegator)
            self.expect(victim not in related_ids(reread.body if isinstance(reread.body, dict) else {}), check, GET,
                        "Deleted user still a delegate",
                        f"user {victim} was deleted, but user {delegator}'s delegates still name it",
                        [*steps, reread])
        again = self.send("DELETE", user_path(self.customer_id, victim))
        self.expect(again.status == 404, check, DELETE, "Second delete not a 404",
                    f"user {victim} was already deleted, but a second DELETE answered {again.status} (404 expected)",
                    [*steps, again])
        self._picked.pop(victim, None)


def listing_hint(behaviour: Behaviour) -> _Exchange:
    """The list request, for a reproduction (not sent again)."""
    path = f"/api/v1/customers/{behaviour.customer_id}/users"
    request = requests.Request("GET", behaviour.client.origin + path, params={"integration": INTEGRATION})
    prepared = behaviour.client.session.prepare_request(request)
    return _Exchange(WireRequest("GET", prepared.url, dict(prepared.headers), None), None, None, None)
