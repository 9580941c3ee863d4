"""Read a HAR 1.2 file: the requests an app made, in order, checked before anything is sent.

A HAR file (``log.entries[].request``) comes from the fake's journal export, a Playwright
``recordHar`` run or a browser's "Save all as HAR". :func:`read_har` returns one
:class:`Recorded` per entry, or raises :class:`HarError` with one line that names the entry and
the field at fault. Only what a replay needs is read: the method, the URL, the headers and the
request body (``postData.text``, base64 when ``postData.encoding`` says so, or ``postData.params``
as a form); the recorded answers are not used (the replay asks both sides again).

Bounds, so that a hostile or broken file costs little: the file at most :data:`MAX_FILE_BYTES`,
at most :data:`MAX_ENTRIES` entries, a request body at most :data:`MAX_BODY_BYTES` (the fake's own
limit), a URL at most :data:`MAX_URL_CHARS`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_ENTRIES = 100_000
MAX_BODY_BYTES = 1024 * 1024
MAX_URL_CHARS = 64 * 1024


class HarError(ValueError):
    """The file cannot be replayed; ``str(error)`` is one line."""


@dataclass(frozen=True)
class Recorded:
    """One request of the file, as recorded."""

    number: int  # 1-based position in log.entries
    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    omitted: int = 0  # the body's size when the file says there was one but does not hold it

    @property
    def origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}".lower()

    @property
    def path_and_query(self) -> str:
        parts = urlsplit(self.url)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((value for key, value in self.headers if key.lower() == name), None)


def read_har(path: str | Path) -> list[Recorded]:
    """The entries of the HAR file at ``path``; raises :class:`HarError`."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise HarError(f"{path} is a folder, not a HAR file")
        if size > MAX_FILE_BYTES:
            raise HarError(f"{path} is {size / 1e6:.0f} MB; replay reads HAR files up to {MAX_FILE_BYTES // 2**20} MiB")
        raw = path.read_bytes()
    except OSError as error:
        raise HarError(f"cannot read {path}: {error.strerror or error}") from None
    return parse_har(raw, str(path))


def parse_har(raw: bytes, name: str = "the HAR file") -> list[Recorded]:
    """The entries of a HAR document given as bytes; raises :class:`HarError`."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # a byte-order mark, as some exporters write
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise HarError(f"{name} is not a HAR file: not UTF-8 text (byte {error.start}: a binary file?)") from None
    if not text.strip():
        raise HarError(f"{name} is not a HAR file: it is empty")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise HarError(f"{name} is not a HAR file: invalid JSON at line {error.lineno} column {error.colno}: "
                       f"{error.msg}") from None
    except (ValueError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise HarError(f"{name} is not a HAR file: invalid JSON: {reason}") from None
    log = document.get("log") if isinstance(document, dict) else None
    if not isinstance(log, dict):
        raise HarError(f'{name} is not a HAR file: no "log" object at the top (HAR 1.2: {{"log": {{"entries": [...]}}}})')
    entries = log.get("entries")
    if not isinstance(entries, list):
        raise HarError(f'{name}: log.entries is {"missing" if entries is None else "not a list"}')
    if len(entries) > MAX_ENTRIES:
        raise HarError(f"{name} holds {len(entries)} entries; replay takes at most {MAX_ENTRIES}")
    return [_entry(name, number, entry) for number, entry in enumerate(entries, 1)]


def _entry(name: str, number: int, entry: Any) -> Recorded:
    where = f"{name}: entry {number}"
    if not isinstance(entry, dict):
        raise HarError(f"{where} is not an object")
    request = entry.get("request")
    if not isinstance(request, dict):
        raise HarError(f"{where}: request is {'missing' if request is None else 'not an object'}")
    method = _string(request, "method", where)
    if not method.isascii() or not method.isalpha() or len(method) > 20:
        raise HarError(f"{where}: request.method {method[:30]!r} is not an HTTP method")
    url = _string(request, "url", where)
    if len(url) > MAX_URL_CHARS:
        raise HarError(f"{where}: request.url is {len(url)} characters, over the {MAX_URL_CHARS} a replay takes")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (validates the port)
    except ValueError as error:
        raise HarError(f"{where}: request.url is not a valid URL: {error}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise HarError(f"{where}: request.url {url[:80]!r} is not an absolute http:// or https:// URL")
    headers = request.get("headers")
    if not isinstance(headers, list):
        raise HarError(f"{where}: request.headers is {'missing' if headers is None else 'not a list'}")
    pairs = []
    for position, header in enumerate(headers):
        if not (isinstance(header, dict) and isinstance(header.get("name"), str)
                and isinstance(header.get("value"), str)):
            raise HarError(f"{where}: request.headers[{position}] is not a {{name, value}} pair of strings")
        if any(ch in header["name"] + header["value"] for ch in "\r\n\0"):
            raise HarError(f"{where}: request.headers[{position}] holds a line break or NUL")
        pairs.append((header["name"], header["value"]))
    body = _body(request.get("postData"), where)
    size = request.get("bodySize")
    omitted = size if isinstance(size, int) and not isinstance(size, bool) and size > 0 and not body else 0
    return Recorded(number, method.upper(), url, tuple(pairs), body, omitted)


def _string(request: dict, field: str, where: str) -> str:
    value = request.get(field)
    if not isinstance(value, str) or not value:
        raise HarError(f"{where}: request.{field} is {'missing' if value is None else 'not a non-empty string'}")
    return value


def _body(post: Any, where: str) -> bytes | None:
    if post is None:
        return None
    if not isinstance(post, dict):
        raise HarError(f"{where}: request.postData is not an object")
    text = post.get("text")
    encoding = post.get("encoding")
    if text is None:
        params = post.get("params")
        if not params:
            return None
        if not isinstance(params, list) or not all(
                isinstance(p, dict) and isinstance(p.get("name"), str) and isinstance(p.get("value", ""), str)
                for p in params):
            raise HarError(f"{where}: request.postData.params is not a list of {{name, value}} pairs")
        body = urlencode([(p["name"], p.get("value", "")) for p in params]).encode()
    elif not isinstance(text, str):
        raise HarError(f"{where}: request.postData.text is not a string")
    elif encoding is None:
        try:
            body = text.encode("utf-8")
        except UnicodeEncodeError:
            raise HarError(f"{where}: request.postData.text is not text (a binary body without "
                           '"encoding": "base64")') from None
    elif encoding == "base64":
        try:
            body = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise HarError(f"{where}: request.postData.text is not valid base64 (its encoding says base64)") from None
    else:
        raise HarError(f"{where}: request.postData.encoding {str(encoding)[:30]!r} is not supported (base64 is)")
    if len(body) > MAX_BODY_BYTES:
        raise HarError(f"{where}: the request body is {len(body)} bytes, over the {MAX_BODY_BYTES // 1024} KiB a "
                       "replayed request may carry (the fake's own limit)")
    return body
