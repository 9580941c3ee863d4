"""What drift's model (:mod:`mockserver.drift.model`) sends besides the data: the run's principals
and the PATCH bodies the documents reject (docs/choices.md: 409, 422, 400)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mockserver.drift.sequence import UNKNOWN_ID

NOT_SEARCHED = ("jobTitle", "department", "office", "seniority")
# Rejected PATCH bodies by kind (the user's own id and another user's email are filled in).
REJECTED = ("valid change with an invalid one", "duplicate email", "unknown role", "unknown delegate",
            "delegate to itself", "null value", "unknown field", "delegateIds in v2", "a number for a text field",
            "empty email")


@dataclass(frozen=True)
class Principal:
    """A credential of the run: ``name`` for the report, its ``token``, the user it is bound to."""

    name: str
    token: str | None
    user_id: str | None = None
    other_customer: bool = False


def rejected_body(kind: str, user_id: str, other_email: str | None, text_field: str) -> tuple[str, dict[str, Any]]:
    """(API version, body) of a PATCH the documents reject."""
    bodies: dict[str, tuple[str, dict[str, Any]]] = {
        "duplicate email": ("v1", {"email": (other_email or "x@example.com").swapcase()}),
        "unknown role": ("v1", {"roleIds": [UNKNOWN_ID]}),
        "unknown delegate": ("v1", {"delegateIds": [UNKNOWN_ID]}),
        "delegate to itself": ("v1", {"delegateIds": [user_id]}),
        "null value": ("v1", {text_field: None}),
        "unknown field": ("v1", {"notAField": "x"}),
        "delegateIds in v2": ("v2", {"delegateIds": []}),
        "a number for a text field": ("v2", {text_field: 7}),
        "valid change with an invalid one": ("v1", {text_field: "Rejected Change", "roleIds": [UNKNOWN_ID]}),
        "empty email": ("v2", {"email": ""}),
    }
    return bodies[kind]
