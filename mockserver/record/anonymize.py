"""``--anonymize``: deterministic fake names, nicknames, emails and firm names for a recording.

A keyed hash (HMAC-SHA256) of the real value picks from :mod:`mockserver.fixtures.generate`'s word lists: the
same real value always becomes the same fake value (in every user, customer and run, for one key),
and emails stay unique within the customer.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from typing import Any

ANONYMIZE_KEY_ENV = "MOCKSERVER_ANONYMIZE_KEY"
# The default key makes anonymised files reproducible everywhere; with a secret key (the option
# or the environment variable) a reader cannot test a guessed real value against a fake one.
DEFAULT_ANONYMIZE_KEY = "mockserver-record-anonymize-v1"


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return "".join(ch for ch in ascii_text if ch.isalnum())


class Anonymizer:
    """Deterministic fake names, nicknames, emails and firm names: a keyed hash (HMAC-SHA256) of
    the real value picks from :mod:`mockserver.fixtures.generate`'s word lists. Never returns the real
    value itself. Names are keyed case-insensitively, so the words of an email address become the
    same fake words as the names they spell (``jane.doe@...`` of Jane Doe becomes ``ryan.myers.<hash>@...``
    of Ryan Myers)."""

    def __init__(self, key: str | None = None):
        from mockserver.fixtures import generate
        self._key = (key or DEFAULT_ANONYMIZE_KEY).encode("utf-8", "surrogateescape")  # argv bytes as given
        self._first = generate.FIRST_NAMES
        self._last = generate.LAST_NAMES
        self._nick = tuple(dict.fromkeys(generate.NICKNAMES.values()))
        self._emails: dict[str, dict[str, str]] = {}  # customer -> fake address -> real address (casefolded)

    def _digest(self, kind: str, value: str) -> bytes:
        return hmac.new(self._key, f"{kind}\x00{value}".encode("utf-8", "surrogatepass"), hashlib.sha256).digest()

    def _pick(self, kind: str, real: str, pool: tuple[str, ...], salt: int = 0) -> str:
        digest = self._digest(kind, real.casefold())
        start = int.from_bytes(digest[salt * 8 : salt * 8 + 8], "big") % len(pool)
        for offset in range(len(pool)):
            candidate = pool[(start + offset) % len(pool)]
            if candidate.casefold() != real.casefold():
                return candidate
        return pool[start]  # pragma: no cover (a pool of one word equal to the real value)

    def first_name(self, real: str) -> str:
        return self._pick("first", real, self._first) if real else real

    def last_name(self, real: str) -> str:
        return self._pick("last", real, self._last) if real else real

    def nickname(self, real: str) -> str:
        return self._pick("nickname", real, self._nick) if real else real

    def customer_name(self, real: str) -> str:
        first = self._pick("fullName", real, self._last)
        second = self._pick("fullName", real, self._last, salt=1)
        return f"{first} {second} LLP" if first != second else f"{first} LLP"

    def _domain(self, real: str) -> str:
        first = _slug(self._pick("domain", real, self._last))
        second = _slug(self._pick("domain", real, self._last, salt=1))
        return f"{first}-{second}.example"

    def email(self, real: str, customer_id: str = "") -> str:
        """A fake address for ``real``: the same real address (case-insensitively) always gives
        the same fake one; unique within ``customer_id`` among the addresses made here."""
        key = real.casefold()
        local, _, domain = key.rpartition("@")
        words = re.findall(r"[^\W\d_]+", local)[:3]
        fake_words = [
            _slug(self.first_name(word) if index == 0 else self.last_name(word)) for index, word in enumerate(words)
        ]
        stem = ".".join(word for word in fake_words if word) or "user"
        digest = self._digest("email", key).hex()
        fake_domain = self._domain(domain or key)
        taken = self._emails.setdefault(customer_id, {})
        for length in (6, 12, 24, 64):
            candidate = f"{stem}.{digest[:length]}@{fake_domain}"
            if taken.setdefault(candidate, key) == key:
                return candidate
        counter = 2  # pragma: no cover (a 256-bit collision)
        while True:  # pragma: no cover
            candidate = f"{stem}.{digest}-{counter}@{fake_domain}"
            if taken.setdefault(candidate, key) == key:
                return candidate
            counter += 1

    def user(self, user: dict[str, Any], customer_id: str) -> dict[str, Any]:
        """``user`` (fixture vocabulary) with its names, nickname and email replaced."""
        out = dict(user)
        for name, fake in (("firstName", self.first_name), ("lastName", self.last_name), ("nickname", self.nickname)):
            if isinstance(out.get(name), str):
                out[name] = fake(out[name])
        if isinstance(out.get("email"), str):
            out["email"] = self.email(out["email"], customer_id)
        return out
