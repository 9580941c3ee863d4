"""One policy for text that enters as JSON: it must be Unicode, so it can be stored and sent back.

JSON can carry an unpaired UTF-16 surrogate as an escape (``"\\ud800"``): valid JSON syntax, but
not a Unicode character, so it cannot be encoded as UTF-8 and any answer that contains it fails.
Every place where JSON enters (request bodies, admin API documents, fixture and state files)
rejects such a string where it enters, naming its JSON path. Unescaped surrogates are invalid
UTF-8 and are already refused as such by the byte decoders.

A paired escape (``"\\ud83d\\ude00"``) is one character once parsed and is fine. Checking is
cheap on the common path: only text that contains a surrogate escape at all is walked.
"""

from __future__ import annotations

import re
from typing import Any

# ``\uD800``-``\uDFFF`` as a JSON escape (JSON escapes are a lowercase ``u``, hex of any case).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE_ESCAPE_BYTES = re.compile(_SURROGATE_ESCAPE.pattern.encode())
_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_REPORTED = 20
RULE = "an unpaired UTF-16 surrogate escape, which is not a Unicode character (text must be valid Unicode)"


def may_hold_surrogate(raw: bytes | str) -> bool:
    """False when ``raw`` (JSON text) certainly parses to strings without surrogates."""
    pattern = _SURROGATE_ESCAPE_BYTES if isinstance(raw, bytes) else _SURROGATE_ESCAPE
    return pattern.search(raw) is not None


def surrogate_in(text: str) -> str | None:
    """The first unpaired surrogate of ``text`` as its escape (``\\ud800``), or None."""
    found = _SURROGATE.search(text)
    return None if found is None else f"\\u{ord(found.group()):04x}"


def lone_surrogates(value: Any, root: str = "$", limit: int = MAX_REPORTED) -> list[str]:
    """One line per string (value or key) of a parsed JSON value that holds an unpaired
    surrogate: ``$.customers[0].fullName: ...``; at most ``limit`` lines."""
    found: list[str] = []
    stack: list[tuple[str, Any]] = [(root, value)]
    while stack and len(found) < limit:
        path, item = stack.pop()
        if isinstance(item, str):
            escape = surrogate_in(item)
            if escape is not None:
                found.append(f"{path}: the string has {_rule(escape)}")
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                escape = surrogate_in(key)
                if escape is not None:
                    found.append(f"{path}: a key has {_rule(escape)}")
                    continue
                children.append((f"{path}.{key}" if _plain_key(key) else f"{path}[{key!r}]", child))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(reversed([(f"{path}[{index}]", child) for index, child in enumerate(item)]))
    return found


def _rule(escape: str) -> str:
    return RULE.replace("surrogate escape", f"surrogate escape ({escape})", 1)


def _plain_key(key: str) -> bool:
    return key.isidentifier() or key.replace("_", "a").isalnum()
