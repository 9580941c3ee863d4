"""What drift's model (:mod:`mockserver.drift.model`) sends: the inputs drawn from the recorded
users (:class:`Inputs`), the run's principals and the PATCH bodies the documents reject
(docs/choices.md: 409, 422, 400)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mockserver.drift.sequence import UNKNOWN_ID
from mockserver.spec import rules

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


class Inputs:
    """The model's inputs, drawn from the recorded ``users`` (docs/drift.md lists them): search terms
    in every style (``search_terms``: a value of a searched field whole, in part, in another case, two
    words; ``field_searches``: one term per searched field of a user, also its first and last three
    letters; ``edge_searches``: the edge values docs/choices.md names), and PATCH bodies
    (``changes(version)``). ``writable``: the users the run may change, which delegation draws most."""

    def __init__(self, users: list[dict], roles: list[str], writable: list[str]):
        from hypothesis import strategies as st

        by_id = {user["_id"]: user for user in users}
        words = sorted({str(u.get(name)) for u in users for name in rules.SEARCH_FIELDS
                        if isinstance(u.get(name), str) and u.get(name)})
        user_ids = sorted(by_id)
        related_pool = list(dict.fromkeys([*writable, *user_ids[:3]]))
        other_emails = sorted({u["email"] for u in users if isinstance(u.get("email"), str)})
        unsearched = sorted({u[name] for u in users for name in NOT_SEARCHED
                             if isinstance(u.get(name), str) and len(u[name].strip()) > 2})

        values = {name: sorted({u[name] for u in users if isinstance(u.get(name), str) and u[name].strip()})
                  for name in rules.SEARCH_FIELDS}
        values = {name: found for name, found in values.items() if found}

        @st.composite
        def search_terms(draw, among: list[dict] | None = None) -> str:
            if among:
                user = draw(st.sampled_from(among))
                word = draw(st.sampled_from([user[n] for n in rules.SEARCH_FIELDS
                                             if isinstance(user.get(n), str) and user[n].strip()] or ["a"]))
            else:
                word = draw(st.sampled_from(values[draw(st.sampled_from(sorted(values)))]))
            kind = draw(st.sampled_from(("whole", "part", "two", "upper", "lower", "swapcase", "two")))
            if kind == "part" and len(word) > 2:
                start = draw(st.integers(0, len(word) - 2))
                end = draw(st.integers(start + 1, len(word)))
                return word[start:end]
            if kind == "upper":
                return word.upper()
            if kind == "lower":
                return word.lower()
            if kind == "swapcase":
                return word.swapcase()
            if kind == "two":
                user = by_id[draw(st.sampled_from(user_ids))]
                first, last = user.get("firstName") or word, user.get("lastName") or word
                other = draw(st.sampled_from(words)) if draw(st.booleans()) else last
                return f"{first} {other}"
            return word

        @st.composite
        def field_searches(draw) -> list[str]:
            """One term per searched field (rules.SEARCH_FIELDS) of a drawn user, in a drawn style."""
            user = by_id[draw(st.sampled_from(user_ids))]
            style = draw(st.sampled_from(("part", "swapcase", "whole", "upper", "start", "end")))
            terms = []
            for name in rules.SEARCH_FIELDS:
                word = user.get(name)
                if not isinstance(word, str) or not word.strip():
                    continue
                if style == "part" and len(word) > 4:
                    start = draw(st.integers(1, len(word) - 4))
                    word = word[start:start + 4]
                elif style in ("start", "end") and len(word) > 3:  # a term at an edge of the field
                    word = word[:3] if style == "start" else word[-3:]
                terms.append({"swapcase": word.swapcase(), "upper": word.upper()}.get(style, word))
            first, last = user.get("firstName"), user.get("lastName")
            if isinstance(first, str) and isinstance(last, str) and first.strip() and last.strip():
                # The table's own examples: `doe jane` finds Jane Doe; `jane okafor` (another's last name) does not.
                stranger = by_id[draw(st.sampled_from(user_ids))].get("lastName")
                terms += [f"{last} {first}", f"{first} {stranger}" if isinstance(stranger, str) else first]
            return terms

        @st.composite
        def edge_searches(draw) -> str:
            """The edge values docs/choices.md names for ``search``, and terms from unsearched fields."""
            kind = draw(st.sampled_from(("blank", "separators", "padded", "not searched")))
            if kind == "blank":
                return draw(st.sampled_from(rules.SEARCH_EDGE_VALUES))
            if kind == "not searched" and unsearched:
                return draw(st.sampled_from(unsearched))
            user = by_id[draw(st.sampled_from(user_ids))]
            parts = [user[n] for n in ("lastName", "firstName") if isinstance(user.get(n), str) and user[n].strip()]
            parts = parts or ["a"]
            if kind == "separators":
                return draw(st.sampled_from(("\t", "  ", " \t "))).join(parts)
            return f"  {' '.join(parts)}  "

        text = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ABCXYZ-'", min_size=0, max_size=12)
        emails = st.one_of(
            st.builds(lambda local, n: f"{local}.{n}@model-check.example", st.text("abcdefgh", min_size=1, max_size=6),
                      st.integers(0, 999)),
            st.builds(lambda email, case: {"upper": email.upper(), "swap": email.swapcase(), "same": email}[case],
                      st.sampled_from(other_emails), st.sampled_from(("upper", "swap", "same"))),
        ) if other_emails else st.just("model.check@model-check.example")

        @st.composite
        def changes(draw, version: str) -> dict[str, Any]:
            body: dict[str, Any] = {}
            for name in draw(st.lists(st.sampled_from(rules.TEXT_FIELDS), min_size=0, max_size=3, unique=True)):
                if name != "email":
                    body[name] = draw(text)
            if draw(st.integers(0, 3)) == 0:
                body["email"] = draw(emails)
            if roles and draw(st.integers(0, 4)) == 0:
                chosen = draw(st.lists(st.sampled_from(roles), max_size=2, unique=True))
                body["roleIds"] = chosen + chosen[:draw(st.integers(0, 1))]  # a repeat is collapsed
            if version == "v1" and draw(st.integers(0, 3)) == 0:
                # Mostly users a delete must clean up after, else any user (before or after it in the list).
                pool = st.one_of(st.sampled_from(related_pool), st.sampled_from(user_ids))
                chosen = draw(st.lists(pool, max_size=2, unique=True))
                body["delegateIds"] = chosen + chosen[:draw(st.integers(0, 1))]
            if draw(st.integers(0, 5)) == 0:
                return {}  # accepted, and changes nothing but updatedAt
            return body or {"jobTitle": draw(text)}

        self.by_id, self.user_ids, self.other_emails = by_id, user_ids, other_emails
        self.search_terms, self.field_searches, self.edge_searches = search_terms, field_searches, edge_searches
        self.changes = changes
