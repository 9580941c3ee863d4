"""Behavioural checks: what the answers *mean*, not only their shape.

Schemathesis checks each answer against the schema; no schema can say that a search for a user's
own name finds that user, that another customer's token never reads this customer's users, or that
a PATCH leaves the fields it did not send alone. These checks say it, from the source documents'
promises (see ``openapi/users.yaml``), using only the target and the run's credentials. Each is a
function registered with :func:`~mockserver.contract.behaviour_registry.behaviour_check` (its name,
what it sends, the credentials it needs, what it asserts: the table of ``docs/contract.md``).

Write checks run only where the policy allows the method, on users the run may change, and those
users are restored afterwards (the runner restores ``--user-id`` users; the users picked on the
unrestricted local fake are snapshotted and restored by the registry's runner). A check that cannot
run (missing credential, method not allowed, not enough users) is reported as *not run*, never as
passed.

Every request goes through the run's guarded ``requests`` session (the safety policy holds on the
wire); results land in the run's :class:`RunResult`, shown like Schemathesis' own checks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from mockserver.contract.behaviour_registry import (
    DELETE,
    READ_ONLY,
    WRITE,
    Behaviour,
    CheckNames,
    Context,
    Credentials,
    Exchange,
    NotRun,
    behaviour_check,
)
from mockserver.contract.user_facts import (
    customer_of,
    first_term,
    matches,
    mixed_terms,
    moment,
    no_match_term,
    related_ids,
    short_json,
    terms_for,
    users_of,
    who,
)
from mockserver.remote.client import user_path
from mockserver.spec.operations import DELETE as DELETE_OPERATION
from mockserver.spec.operations import GET, LIST, LOOKUP, PATCH_V1, PATCH_V2
from mockserver.spec.rules import lookup_path

__all__ = ["BEHAVIOUR_CHECKS", "READ_CHECKS", "WRITE_CHECKS", "Behaviour", "Credentials"]

# The registered checks' names, read from the registry each time (checks of other modules included).
BEHAVIOUR_CHECKS = CheckNames()
READ_CHECKS = CheckNames(READ_ONLY)
WRITE_CHECKS = CheckNames(WRITE, DELETE)

# Fields that legitimately change with a PATCH (besides the ones sent).
MOVING = frozenset({"updatedAt"})


# -- read-only checks ----------------------------------------------------------------------------------


@behaviour_check(name="search_semantics", sends=READ_ONLY, asserts=(
    "every term matches first name, last name, nickname or email, letter case aside; a user's own name, email, "
    "nickname, a part, the first or last three characters of a field, two terms or another letter case finds that "
    "user; the results are exactly the list's users that match; a term nobody has finds nothing"))
def search_semantics(ctx: Context) -> None:
    check, users = "search_semantics", ctx.users
    if not ctx.sample:
        raise NotRun("the customer has no users to search for")
    ids = {user["_id"] for user in users}
    searches: list[tuple[str, dict | None]] = [(term, user) for user in ctx.sample for term in terms_for(user)]
    searches += [(term, None) for term in mixed_terms(ctx.sample)]
    for term, user in searches:
        answer = ctx.list_users(search=term)
        found = users_of(answer.body)
        if not ctx.expect(answer.status == 200 and found is not None, check, LIST, "Search not answered",
                          f"a search for {term!r} answered {answer.status}, not 200 with a list of users", [answer]):
            continue
        found_ids = {u.get("_id") for u in found}
        if user is not None:
            ctx.expect(user["_id"] in found_ids, check, LIST, "Search misses a matching user",
                       f"user {user['_id']} ({who(user)}) matches the search {term!r} (every term is part "
                       f"of a first name, last name, nickname or email, letter case aside), but is not among "
                       f"the {len(found)} users found", [answer])
        missing = [u for u in users if matches(u, term) and u["_id"] not in found_ids]
        ctx.expect(not missing, check, LIST, "Search misses a matching user",
                   f"the search {term!r} did not find {len(missing)} user(s) of the list that match every "
                   "term: " + ", ".join(f"{u['_id']} ({who(u)})" for u in missing[:5]), [ctx.listing_hint(), answer])
        wrong = [u for u in found if u.get("_id") in ids and not matches(u, term)]
        ctx.expect(not wrong, check, LIST, "Search finds a user who does not match",
                   f"the search {term!r} found {len(wrong)} user(s) matching none of first name, last name, "
                   f"nickname, email for some term: " + ", ".join(f"{u.get('_id')} ({who(u)})" for u in wrong[:5]),
                   [answer])
        strangers = [u.get("_id") for u in found if u.get("_id") not in ids]
        ctx.expect(not strangers, check, LIST, "Search finds users the list does not have",
                   f"the search {term!r} found ids not in the customer's list: {strangers[:5]}",
                   [ctx.listing_hint(), answer])
    term = no_match_term(users)
    answer = ctx.list_users(search=term)
    found = users_of(answer.body)
    ctx.expect(answer.status == 200 and found == [], check, LIST, "Search for nothing finds something",
               f"no user has {term!r} in a name, nickname or email, but the search answered {answer.status} "
               f"with {len(found) if found is not None else 'no list of'} users", [answer])


@behaviour_check(name="tenant_scoping", sends=READ_ONLY, asserts=(
    "list, search and get under customer C show only C's users (`customer._id`); another customer's user is a "
    "404 under C"))
def tenant_scoping(ctx: Context) -> None:
    check, users = "tenant_scoping", ctx.users
    foreign = [u.get("_id") for u in users if customer_of(u) not in (None, ctx.customer_id)]
    ctx.expect(not foreign, check, LIST, "List shows another customer's users",
               f"the list of customer {ctx.customer_id} holds users whose customer._id is another customer: "
               f"{foreign[:5]}", [ctx.listing_hint()])
    for user in ctx.sample:
        answer = ctx.get_user(user["_id"])
        body = answer.body if isinstance(answer.body, dict) else {}
        ctx.expect(answer.status == 200 and body.get("_id") == user["_id"]
                   and customer_of(body) in (None, ctx.customer_id), check, GET,
                   "Get shows another user or customer",
                   f"GET of user {user['_id']} of customer {ctx.customer_id} answered {answer.status} with "
                   f"_id {body.get('_id')!r}, customer._id {customer_of(body)!r}", [answer])
    other_id, token = ctx.credentials.other_customer_id, ctx.credentials.other_token
    if other_id and token:  # the cross-customer part, when a second customer is known
        other = ctx.list_users(other_id, token=token)
        for stranger in (users_of(other.body) or [])[:3]:
            if stranger.get("_id") in {u["_id"] for u in users}:
                continue
            answer = ctx.get_user(stranger["_id"])
            ctx.expect(answer.status == 404, check, GET, "Get under C shows another customer's user",
                       f"user {stranger['_id']} belongs to customer {other_id}, but "
                       f"GET under customer {ctx.customer_id} answered {answer.status} (404 expected)",
                       [other, answer])


@behaviour_check(name="tenant_isolation", sends=READ_ONLY, needs=("other_customer",),
                 asserts="another customer's token never lists, searches or reads C's users")
def tenant_isolation(ctx: Context) -> None:
    check, users = "tenant_isolation", ctx.users
    other_id, token = ctx.credentials.other_customer_id, ctx.credentials.other_token
    own = ctx.list_users(other_id, token=token)
    theirs = users_of(own.body) if own.status == 200 else None
    if theirs is None:
        raise NotRun(f"the other token cannot read its own customer {other_id} (GET answered {own.status})")
    ids = {u["_id"] for u in users}
    leaked = [u.get("_id") for u in theirs if u.get("_id") in ids or customer_of(u) == ctx.customer_id]
    ctx.expect(not leaked, check, LIST, "Another customer's list shows this customer's users",
               f"the list of customer {other_id} holds users of customer {ctx.customer_id}: {leaked[:5]}", [own])
    # (operation, title, what the token did, the request): each must be refused.
    attempts = [
        (LIST, "Another customer's token reads the list", f"listed customer {ctx.customer_id}",
         lambda: ctx.list_users(token=token)),
        (LIST, "Another customer's token searches the list", f"searched customer {ctx.customer_id}",
         lambda: ctx.list_users(token=token, search=first_term(users))),
    ]
    attempts += [(GET, "Another customer's token reads a user", f"read user {user['_id']} of customer {ctx.customer_id}",
                  lambda user=user: ctx.get_user(user["_id"], token=token)) for user in users[:2]]
    for label, title, did, attempt in attempts:
        answer = attempt()
        ctx.expect(answer.status in (401, 403, 404), check, label, title,
                   f"a token of customer {other_id} {did}: {answer.status} (403 or 404 expected)", [answer])


@behaviour_check(name="lookup_identity", sends=READ_ONLY, needs=("lookup_user",),
                 asserts="the lookup answers one of the token's own user's identities")
def lookup_identity(ctx: Context) -> None:
    check = "lookup_identity"
    token, user_id = ctx.credentials.lookup_token, ctx.credentials.lookup_user_id
    owner = ctx.get_user(user_id)
    if owner.status != 200 or not isinstance(owner.body, dict):
        raise NotRun(f"--lookup-user-id {user_id} cannot be read (GET answered {owner.status})")
    identities = [i for i in owner.body.get("identities") or [] if isinstance(i, dict)]
    answer = ctx.send("GET", lookup_path(ctx.customer_id), token=token)
    if not identities:
        ctx.expect(answer.status == 404, check, LOOKUP, "Lookup invents an identity",
                   f"user {user_id} has no identity, but the lookup answered {answer.status} (404 expected)",
                   [owner, answer])
        return
    if not ctx.expect(answer.status == 200 and isinstance(answer.body, dict), check, LOOKUP,
                      "Lookup does not find the token's user",
                      f"the token's user {user_id} has {len(identities)} identities, but the lookup answered "
                      f"{answer.status}", [owner, answer]):
        return
    mine = {(i.get("type"), i.get("value")) for i in identities}
    got = (answer.body.get("type"), answer.body.get("value"))
    ctx.expect(got in mine, check, LOOKUP, "Lookup answers another user's identity",
               f"the lookup answered {got[0]}:{got[1]}, which is not one of the token's user {user_id}'s "
               f"identities ({', '.join(f'{t}:{v}' for t, v in sorted(mine, key=str))})", [owner, answer])


# -- write checks: one sequence of updates, made once, judged by three checks ------------------------------


@dataclass
class Update:
    """One PATCH of the shared sequence: what the user was before, what was sent, the answer and the next GET
    (None when the PATCH was refused)."""

    label: str
    name: str
    value: str
    current: dict
    before: Exchange
    answer: Exchange
    after: Exchange | None


def patch_target(ctx: Context) -> str:
    """The user the PATCH checks change (the same one for all of them)."""
    def pick() -> str:
        targets = ctx.writable(1)
        if not targets:
            raise NotRun(ctx.unreadable or "no user may be changed (--user-id ID)")
        return targets[0]

    return ctx.shared("patch_target", pick)


def updates(ctx: Context) -> list[Update]:
    """A v1 PATCH of ``jobTitle`` and a v2 PATCH of ``department``, each followed by a GET: sent once for
    ``update_timestamps``, ``partial_update`` and ``read_your_writes``."""
    def send() -> list[Update]:
        user_id = patch_target(ctx)
        before = ctx.get_user(user_id)
        if before.status != 200 or not isinstance(before.body, dict):
            raise NotRun(f"user {user_id} cannot be read (GET answered {before.status})")
        current, made = before.body, []
        stamp = int(time.time() * 1000) % 100000
        for label, version, name, value in ((PATCH_V1, "v1", "jobTitle", f"Behaviour Check {stamp}"),
                                            (PATCH_V2, "v2", "department", f"Behaviour Dept {stamp}")):
            answer = ctx.send("PATCH", user_path(ctx.customer_id, user_id, version), body={name: value})
            if answer.status != 200 or not isinstance(answer.body, dict):
                made.append(Update(label, name, value, current, before, answer, None))
                continue
            after = ctx.get_user(user_id)
            made.append(Update(label, name, value, current, before, answer, after))
            if isinstance(after.body, dict) and after.status == 200:
                current = after.body
            else:
                current = {**current, name: value, "updatedAt": answer.body.get("updatedAt")}
        return made

    return ctx.shared("updates", send)


def _shown(update: Update) -> list[tuple[Exchange, str, dict, list[Exchange]]]:
    """(exchange, what it is, its body, the steps to reproduce it) for the PATCH answer and the next GET."""
    shown = []
    for exchange, what in ((update.answer, "the PATCH answer"), (update.after, "the next GET")):
        body = exchange.body if isinstance(exchange.body, dict) else {}
        steps = [update.before, update.answer] + ([update.after] if exchange is update.after else [])
        shown.append((exchange, what, body, steps))
    return shown


@behaviour_check(name="update_timestamps", sends=WRITE,
                 asserts="`createdAt` never changes; `updatedAt` moves forward on every update (v1 and v2)")
def update_timestamps(ctx: Context) -> None:
    check = "update_timestamps"
    for update in updates(ctx):
        if update.after is None:
            continue
        before = update.current
        for _exchange, what, body, steps in _shown(update):
            ctx.expect(body.get("createdAt") == before.get("createdAt"), check, update.label, "createdAt changed",
                       f"createdAt was {before.get('createdAt')!r} before the PATCH, {what} shows "
                       f"{body.get('createdAt')!r}", steps)
            old, new = moment(before.get("updatedAt")), moment(body.get("updatedAt"))
            ctx.expect(old is not None and new is not None and new > old, check, update.label,
                       "updatedAt did not move forward",
                       f"updatedAt was {before.get('updatedAt')!r} before the PATCH, {what} shows "
                       f"{body.get('updatedAt')!r} (it must be later)", steps)


@behaviour_check(name="partial_update", sends=WRITE,
                 asserts="fields not sent keep their values, in the answer and on the next read")
def partial_update(ctx: Context) -> None:
    for update in updates(ctx):
        if update.after is None:
            continue
        current = update.current
        for _exchange, what, body, steps in _shown(update):
            changed = [k for k in sorted(set(current) | set(body))
                       if k not in MOVING and k != update.name and current.get(k) != body.get(k)]
            ctx.expect(not changed, "partial_update", update.label, "Fields not sent changed",
                       f"PATCH sent only {update.name}, but {what} shows other fields changed: "
                       + "; ".join(f"{k}: {short_json(current.get(k))} -> {short_json(body.get(k))}"
                                   for k in changed[:5]), steps)


@behaviour_check(name="read_your_writes", sends=WRITE, asserts="a field sent shows the new value on the next read")
def read_your_writes(ctx: Context) -> None:
    check = "read_your_writes"
    for update in updates(ctx):
        name, value, answer = update.name, update.value, update.answer
        if not ctx.expect(update.after is not None, check, update.label, "Update refused",
                          f"PATCH {{{name!r}: {value!r}}} answered {answer.status}, not 200", [update.before, answer]):
            continue
        after = update.after
        body = after.body if isinstance(after.body, dict) else {}
        ctx.expect(after.status == 200 and body.get(name) == value, check, update.label,
                   "Write not visible on the next read",
                   f"PATCH set {name} to {value!r} (answered 200), but the next GET answered "
                   f"{after.status} with {name} {short_json(body.get(name))}", [update.before, answer, after])


@behaviour_check(name="email_uniqueness", sends=WRITE, asserts=(
    "another user's email, in any letter case, earns 409 (a user before and one after it in the list); the "
    "user's own email in another letter case is no clash (200, stored as sent)"))
def email_uniqueness(ctx: Context) -> None:
    check = "email_uniqueness"
    user_id = patch_target(ctx)
    others = [u for u in ctx.users if u["_id"] != user_id and isinstance(u.get("email"), str)]
    owners = [u for u in (next((u for u in others if u["_id"] < user_id), None),
                          next((u for u in others if u["_id"] > user_id), None)) if u is not None]
    if not owners:
        raise NotRun("the customer has no second user whose email could clash")
    for owner in owners:
        for email in (owner["email"], owner["email"].upper(), owner["email"].swapcase()):
            answer = ctx.send("PATCH", user_path(ctx.customer_id, user_id), body={"email": email})
            ctx.expect(answer.status == 409, check, PATCH_V1, "Duplicate email accepted",
                       f"{email!r} is already the email of user {owner['_id']} (letter case aside), but PATCH of "
                       f"user {user_id} answered {answer.status} (409 expected)", [answer])
    own = next((u.get("email") for u in ctx.users if u["_id"] == user_id), None)
    if isinstance(own, str) and own.swapcase() != own:
        for email in (own.swapcase(), own):  # then back as it was
            answer = ctx.send("PATCH", user_path(ctx.customer_id, user_id), body={"email": email})
            body = answer.body if isinstance(answer.body, dict) else {}
            ctx.expect(answer.status == 200 and body.get("email") == email, check, PATCH_V1,
                       "Own email refused",
                       f"{email!r} is user {user_id}'s own email (letter case aside), but PATCH answered "
                       f"{answer.status} with email {body.get('email')!r} (200 with the email as sent expected)",
                       [answer])


@behaviour_check(name="relations", sends=WRITE, asserts=(
    "`delegateIds` (a user nobody delegates to yet and one somebody does, one of them twice) come back once each "
    "as `delegates`, on the answer and the next read, and each delegate shows the user in `delegators`; the user's "
    "own `roleIds`, one twice, come back once each as `roles`"))
def relations(ctx: Context) -> None:
    check = "relations"
    user_id = patch_target(ctx)
    others = [u for u in ctx.users if u["_id"] != user_id]
    shows_delegators = any(isinstance(u.get("delegators"), list) for u in ctx.users)
    fresh = next((u["_id"] for u in others if not u.get("delegators")), None)
    held = next((u["_id"] for u in reversed(others)
                 if u.get("delegators") and u["_id"] != fresh and user_id not in _ids(u, "delegators")), None)
    delegates = [d for d in (fresh, held) if d is not None] or [u["_id"] for u in others[-1:]]
    if not delegates:
        raise NotRun("the customer has no second user to delegate to")
    before = ctx.get_user(user_id)
    if before.status != 200 or not isinstance(before.body, dict):
        raise NotRun(f"user {user_id} cannot be read (GET answered {before.status})")
    # The user's own roles only: a check never gives a user of the deployment a role it did not have.
    roles = list(dict.fromkeys(_ids(before.body, "roles")))
    body: dict[str, Any] = {"delegateIds": [*delegates, delegates[0]]}
    if roles:
        body["roleIds"] = [*roles, roles[0]]
    answer = ctx.send("PATCH", user_path(ctx.customer_id, user_id), body=body)
    sent = f"PATCH of user {user_id} with {short_json(body)}"
    if not ctx.expect(answer.status == 200, check, PATCH_V1, "Relations refused",
                      f"{sent} (users and roles of the customer) answered {answer.status}, not 200", [before, answer]):
        return
    after = ctx.get_user(user_id)
    for shown, what, steps in ((answer, "the PATCH answer", [before, answer]),
                               (after, "the next GET", [before, answer, after])):
        got = shown.body if isinstance(shown.body, dict) else {}
        for field, wanted in (("delegates", delegates), ("roles", roles if roles else None)):
            if wanted is None:
                continue
            ids = _ids(got, field)
            ctx.expect(shown.status == 200 and sorted(ids) == sorted(wanted), check,
                       PATCH_V1 if shown is answer else GET, f"{field.capitalize()} not as sent",
                       f"{sent}: {what} answered {shown.status} with {field} {ids} (each of {wanted} once expected)",
                       steps)
    if not shows_delegators:
        return  # the deployment's users carry no `delegators` (an optional field)
    for delegate in delegates:
        seen = ctx.get_user(delegate)
        ids = _ids(seen.body if isinstance(seen.body, dict) else {}, "delegators")
        ctx.expect(seen.status == 200 and ids.count(user_id) == 1, check, GET, "Delegation not shown as delegator",
                   f"user {user_id} delegates to {delegate} (PATCH answered 200), but GET of {delegate} answered "
                   f"{seen.status} with delegators {ids} ({user_id} expected once)", [answer, seen])


def _ids(user: dict, field: str) -> list[str]:
    return [item["_id"] for item in user.get(field) or [] if isinstance(item, dict) and isinstance(item.get("_id"), str)]


@behaviour_check(name="delete_semantics", sends=DELETE, asserts=(
    "two users delegating to each other each show the other in `delegates` and in `delegators`; the deleted user "
    "is then gone from get, list, search and every other user's `delegates`/`delegators`; a second delete is a 404"))
def delete_semantics(ctx: Context) -> None:
    check = "delete_semantics"
    victim, delegator = _victim(ctx)
    steps: list[Exchange] = []
    if delegator is not None:
        # Both ways: the delegator delegates to the victim, and the victim to the delegator.
        link = ctx.send("PATCH", user_path(ctx.customer_id, delegator), body={"delegateIds": [victim]})
        back = ctx.send("PATCH", user_path(ctx.customer_id, victim), body={"delegateIds": [delegator]})
        steps += [link, back]
        for sent, who, to in ((link, delegator, victim), (back, victim, delegator)):
            ctx.expect(sent.status == 200, check, PATCH_V1, "Delegation refused",
                       f"PATCH of user {who} with delegateIds [{to}] (another user of the customer) answered "
                       f"{sent.status}, not 200", [sent])
        if link.status != 200 or back.status != 200:
            delegator = None
    if delegator is not None:  # a delegation shows on both users: delegates one way, delegators the other
        for one, other in ((delegator, victim), (victim, delegator)):
            seen = ctx.get_user(one)
            body = seen.body if isinstance(seen.body, dict) else {}
            shown = {name: [item.get("_id") for item in body.get(name) or [] if isinstance(item, dict)]
                     for name in ("delegates", "delegators")}
            ctx.expect(seen.status == 200 and all(other in ids for ids in shown.values()), check, GET,
                       "Delegation not shown both ways",
                       f"users {delegator} and {victim} delegate to each other, but GET of {one} answered "
                       f"{seen.status} with delegates {shown['delegates']} and delegators {shown['delegators']} "
                       f"({other} expected in both)", [*steps, seen])
    victim_before = ctx.get_user(victim)
    email = victim_before.body.get("email") if isinstance(victim_before.body, dict) else None
    gone = ctx.send("DELETE", user_path(ctx.customer_id, victim))
    steps.append(gone)
    if not ctx.expect(gone.status == 200, check, DELETE_OPERATION, "Delete refused",
                      f"DELETE of user {victim} answered {gone.status}, not 200", steps):
        return
    answer = ctx.get_user(victim)
    ctx.expect(answer.status == 404, check, GET, "Deleted user still readable",
               f"user {victim} was deleted, but GET answered {answer.status} (404 expected)", [*steps, answer])
    listing = ctx.list_users()
    remaining = users_of(listing.body)
    if not ctx.expect(listing.status == 200 and remaining is not None, check, LIST, "List fails after a delete",
                      f"after user {victim} was deleted the list answered {listing.status}, not 200 with users",
                      [*steps, listing]):
        remaining = []
    ctx.expect(all(u.get("_id") != victim for u in remaining), check, LIST, "Deleted user still listed",
               f"user {victim} was deleted, but the list still holds it", [*steps, listing])
    stale = [u.get("_id") for u in remaining if victim in related_ids(u)]
    ctx.expect(not stale, check, LIST, "Deleted user still in delegations",
               f"user {victim} was deleted, but the delegates/delegators of {stale[:5]} still name it",
               [*steps, listing])
    if email:
        found = ctx.list_users(search=email)
        ctx.expect(all(u.get("_id") != victim for u in users_of(found.body) or []), check, LIST,
                   "Deleted user still found by search",
                   f"user {victim} was deleted, but a search for its email {email!r} still finds it", [*steps, found])
    if delegator is not None:
        reread = ctx.get_user(delegator)
        ctx.expect(reread.status == 200 and isinstance(reread.body, dict) and victim not in related_ids(reread.body),
                   check, GET, "Deleted user still a delegate",
                   f"user {victim} was deleted; user {delegator} (its delegate and delegator) answered "
                   f"{reread.status}, naming it in delegates/delegators: "
                   f"{victim in related_ids(reread.body if isinstance(reread.body, dict) else {})}", [*steps, reread])
    again = ctx.send("DELETE", user_path(ctx.customer_id, victim))
    ctx.expect(again.status == 404, check, DELETE_OPERATION, "Second delete not a 404",
               f"user {victim} was already deleted, but a second DELETE answered {again.status} (404 expected)",
               [*steps, again])
    ctx.picked.pop(victim, None)


def _victim(ctx: Context) -> tuple[str, Any]:
    """The user to delete and (where PATCH is allowed) one to make its delegate and delegator first."""
    if ctx.policy.unrestricted:
        chosen = ctx.writable(3)
        if len(chosen) < 3:
            raise NotRun(ctx.unreadable or "the customer has too few users to delete one")
        return chosen[2], chosen[1]
    allowed = [u for u in ctx.user_ids
               if ctx.policy.refusal("DELETE", ctx.client.origin + user_path(ctx.customer_id, u)) is None]
    if not allowed:
        raise NotRun("no user may be deleted (--allow-delete --user-id ID)")
    victim = allowed[-1]
    others = [u for u in ctx.user_ids if u != victim]
    return victim, (others[0] if others and ctx.allows(WRITE) else None)
