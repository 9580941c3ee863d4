"""Helpers shared by the record and drift tests: the CLI in-process, targets built from a fixture
document, a small customer of distinctive people (for anonymisation), a counting rate limiter."""

from __future__ import annotations

import contextlib
import io
import threading

from mockserver.app.build import ServerOptions, create_app
from mockserver.cli import main
from mockserver.fixtures.document import FixtureLoader
from mockserver.store.memory import Store

ALPHA = "6600000000000000000000a1"
BETA = "6600000000000000000000b2"


def run_cli(*args: str) -> tuple[int, str, str]:
    """``mockserver ARGS`` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def fake_on(document: dict, **options):
    """(app, store): the fake seeded from ``document`` (validated like any fixture file)."""
    store = Store(FixtureLoader().load_document(document))
    return create_app(store, ServerOptions(**options)), store


def _user(uid: str, first: str, last: str, email: str, nickname: str = "", **extra) -> dict:
    return {
        "_id": uid, "createdAt": "2021-03-04T05:06:07Z", "updatedAt": "2023-01-02T03:04:05Z", "email": email,
        "firstName": first, "lastName": last, "jobTitle": "Associate", "nickname": nickname, "status": "active",
        "isSuperDelegate": False, "seniority": "Mid-level", "department": "Litigation", "office": "Leeds",
        "subdepartment": "Commercial", "pod": "Pod 1", "groupIds": [], "roleIds": [], "delegateIds": [],
        "identities": [], **extra,
    }


# Names that are in none of mockserver.fixtures.generate's word lists, so none can reappear as a fake value.
REAL_NAMES = ("Zebulon", "Ottoline", "Quarterfield", "Marchbanks", "Fenwright", "Zeb", "Otty")


def people_document() -> dict:
    """Two customers of distinctive people: shared first names, last names and nicknames, mixed-case
    emails, delegations, roles, groups and identities."""
    role = {"_id": "6600000000000000000003a1", "name": "Timekeeper",
            "permissions": [{"_id": "6600000000000000000005a1", "claim": "time:write", "description": "Record time"}]}
    group = {"_id": "6600000000000000000004a1", "name": "Litigation"}
    alpha_users = [
        _user("6600000000000000000001a1", "Zebulon", "Quarterfield", "Zebulon.Quarterfield@Alpha-Law.example", "Zeb",
              roleIds=[role["_id"]], groupIds=[group["_id"]],
              delegateIds=["6600000000000000000001a3", "6600000000000000000001a4"],
              identities=[{"type": "aderant", "value": "AL-1"}]),
        _user("6600000000000000000001a2", "Zebulon", "Marchbanks", "zebulon.marchbanks@alpha-law.example", "Zeb",
              delegateIds=["6600000000000000000001a1"], identities=[{"type": "aderant", "value": "AL-2"}]),
        _user("6600000000000000000001a3", "Ottoline", "Quarterfield", "OTTOLINE.QUARTERFIELD@ALPHA-LAW.EXAMPLE", "Otty",
              roleIds=[role["_id"]], groupIds=[group["_id"]]),
        _user("6600000000000000000001a4", "Ottoline", "Fenwright", "o.fenwright@alpha-law.example"),
    ]
    beta_users = [
        _user("6600000000000000000001b1", "Zebulon", "Quarterfield", "zq@beta-partners.example", "Zeb",
              identities=[{"type": "aderant", "value": "BP-1"}]),
        _user("6600000000000000000001b2", "Ottoline", "Marchbanks", "om@beta-partners.example"),
    ]
    return {
        "customers": [
            {"_id": ALPHA, "fullName": "Quarterfield Marchbanks LLP", "roles": [role], "groups": [group],
             "users": alpha_users},
            {"_id": BETA, "fullName": "Beta Fenwright Partners", "roles": [], "groups": [], "users": beta_users},
        ],
        "tokens": [
            {"token": "alpha-admin", "customerIds": [ALPHA]},
            {"token": "beta-admin", "customerIds": [BETA]},
            {"token": "zebulon-token", "customerIds": [ALPHA], "userId": "6600000000000000000001a2"},
        ],
    }


class CountingLimiter:
    """A rate limiter that only counts what it is asked for."""

    def __init__(self):
        self.acquired = 0
        self._lock = threading.Lock()

    def try_acquire(self, _label) -> bool:
        with self._lock:
            self.acquired += 1
        return True
