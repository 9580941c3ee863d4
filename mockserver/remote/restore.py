"""Snapshot the users a run may change, and put them back afterwards (``--allow-writes``).

A snapshot is the GET answer for each ``--user-id`` user before the run. Restoring sends one v1
PATCH per user with every updatable field of the snapshot (relations as ids: ``roleIds`` from
``roles[]._id``, ``delegateIds`` from ``delegates[]._id``), then reads the user again and compares.
Requests go through the same guarded ``requests`` session as the run, so the policy still applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from mockserver.remote.client import Client, user_path
from mockserver.spec.schemas import updatable_relations, updatable_text_fields

# What a v1 PATCH may set, as its schema says: text fields, and lists of ids answered expanded.
SCALAR_FIELDS = updatable_text_fields("v1")
RELATIONS = updatable_relations("v1")
IGNORED_ON_COMPARE = frozenset({"updatedAt"})


def restore_body(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The v1 PATCH body that puts a user back to ``snapshot``."""
    body: dict[str, Any] = {name: snapshot[name] for name in SCALAR_FIELDS if isinstance(snapshot.get(name), str)}
    for name, container in RELATIONS.items():
        related = snapshot.get(container)
        if isinstance(related, list):
            body[name] = [item["_id"] for item in related if isinstance(item, dict) and "_id" in item]
    return body


def comparable(user: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in user.items() if key not in IGNORED_ON_COMPARE}


@dataclass
class UserRestore:
    user_id: str
    status: str  # "unchanged", "restored", "failed"
    detail: str = ""


@dataclass
class RestoreReport:
    results: list[UserRestore] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(result.status != "failed" for result in self.results)

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


def restore_users(client: Client, customer_id: str, snapshots: dict[str, dict[str, Any]]) -> RestoreReport:
    """PATCH back every user that changed, then read every user again and compare.

    All PATCHes come before all comparisons: restoring one user's ``delegateIds`` also restores
    the ``delegators`` another restored user shows.
    """
    report = RestoreReport()
    patched: dict[str, str] = {}
    for user_id, before in snapshots.items():
        path = user_path(customer_id, user_id)
        try:
            current = client.request("GET", path)
            if current.status_code == 404:
                report.results.append(
                    UserRestore(user_id, "failed", "the user was deleted during the run; this API cannot re-create it")
                )
                continue
            if current.status_code == 200 and comparable(current.json()) == comparable(before):
                patched[user_id] = "unchanged"
                continue
            answer = client.request("PATCH", path, json=restore_body(before))
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
            differences = _differences(snapshots[user_id], after.json())
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


def _differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    before, after = comparable(before), comparable(after)
    return [
        f"{key}: was {before.get(key)!r}, now {after.get(key)!r}"
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]


def _excerpt(response: requests.Response, limit: int = 200) -> str:
    text = response.text.replace("\n", " ")
    return text[:limit] + ("..." if len(text) > limit else "")
