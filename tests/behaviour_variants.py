"""Deployments that answer in the schema's shape but *behave* wrongly: the fake behind a reverse
proxy (an ASGI middleware, :class:`tests.contract_variants.Breaker`) that changes one documented
behaviour. The fake's code is untouched.

``BEHAVIOUR_VARIANTS`` maps a name to a builder, the behavioural check of ``mockserver contract``
that must name it, and the words ``mockserver drift`` must report for it (None: drift is not
expected to see it, e.g. it needs a second customer's token).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.contract_variants import LIST_PATH, Answer, Breaker, Exchange
from tests.support import fresh_fake

ACME = "6500000000000000000000a1"
BIRCH = "6500000000000000000000b2"
USER = re.compile(r"^/api/v[12]/customers/(?P<customer>[0-9a-f]{24})/users/(?P<user>[0-9a-f]{24})/?$")
LOOKUP = re.compile(r"^/api/v1/customers/[0-9a-f]{24}/users/lookup/?$")
FIELDS = ("firstName", "lastName", "nickname", "email")


def _json_ok(answer: Answer) -> bool:
    return answer.status == 200 and answer.content_type().startswith(b"application/json") and bool(answer.body)


def _token(exchange: Exchange) -> str:
    value = (exchange.header(b"authorization") or b"").decode("latin-1")
    return value.split(" ", 1)[1] if " " in value else ""


def _set_token(exchange: Exchange, token: str) -> None:
    headers = [(k, v) for k, v in exchange.scope["headers"] if k != b"authorization"]
    headers.append((b"authorization", f"Bearer {token}".encode()))
    exchange.scope = {**exchange.scope, "headers": headers}


def _set_path(exchange: Exchange, path: str) -> None:
    exchange.scope = {**exchange.scope, "path": path, "raw_path": path.encode()}


def _text(user: dict, name: str) -> str:
    value = user.get(name)
    return value if isinstance(value, str) else ""


# -- search: the proxy takes the whole list from the fake and filters it itself -------------------


def _search_variant(matches: Callable[[dict, list[str]], bool]):
    """The list's ``search`` answered by ``matches(user, terms)`` instead of the documented rule."""
    app, _store = fresh_fake()

    def before(exchange):
        if exchange.method == "GET" and LIST_PATH.match(exchange.path):
            pairs = exchange.query()
            search = [v for k, v in pairs if k == "search"]
            exchange.set_query([(k, v) for k, v in pairs if k != "search"])
            exchange.scope["mock.search"] = search[-1] if search else None
        return None

    def after(exchange, answer):
        search = exchange.scope.get("mock.search")
        if search is None or not search.strip() or exchange.method != "GET" or not _json_ok(answer):
            return
        users = answer.json()
        answer.set_json([u for u in users if matches(u, search.split())])

    return Breaker(app, before=before, after=after)


def _documented(user: dict, terms: list[str], fields=FIELDS, fold=True) -> bool:
    def norm(text):
        return text.casefold() if fold else text

    return all(any(norm(t) in norm(_text(user, f)) for f in fields) for t in terms)


def search_case_sensitive():
    """Search compares letter case: ``JANE`` no longer finds Jane."""
    return _search_variant(lambda user, terms: _documented(user, terms, fold=False))


def search_first_term_only():
    """Only the first term of a search is used: ``jane okafor`` finds Jane Doe."""
    return _search_variant(lambda user, terms: _documented(user, terms[:1]))


def search_any_term():
    """A user matching any one term is found (OR instead of AND)."""
    return _search_variant(lambda user, terms: any(_documented(user, [t]) for t in terms))


def search_ignores_email():
    """The email is not searched."""
    return _search_variant(lambda user, terms: _documented(user, terms, fields=("firstName", "lastName", "nickname")))


def search_ignores_nickname():
    """The nickname is not searched."""
    return _search_variant(lambda user, terms: _documented(user, terms, fields=("firstName", "lastName", "email")))


def search_prefix_only():
    """A term must start a field (``oka`` no longer finds Okafor; a part in the middle fails)."""
    return _search_variant(
        lambda user, terms: all(any(_text(user, f).casefold().startswith(t.casefold()) for f in FIELDS) for t in terms))


