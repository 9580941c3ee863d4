"""Snapshot the users a run may change, and put them back afterwards (``--allow-writes``).

A snapshot is the GET answer for each ``--user-id`` user before the run. Restoring sends one v1
PATCH per user with every updatable field of the snapshot (relations as ids: ``roleIds`` from
``roles[]._id``, ``delegateIds`` from ``delegates[]._id``), then reads the user again and compares.
Requests go through the same guarded ``requests`` session as the run, so the policy still applies.

With ``--allow-delete`` a user the run deleted cannot be put back (the API has no create): it is
listed as ``deleted``, which is what the run was allowed to do, not a failed restore. What the
deletion changed in the other users (a ``delegates``/``delegators`` entry naming it gone, as the
DELETE rule says) is expected too: those entries are left out of the PATCH and of the comparison.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import requests

from mockserver.remote.client import Client, user_path
from mockserver.spec import rules

# What a v1 PATCH may set, as its schema says: text fields, and lists of ids answered expanded.
SCALAR_FIELDS = rules.TEXT_FIELDS
RELATIONS = rules.RELATIONS
IGNORED_ON_COMPARE = frozenset({"updatedAt"})
# The relations a deleted user disappears from (DELETE: delegations to and from it are removed).
RELATED_BY_DELETE = ("delegates", "delegators")
DELETED = "deleted"


def restore_body(snapshot: dict[str, Any], gone: Iterable[str] = ()) -> dict[str, Any]:
    """The v1 PATCH body that puts a user back to ``snapshot`` (without relations to ``gone`` users)."""
    gone = set(gone)
    body: dict[str, Any] = {name: snapshot[name] for name in SCALAR_FIELDS if isinstance(snapshot.get(name), str)}
    for name, container in RELATIONS.items():
        related = snapshot.get(container)
        if isinstance(related, list):
            body[name] = [item["_id"] for item in related
                          if isinstance(item, dict) and "_id" in item and item["_id"] not in gone]
    return body


def comparable(user: dict[str, Any], gone: Iterable[str] = ()) -> dict[str, Any]:
    """``user`` without what a restore cannot (``updatedAt``) or must not (relations to deleted users) restore."""
    gone = set(gone)
    kept = {key: value for key, value in user.items() if key not in IGNORED_ON_COMPARE}
    for name in RELATED_BY_DELETE:
        if isinstance(kept.get(name), list) and gone:
            kept[name] = [item for item in kept[name] if not (isinstance(item, dict) and item.get("_id") in gone)]
    return kept


@dataclass
class UserRestore:
    user_id: str
    status: str  # "unchanged", "restored", "deleted" (allowed by --allow-delete), "failed"
    detail: str = ""


@dataclass
class RestoreReport:
    results: list[UserRestore] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(result.status != "failed" for result in self.results)

    @property
    def deleted(self) -> list[str]:
        """The users the run deleted (as it was allowed to)."""
        return [result.user_id for result in self.results if result.status == DELETED]

    def lines(self) -> list[str]:
        out = []
        for result in self.results:
            detail = f": {result.detail}" if result.detail else ""
            out.append(f"user {result.user_id}: {result.status}{detail}")
        return out


def snapshot_users(client: Client, customer_id: str, user_ids: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """GET each user; raises LookupError naming the first user that cannot be read."""
    snapshots = {}
    for user_id in user_ids:
        response = client.request("GET", user_path(customer_id, user_id))
        if response.status_code != 200:
            raise LookupError(f"user {user_id} cannot be read before the run: GET answered {response.status_code}")
        try:
            snapshots[user_id] = response.json()
        except ValueError:
            raise LookupError(f"user {user_id}: GET answered 200 without a JSON body") from None
    return snapshots


def restore_users(client: Client, customer_id: str, snapshots: dict[str, dict[str, Any]], *,
                  deletes_allowed: bool = False) -> RestoreReport:
    """PATCH back every user that changed, then read every user again and compare.

    First every user is read: one that is gone was deleted by the run; with ``deletes_allowed``
    (``--allow-delete``) it is reported as ``deleted``, otherwise as a failed restore. All PATCHes
    come before all comparisons: restoring one user's ``delegateIds`` also restores the
    ``delegators`` another restored user shows.
    """
    report = RestoreReport()
    patched: dict[str, str] = {}
    current: dict[str, Any] = {}
    gone: list[str] = []
    for user_id in snapshots:
        try:
            current[user_id] = answer = client.request("GET", user_path(customer_id, user_id))
        except (requests.RequestException, ValueError, RuntimeError) as err:
            report.results.append(UserRestore(user_id, "failed", f"{type(err).__name__}: {err}"))
            continue
        if answer.status_code == 404:
            gone.append(user_id)
            if deletes_allowed:
                report.results.append(UserRestore(user_id, DELETED, "by the run, as --allow-delete allowed; "
                                                  "this API cannot re-create it"))
            else:
                report.results.append(UserRestore(
                    user_id, "failed", "the user was deleted during the run; this API cannot re-create it"))
    for user_id, before in snapshots.items():
        if user_id not in current or user_id in gone:
            continue
        path = user_path(customer_id, user_id)
        try:
            now = current[user_id]
            if now.status_code == 200 and comparable(now.json(), gone) == comparable(before, gone):
                patched[user_id] = "unchanged"
                continue
            answer = client.request("PATCH", path, json=restore_body(before, gone))
            if answer.status_code != 200:
                report.results.append(
                    UserRestore(user_id, "failed", f"PATCH {path} answered {answer.status_code}: {_excerpt(answer)}")
                )
                continue
            patched[user_id] = "restored"
        except (requests.RequestException, ValueError, RuntimeError) as err:
            report.results.append(UserRestore(user_id, "failed", f"{type(err).__name__}: {err}"))
    for user_id, status in patched.items():
        path = user_path(customer_id, user_id)
        try:
            after = client.request("GET", path)
            if after.status_code != 200:
                report.results.append(
                    UserRestore(user_id, "failed", f"GET {path} after the restore answered {after.status_code}")
                )
                continue
            differences = _differences(snapshots[user_id], after.json(), gone)
        except (requests.RequestException, ValueError, RuntimeError) as err:
            report.results.append(UserRestore(user_id, "failed", f"{type(err).__name__}: {err}"))
            continue
        if differences:
            report.results.append(
                UserRestore(user_id, "failed", "still differs after the restore: " + "; ".join(differences))
            )
        else:
            report.results.append(UserRestore(user_id, status))
    order = list(snapshots)
    report.results.sort(key=lambda result: order.index(result.user_id))
    return report


def _differences(before: dict[str, Any], after: dict[str, Any], gone: Iterable[str] = ()) -> list[str]:
    before, after = comparable(before, gone), comparable(after, gone)
    return [
        f"{key}: was {before.get(key)!r}, now {after.get(key)!r}"
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]


def _excerpt(response: requests.Response, limit: int = 200) -> str:
    text = response.text.replace("\n", " ")
    return text[:limit] + ("..." if len(text) > limit else "")
