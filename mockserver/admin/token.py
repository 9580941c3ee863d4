"""The admin token a server starts with: given (``--admin-token``), kept beside the ``--state-file``, or new.

With a state file, the first start writes a random token to ``<state file>.admin-token`` (owner-only, mode
0600) and every later start with the same state file reads it back, so the dashboard's tab and a bookmarked
``/__admin/ui/#token=...`` link keep working across restarts. Without a state file, each start has a new token.
"""

from __future__ import annotations

import secrets
from pathlib import Path

SUFFIX = ".admin-token"


class AdminTokenError(Exception):
    """The kept token file cannot be read or written."""


def new_admin_token() -> str:
    return "admin-" + secrets.token_urlsafe(12)


def token_file(state_file: str | Path) -> Path:
    return Path(f"{state_file}{SUFFIX}")


def admin_token_for(given: str | None, state_file: str | Path | None) -> str:
    if given:
        return given
    if not state_file:
        return new_admin_token()
    from mockserver.core.files import write_atomic

    path = token_file(state_file)
    try:
        kept = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        kept = ""
    except (OSError, UnicodeDecodeError) as err:
        raise AdminTokenError(f"cannot read the kept admin token {path}: {getattr(err, 'strerror', None) or err}") from None
    if kept and kept.isascii() and kept.isprintable() and " " not in kept and len(kept) <= 200:
        return kept
    token = new_admin_token()
    try:
        write_atomic(path, (token + "\n").encode(), mode=0o600)
    except OSError as err:
        raise AdminTokenError(f"cannot keep the admin token in {path}: {err.strerror or err}") from None
    return token