def search_nothing_is_everything():
    """A search nobody matches answers every user instead of none."""
    inner = _search_variant(lambda user, terms: _documented(user, terms))
    original_after = inner.after

    def after(exchange, answer):
        full = answer.json() if exchange.method == "GET" and _json_ok(answer) else None
        original_after(exchange, answer)
        if full is not None and _json_ok(answer) and answer.json() == []:
            answer.set_json(full)

    inner.after = after
    return inner


# -- tenancy --------------------------------------------------------------------------------------


def tenant_list_leak():
    """Customer A's list also holds a user of customer B (schema-valid: B's own record)."""
    app, _ = fresh_fake()

    def after(exchange, answer):
        if exchange.method == "GET" and LIST_PATH.match(exchange.path) and ACME in exchange.path and _json_ok(answer):
            if "search=" not in exchange.scope.get("query_string", b"").decode():
                users = answer.json()
                if users:
                    stranger = copy.deepcopy(users[0])
                    stranger.update({"_id": "6500000000000000000002b6", "firstName": "Marcus", "lastName": "Bell",
                                     "email": "marcus.bell@birchstone.example", "nickname": "",
                                     "customer": {"_id": BIRCH, "fullName": "Birch & Stone LLP"}})
                    stranger.pop("identities", None)
                    answer.set_json(users + [stranger])

    return Breaker(app, after=after)


def tenant_get_any_customer():
    """A get under customer A finds users of any customer."""
    app, _ = fresh_fake()

    def before(exchange):
        match = USER.match(exchange.path)
        if exchange.method == "GET" and match and match["customer"] == ACME and match["user"].endswith(tuple(
                f"2b{i}" for i in range(1, 7))):
            _set_path(exchange, exchange.path.replace(ACME, BIRCH))
            _set_token(exchange, "multi-admin-token")
        return None

    return Breaker(app, before=before)


def tenant_token_crosses_customers():
    """Customer B's token reads customer A's users (as if the customer in the token were not checked)."""
    app, _ = fresh_fake()

    def before(exchange):
        if _token(exchange) == "birch-admin-token" and f"/customers/{ACME}/" in exchange.path + "/":
            _set_token(exchange, "acme-admin-token")
        return None

    return Breaker(app, before=before)


# -- lookup ---------------------------------------------------------------------------------------


def lookup_wrong_user():
    """The lookup answers another user's identity (always the first user with one that is not Jane)."""
    app, _ = fresh_fake()

    def after(exchange, answer):
        if exchange.method == "GET" and LOOKUP.match(exchange.path) and _json_ok(answer):
            answer.set_json({"type": "aderant", "value": "AD-1001"})

    return Breaker(app, after=after)


# -- updates --------------------------------------------------------------------------------------


def _rewrite_users(exchange: Exchange, answer: Answer, change: Callable[[dict], None]) -> None:
    if not _json_ok(answer):
        return
    try:
        document = answer.json()
    except ValueError:
        return
    users = document if isinstance(document, list) else [document] if isinstance(document, dict) else []
    for user in users:
        if isinstance(user, dict) and "_id" in user and "createdAt" in user:
            change(user)
    answer.set_json(document)


def created_at_moves():
    """After a PATCH, createdAt shows the time of the update."""
    app, _ = fresh_fake()
    patched: set[str] = set()

    def after(exchange, answer):
        match = USER.match(exchange.path)
        if exchange.method == "PATCH" and match and answer.status == 200:
            patched.add(match["user"])

        def change(user):
            if user["_id"] in patched:
                user["createdAt"] = user["updatedAt"]

        _rewrite_users(exchange, answer, change)

    return Breaker(app, after=after)


def updated_at_frozen():
    """updatedAt never moves: every answer shows the first value seen."""
    app, _ = fresh_fake()
    first: dict[str, str] = {}

    def after(exchange, answer):
        def change(user):
            user["updatedAt"] = first.setdefault(user["_id"], user["updatedAt"])

        _rewrite_users(exchange, answer, change)

    return Breaker(app, after=after)


