"""Deployments that break one documented rule (mockserver/spec/rules.py) that the fixed probes and
the first behavioural checks never reached: the fake behind a reverse proxy
(:class:`tests.contract_variants.Breaker`), its code untouched. ``RULE_VARIANTS`` maps a name to
(builder, the rule it breaks, the nature drift must report: "meaning" fails a run by default,
"form" only with ``--fail-on form``).

``STAGING`` are the options a CI engineer checking staging passes; :func:`staging_drift` runs
drift with them against an app served on loopback behind a :class:`tests.support.Relay` (a hop
that is not the proven fake, as a port-forward to a deployment would be)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.behaviour_variants import ACME, BIRCH, LOOKUP, USER, _json_ok, _rewrite_users, _set_token, _token
from tests.contract_variants import LIST_PATH, Answer, Breaker
from tests.support import LiveServer, Relay, fresh_fake

# The probes delete the first; Robert (the lookup token's user, with an identity) is left for the model.
WRITABLE = ("6500000000000000000001a5", "6500000000000000000001a2", "6500000000000000000001a8")
STAGING: dict[str, Any] = {
    "token": "acme-admin-token", "customer_id": ACME, "allow_writes": True, "allow_delete": True,
    "user_ids": WRITABLE, "other_customer_id": BIRCH, "other_token": "birch-admin-token",
    # Robert's token: he is one of the users the run may delete, so his lookup after it is compared.
    "lookup_token": "robert-token", "lookup_user_id": "6500000000000000000001a2",
}
FAST = {"phases": ("examples",), "max_examples": 1, "progress": False}


def staging_drift(app, **options) -> tuple[int, str, str]:
    """``mockserver drift`` with the staging options against ``app`` behind a relay."""
    from mockserver.drift.runner import DriftOptions, run_drift

    out, err = io.StringIO(), io.StringIO()
    with LiveServer(app) as server, Relay(server.url) as relay:
        code = run_drift(relay.url, DriftOptions(**{**FAST, **STAGING, **options}), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def staging_contract(app, **options) -> tuple[int, str, str]:
    """``mockserver contract`` with the staging options against ``app`` behind a relay."""
    from mockserver.contract.runner import ContractOptions, run_contract

    out, err = io.StringIO(), io.StringIO()
    with LiveServer(app) as server, Relay(server.url) as relay:
        code = run_contract(relay.url, ContractOptions(**{"phases": ("examples",), "max_examples": 2, **STAGING,
                                                          **options}), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _body(exchange) -> Any:
    try:
        return json.loads(exchange.body)
    except ValueError:
        return None


def _search_of(exchange) -> str | None:
    values = [v for k, v in exchange.query() if k == "search"]
    return values[-1] if values else None


def search_also_job_title():
    """The search also looks at the job title (only names, nickname and email are searched)."""
    app, store = fresh_fake()

    def after(exchange, answer):
        search = _search_of(exchange)
        if exchange.method == "GET" and LIST_PATH.match(exchange.path) and search and search.strip() \
                and _json_ok(answer):
            found = answer.json()
            ids = {u["_id"] for u in found}
            extra = [u for u in store.list_users(ACME) if u["_id"] not in ids
                     and search.strip().casefold() in str(u.get("jobTitle", "")).casefold()]
            answer.set_json(sorted(found + extra, key=lambda u: u["_id"]))

    return Breaker(app, after=after)


def blank_search_finds_nobody():
    """A search of only whitespace answers nobody (a blank search lists everyone)."""
    app, _ = fresh_fake()

    def after(exchange, answer):
        search = _search_of(exchange)
        if exchange.method == "GET" and LIST_PATH.match(exchange.path) and search and not search.strip() \
                and _json_ok(answer):
            answer.set_json([])

    return Breaker(app, after=after)


def rejected_patch_partly_applied():
    """A PATCH answered 422 still applies its text fields (a rejected PATCH must change nothing)."""
    app, store = fresh_fake()

    def after(exchange, answer):
        match = USER.match(exchange.path)
        body = _body(exchange) if exchange.method == "PATCH" and match else None
        if answer.status == 422 and isinstance(body, dict):
            text = {k: v for k, v in body.items() if k not in ("roleIds", "delegateIds") and isinstance(v, str)}
            if text:
                try:
                    store.update_user(match["customer"], match["user"], text)
                except Exception:  # noqa: BLE001  (a change the store refuses is simply not applied)
                    pass

    return Breaker(app, after=after)


def other_customer_can_write():
    """Another customer's token may change this customer's users (reads are still refused)."""
    app, _ = fresh_fake()

    def before(exchange):
        if exchange.method in ("PATCH", "DELETE") and _token(exchange) == "birch-admin-token" \
                and f"/customers/{ACME}/" in exchange.path:
            _set_token(exchange, "acme-admin-token")
        return None

    return Breaker(app, before=before)


def deleted_user_patchable():
    """A PATCH of a deleted user answers 200 with the user as it was (instead of 404)."""
    app, _ = fresh_fake()
    deleted: dict[str, bytes] = {}

    def before(exchange):
        match = USER.match(exchange.path)
        if exchange.method == "PATCH" and match and match["user"] in deleted:
            body = deleted[match["user"]]
            return Answer(200, [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                          body)
        return None

    def after(exchange, answer):
        match = USER.match(exchange.path)
        if exchange.method == "DELETE" and match and answer.status == 200:
            deleted[match["user"]] = answer.body

    return Breaker(app, before=before, after=after)


def lookup_survives_delete():
    """A token's lookup keeps answering its user's identity after the user was deleted (a cache)."""
    app, _ = fresh_fake()
    seen: dict[bytes, Answer] = {}

    def before(exchange):
        key = exchange.header(b"authorization") or b""
        if exchange.method == "GET" and LOOKUP.match(exchange.path) and key in seen:
            hit = seen[key]
            return Answer(hit.status, list(hit.headers), hit.body)
        return None

    def after(exchange, answer):
        if exchange.method == "GET" and LOOKUP.match(exchange.path) and _json_ok(answer):
            seen.setdefault(exchange.header(b"authorization") or b"", Answer(answer.status, list(answer.headers),
                                                                             answer.body))

    return Breaker(app, before=before, after=after)


def empty_patch_keeps_updated_at():
    """``PATCH {}`` answers the user without moving ``updatedAt`` (it moves on every successful PATCH)."""
    app, store = fresh_fake()

    def before(exchange):
        match = USER.match(exchange.path)
        if exchange.method == "PATCH" and match and _body(exchange) == {} and _token(exchange) == "acme-admin-token":
            try:
                body = json.dumps(store.get_user(match["customer"], match["user"])).encode()
            except Exception:  # noqa: BLE001  (no such user: let the fake answer)
                return None
            return Answer(200, [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                          body)
        return None

    return Breaker(app, before=before)


def extra_field():
    """Every user carries an ``employeeNumber`` the fake does not have (responses are open: form)."""
    app, _ = fresh_fake()

    def after(exchange, answer):
        def change(user):
            user["employeeNumber"] = "E-" + user["_id"][-4:]

        _rewrite_users(exchange, answer, change)

    return Breaker(app, after=after)


@dataclass(frozen=True)
class RuleVariant:
    build: Callable[[], Any]
    rule: str  # the rule of mockserver.spec.rules it breaks
    nature: str  # "meaning" or "form"


RULE_VARIANTS: dict[str, RuleVariant] = {
    "search_also_job_title": RuleVariant(search_also_job_title, "search", "meaning"),
    "blank_search_finds_nobody": RuleVariant(blank_search_finds_nobody, "search", "meaning"),
    "rejected_patch_partly_applied": RuleVariant(rejected_patch_partly_applied, "rejected_write", "meaning"),
    "other_customer_can_write": RuleVariant(other_customer_can_write, "tenancy", "meaning"),
    "deleted_user_patchable": RuleVariant(deleted_user_patchable, "delete", "meaning"),
    "lookup_survives_delete": RuleVariant(lookup_survives_delete, "lookup", "meaning"),
    "empty_patch_keeps_updated_at": RuleVariant(empty_patch_keeps_updated_at, "timestamps", "meaning"),
    "extra_field": RuleVariant(extra_field, "extra_fields", "form"),
}
