"""What the behavioural checks (:mod:`mockserver.contract.behaviour`) read from users: the searches
that must find a user, whether a user matches a search, a sample of the list, relations, times."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from mockserver.spec import rules
from mockserver.spec.rules import SEARCH_FIELDS

SAMPLE_USERS = 5
NO_MATCH_TERM = "zqxj-nobody-matches-this"


def users_of(body: Any) -> list[dict] | None:
    if not isinstance(body, list) or not all(isinstance(u, dict) and isinstance(u.get("_id"), str) for u in body):
        return None
    return body


def sample_users(users: list[dict], size: int = SAMPLE_USERS) -> list[dict]:
    """Up to SAMPLE_USERS users spread over the list, those with a nickname first among equals."""
    if len(users) <= size:
        return list(users)
    nicknamed = [u for u in users if u.get("nickname")]
    step = len(users) / size
    spread = [users[int(i * step)] for i in range(size)]
    if nicknamed and not any(u.get("nickname") for u in spread):
        spread[-1] = nicknamed[0]
    return spread


def text_of(user: dict, name: str) -> str:
    value = user.get(name)
    return value if isinstance(value, str) else ""


def terms_for(user: dict) -> list[str]:
    """Searches that must find ``user``: own fields, parts, two terms, other letter cases."""
    first, last, nick, email = (text_of(user, n) for n in SEARCH_FIELDS)
    terms = []
    if first:
        terms += [first, first.upper()]
    if last:
        terms += [last.lower(), last[1:-1] if len(last) > 3 else last]
    if email:
        terms += [email, email.swapcase(), email.split("@")[0]]
    if nick:
        terms.append(nick.swapcase())
    if first and last:
        terms += [f"{first} {last}", f"{last.upper()}  {first.lower()}"]
    # A substring may sit at either edge of a field: the first and the last characters of each.
    terms += [edge for word in (first, last, nick, email) if len(word) > 3 for edge in (word[:3], word[-3:])]
    return [t for t in dict.fromkeys(terms) if t.strip()]


def mixed_terms(sample: list[dict]) -> list[str]:
    """Two terms taken from two different users (usually nobody matches both), and short parts
    that many users share."""
    terms = []
    for a, b in zip(sample, sample[1:], strict=False):
        if text_of(a, "firstName") and text_of(b, "lastName"):
            terms.append(f"{text_of(a, 'firstName')} {text_of(b, 'lastName')}")
        if len(text_of(a, "lastName")) >= 2 and len(text_of(b, "firstName")) >= 2:
            terms.append(f"{text_of(a, 'lastName')[:2].lower()} {text_of(b, 'firstName')[-2:].upper()}")
    terms += ["a", "E"]
    return list(dict.fromkeys(terms))


def matches(user: dict, search: str) -> bool:
    return rules.matches(user, search)


def no_match_term(users: list[dict]) -> str:
    term = NO_MATCH_TERM
    while any(matches(u, term) for u in users):
        term += "q"
    return term


def first_term(users: list[dict]) -> str:
    return next((text_of(u, "lastName") for u in users if text_of(u, "lastName")), "a")


def customer_of(user: dict) -> str | None:
    customer = user.get("customer")
    return customer.get("_id") if isinstance(customer, dict) else None


def related_ids(user: dict) -> set[str]:
    ids = set()
    for name in ("delegates", "delegators"):
        for item in user.get(name) or []:
            if isinstance(item, dict) and isinstance(item.get("_id"), str):
                ids.add(item["_id"])
    return ids


def who(user: dict) -> str:
    return " ".join(x for x in (text_of(user, "firstName"), text_of(user, "lastName"), text_of(user, "email")) if x)


def moment(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def short_json(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."