def patch_resets_unsent():
    """A PATCH also blanks the office when it is not sent (a PUT-like update)."""
    app, _ = fresh_fake()

    def before(exchange):
        if exchange.method == "PATCH" and USER.match(exchange.path):
            try:
                body = json.loads(exchange.body)
            except ValueError:
                return None
            if isinstance(body, dict) and body and "office" not in body:
                body["office"] = ""
                exchange.body = json.dumps(body).encode()
                headers = [(k, v) for k, v in exchange.scope["headers"] if k != b"content-length"]
                headers.append((b"content-length", str(len(exchange.body)).encode()))
                exchange.scope = {**exchange.scope, "headers": headers}
        return None

    return Breaker(app, before=before)


def stale_reads():
    """A read cache: a caller's GET of a user answers what that caller's first successful GET of
    the user answered (per path, query and token, so auth still works)."""
    app, _ = fresh_fake()
    cache: dict[tuple, Answer] = {}

    def key(exchange):
        return (exchange.path, exchange.scope.get("query_string", b""), exchange.header(b"authorization") or b"")

    def before(exchange):
        if exchange.method == "GET" and USER.match(exchange.path) and key(exchange) in cache:
            hit = cache[key(exchange)]
            return Answer(hit.status, list(hit.headers), hit.body)
        return None

    def after(exchange, answer):
        if exchange.method == "GET" and USER.match(exchange.path) and _json_ok(answer):
            cache.setdefault(key(exchange), Answer(answer.status, list(answer.headers), answer.body))

    return Breaker(app, before=before, after=after)


def email_unique_case_sensitive():
    """Uniqueness compares letter case: ``JANE.DOE@ACME.EXAMPLE`` is taken as a new email (the
    update answers 200 without changing it)."""
    app, _ = fresh_fake()

    def before(exchange):
        match = USER.match(exchange.path)
        if exchange.method == "PATCH" and match:
            try:
                body = json.loads(exchange.body)
            except ValueError:
                return None
            email = body.get("email") if isinstance(body, dict) else None
            if isinstance(email, str) and email != email.lower() and "@" in email:
                # Taken as a new address: accepted (the proxy answers the fake's 200 for an
                # update without it), not the documented 409.
                exchange.body = json.dumps({k: v for k, v in body.items() if k != "email"}).encode()
                headers = [(k, v) for k, v in exchange.scope["headers"] if k != b"content-length"]
                headers.append((b"content-length", str(len(exchange.body)).encode()))
                exchange.scope = {**exchange.scope, "headers": headers}
        return None

    return Breaker(app, before=before)


# -- deletion -------------------------------------------------------------------------------------


def _deleting(after_delete: Callable[[Exchange, Answer, dict[str, dict]], None]):
    app, _ = fresh_fake()
    deleted: dict[str, dict] = {}

    def after(exchange, answer):
        match = USER.match(exchange.path)
        if exchange.method == "DELETE" and match and answer.status == 200:
            deleted[match["user"]] = answer.json()
            return
        after_delete(exchange, answer, deleted)

    return Breaker(app, after=after)


def deleted_still_listed():
    """Soft delete: the deleted user is gone from get, but still in the list (no search)."""
    def after(exchange, answer, deleted):
        if exchange.method == "GET" and LIST_PATH.match(exchange.path) and _json_ok(answer):
            if "search=" not in exchange.scope.get("query_string", b"").decode() and deleted:
                users = answer.json()
                ids = {u["_id"] for u in users}
                answer.set_json(sorted(users + [u for i, u in deleted.items() if i not in ids], key=lambda u: u["_id"]))

    return _deleting(after)


def deleted_still_searchable():
    """The search index is not updated: a deleted user is still found by a search."""
    def after(exchange, answer, deleted):
        if exchange.method == "GET" and LIST_PATH.match(exchange.path) and _json_ok(answer):
            search = [v for k, v in exchange.query() if k == "search"]
            if search and search[-1].strip() and deleted:
                users = answer.json()
                extra = [u for u in deleted.values() if _documented(u, search[-1].split())]
                answer.set_json(users + extra)

    return _deleting(after)


