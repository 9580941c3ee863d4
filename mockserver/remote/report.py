"""What every remote command's report is made with: token masking, curl lines, answer excerpts,
plain (never wrapped) tables, the restore and verdict lines, and report files.

Every string a report shows goes through a :class:`Redactor`, so the token cannot appear in the
output or the report files even if a server echoes it back.
"""

from __future__ import annotations

import io
import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

MASK = "***"
# Headers a reproduction needs; the rest are transport noise (User-Agent, Accept-Encoding, ...).
KEPT_HEADERS = ("authorization", "content-type")
BODY_EXCERPT = 300


@dataclass
class WireRequest:
    """A request as it went on the wire."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None


@dataclass
class WireResponse:
    """An answer as it came back."""

    status: int
    content_type: str
    body: bytes


_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class Redactor:
    """Replaces the token wherever it occurs."""

    def __init__(self, secrets: tuple[str, ...] = ()):
        self.secrets = tuple(sorted((s for s in secrets if s), key=len, reverse=True))

    @classmethod
    def of_tokens(cls, *tokens: str | None) -> Redactor:
        """A redactor of the tokens, also as they appear inside a JSON string."""
        found: list[str] = []
        for token in tokens:
            if token:
                found += [token, json.dumps(token)[1:-1]]
        return cls(tuple(dict.fromkeys(found)))

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def xml(self, text: str) -> str:
        """Redacted, and without the characters XML 1.0 cannot carry."""
        return _NOT_XML.sub("\ufffd", self(text))


def masked_authorization(value: str) -> str:
    """An Authorization header value with its credentials replaced by the mask (the scheme kept)."""
    scheme = value.split(" ", 1)[0] if " " in value else ""
    return f"{scheme} {MASK}".strip()


def curl_line(request: WireRequest, secrets: tuple[str, ...] | None = None) -> str:
    """One shell line reproducing ``request``.

    Secrets are masked before quoting (quoting could otherwise split one). Without ``secrets``
    every Authorization value is masked; with them, only the secrets are, so the made-up
    credentials of an auth probe stay visible.
    """
    parts = ["curl", "-X", request.method]
    for name, value in request.headers.items():
        lowered = name.lower()
        if lowered.startswith("x-schemathesis") or not (lowered in KEPT_HEADERS or lowered.startswith("x-")):
            continue
        if lowered == "authorization" and secrets is None:
            value = masked_authorization(value)
        parts += ["-H", f"{name}: {_mask(value, secrets)}"]
    if request.body:
        text = request.body.decode("utf-8", errors="backslashreplace")
        parts += ["--data-binary", _mask(text, secrets)]
    parts.append(_mask(request.url, secrets))
    return " ".join(shlex.quote(part) for part in parts)


def _mask(text: str, secrets: tuple[str, ...] | None) -> str:
    for secret in secrets or ():
        text = text.replace(secret, MASK)
    return text


def describe_response(response: WireResponse | None) -> str:
    if response is None:
        return "no response"
    body = " ".join(response.body.decode("utf-8", errors="replace").split())
    if len(body) > BODY_EXCERPT:
        body = body[:BODY_EXCERPT] + f"... ({len(response.body)} bytes)"
    content_type = response.content_type or "no Content-Type"
    return f"{response.status} {content_type}" + (f": {body}" if body else ", empty body")


def line_writer(out: IO[str], redact: Redactor, *, color: bool = False):
    """``say(text, style=None)``: write one redacted line, in colour only when ``color``."""
    styles = {"bold": "\033[1m", "bold red": "\033[1;31m", "bold green": "\033[1;32m"} if color else {}

    def say(text: str = "", style: str | None = None) -> None:
        line = redact(text)
        if style in styles:
            line = f"{styles[style]}{line}\033[0m"
        out.write(line + "\n")

    return say


def write_plain(out: IO[str], redact: Redactor, draw: Callable[[Any], None]) -> None:
    """``draw(console)`` on a 200-column rich console without colour, written to ``out`` redacted,
    trailing spaces and blank edges removed (tables never wrap, so curl lines paste whole)."""
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=200, no_color=True, highlight=False, emoji=False, force_terminal=False)
    draw(console)
    out.write(redact("\n".join(line.rstrip() for line in buffer.getvalue().splitlines()).strip("\n")) + "\n")


def say_restore_and_verdict(say, restore, verdict: str, exit_code: int) -> None:
    """The restore of the ``--user-id`` users (when there was one), then the verdict line."""
    if restore is not None:
        say()
        say("Restore of --user-id users:" + ("" if restore.ok else " FAILED"), "bold")
        for line in restore.lines():
            say(f"  {line}")
    say()
    say(verdict, "bold green" if exit_code == 0 else "bold red")


def write_report(path: str | Path, text: str) -> None:
    """Write a report file (its folder made if needed), atomically: a temporary file, then a rename."""
    from mockserver.core.files import write_atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text.encode("utf-8"))
