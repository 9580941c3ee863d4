"""Reading one customer of a deployment: the list, each listed user, the token's identity lookup
(GET requests only, each waited out after a 429, under the run's rate limit)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mockserver.remote.client import Client, json_or_none, network_reason, users_path
from mockserver.remote.progress import Progress
from mockserver.remote.safety import OBJECT_ID
from mockserver.spec.operations import INTEGRATION

USER_TOKEN = "recorded-user-token"


class RecordError(Exception):
    """The recording cannot be completed; ``str(err)`` is one readable line."""


@dataclass
class Recording:
    """What the deployment answered, as it answered it."""

    customer_id: str
    users: list[dict[str, Any]]  # GET answers, in the list's order
    identity: dict[str, Any] | None  # the token's lookup answer (None: 404 or no answer)
    gone: list[str] = field(default_factory=list)  # listed, then 404 when read
    notes: list[str] = field(default_factory=list)


def capture(
    client: Client,
    customer_id: str,
    *,
    limiter: Any = None,
    progress: Callable[[int], Progress] | None = None,
) -> Recording:
    """GET the list, each listed user and the token's identity; raises :class:`RecordError`.

    ``limiter`` (a Schemathesis/pyrate limiter or anything with ``try_acquire(label)``) is asked
    before every request; ``progress(total)`` makes the progress display for the users.
    """
    import requests

    def get(path: str, **params: str) -> requests.Response:
        # A 429 (or a 503 with Retry-After) is waited out by the run's request guard.
        try:
            if limiter is not None:
                limiter.try_acquire(client.origin)
            return client.request("GET", path, params=params or None)
        except requests.RequestException as error:
            raise RecordError(f"cannot reach {client.origin}: {network_reason(error)} (GET {path})") from None

    listing = get(users_path(customer_id), integration=INTEGRATION)
    if listing.status_code != 200:
        raise RecordError(f"GET {users_path(customer_id)} answered {listing.status_code}, not 200")
    listed = json_or_none(listing)
    if not isinstance(listed, list) or not all(
        isinstance(user, dict) and isinstance(user.get("_id"), str) and OBJECT_ID.match(user["_id"]) for user in listed
    ):
        raise RecordError(f"GET {users_path(customer_id)} did not answer a JSON array of users with ObjectId _id")
    ids = list(dict.fromkeys(user["_id"] for user in listed))
    recording = Recording(customer_id=customer_id, users=[], identity=None)
    shown = progress(len(ids)) if progress is not None else None
    try:
        for user_id in ids:
            path = f"{users_path(customer_id)}/{user_id}"
            answer = get(path)
            if answer.status_code == 404:
                recording.gone.append(user_id)  # deleted between the list and now
            elif answer.status_code != 200:
                raise RecordError(f"GET {path} answered {answer.status_code}, not 200")
            else:
                user = json_or_none(answer)
                if not isinstance(user, dict) or user.get("_id") != user_id:
                    raise RecordError(f"GET {path} did not answer the user {user_id} as a JSON object")
                recording.users.append(user)
            if shown is not None:
                shown.advance()
    finally:
        if shown is not None:
            shown.close()
    lookup = get(f"{users_path(customer_id)}/lookup")
    identity = json_or_none(lookup) if lookup.status_code == 200 else None
    if isinstance(identity, dict) and isinstance(identity.get("type"), str) and isinstance(identity.get("value"), str):
        recording.identity = identity
    elif lookup.status_code != 404:
        recording.notes.append(f"the identity lookup answered {lookup.status_code}; {USER_TOKEN} is bound to the first "
                               "user with an identity")
    if recording.gone:
        recording.notes.append(f"{len(recording.gone)} listed user(s) were gone when read (404) and are not recorded")
    return recording