def deleted_still_delegate():
    """Delegations to a deleted user are not removed: the others still name it as a delegate."""
    app, _ = fresh_fake()
    delegations: dict[str, list[str]] = {}
    deleted: dict[str, dict] = {}

    def before(exchange):
        match = USER.match(exchange.path)
        if exchange.method == "PATCH" and match:
            try:
                body = json.loads(exchange.body)
            except ValueError:
                return None
            if isinstance(body, dict) and isinstance(body.get("delegateIds"), list):
                delegations[match["user"]] = [str(i) for i in body["delegateIds"]]
        return None

    def after(exchange, answer):
        match = USER.match(exchange.path)
        if exchange.method == "DELETE" and match and answer.status == 200:
            deleted[match["user"]] = answer.json()
            return

        def change(user):
            for gone in delegations.get(user["_id"], []):
                if gone in deleted and all(d.get("_id") != gone for d in user.get("delegates", [])):
                    ghost = deleted[gone]
                    user.setdefault("delegates", []).append(
                        {"_id": gone, "firstName": ghost.get("firstName", ""), "lastName": ghost.get("lastName", "")})

        _rewrite_users(exchange, answer, change)

    return Breaker(app, before=before, after=after)


def second_delete_succeeds():
    """Deleting an already deleted user answers 200 with it again (instead of 404), for the same
    caller and a plain request (anything else is answered by the fake as usual)."""
    app, _ = fresh_fake()
    deleted: dict[tuple[str, bytes], bytes] = {}

    def key(exchange):
        return (exchange.path, exchange.header(b"authorization") or b"")

    def before(exchange):
        if exchange.method == "DELETE" and not exchange.scope.get("query_string") and key(exchange) in deleted:
            body = deleted[key(exchange)]
            return Answer(200, [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                          body)
        return None

    def after(exchange, answer):
        if exchange.method == "DELETE" and USER.match(exchange.path) and answer.status == 200:
            deleted[key(exchange)] = answer.body

    return Breaker(app, before=before, after=after)


def unmodified():
    """The fake behind the same kind of proxy, changing nothing."""
    app, _ = fresh_fake()
    return Breaker(app)


@dataclass(frozen=True)
class BehaviourVariant:
    build: Callable[[], Any]
    check: str  # the contract check that must name it
    drift: bool = True  # whether drift's model-based run is expected to see it too


BEHAVIOUR_VARIANTS: dict[str, BehaviourVariant] = {
    "search_case_sensitive": BehaviourVariant(search_case_sensitive, "search_semantics"),
    "search_first_term_only": BehaviourVariant(search_first_term_only, "search_semantics"),
    "search_any_term": BehaviourVariant(search_any_term, "search_semantics"),
    "search_ignores_email": BehaviourVariant(search_ignores_email, "search_semantics"),
    "search_ignores_nickname": BehaviourVariant(search_ignores_nickname, "search_semantics"),
    "search_prefix_only": BehaviourVariant(search_prefix_only, "search_semantics"),
    "search_nothing_is_everything": BehaviourVariant(search_nothing_is_everything, "search_semantics"),
    "tenant_list_leak": BehaviourVariant(tenant_list_leak, "tenant_scoping"),
    "tenant_get_any_customer": BehaviourVariant(tenant_get_any_customer, "tenant_scoping", drift=False),
    "tenant_token_crosses_customers": BehaviourVariant(tenant_token_crosses_customers, "tenant_isolation", drift=False),
    "lookup_wrong_user": BehaviourVariant(lookup_wrong_user, "lookup_identity"),
    "created_at_moves": BehaviourVariant(created_at_moves, "update_timestamps"),
    "updated_at_frozen": BehaviourVariant(updated_at_frozen, "update_timestamps"),
    "patch_resets_unsent": BehaviourVariant(patch_resets_unsent, "partial_update"),
    "stale_reads": BehaviourVariant(stale_reads, "read_your_writes"),
    "email_unique_case_sensitive": BehaviourVariant(email_unique_case_sensitive, "email_uniqueness"),
    "deleted_still_listed": BehaviourVariant(deleted_still_listed, "delete_semantics"),
    "deleted_still_searchable": BehaviourVariant(deleted_still_searchable, "delete_semantics"),
    "deleted_still_delegate": BehaviourVariant(deleted_still_delegate, "delete_semantics"),
    "second_delete_succeeds": BehaviourVariant(second_delete_succeeds, "delete_semantics"),
}
