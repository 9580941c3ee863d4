"""Helpers of the replay tests: a scripted app session against the fake, its journal
(``GET /__admin/journal``) turned into a HAR 1.2 file, and ``mockserver replay`` run in-process."""

from __future__ import annotations

import io
import json
from pathlib import Path
from urllib.parse import parse_qsl

import requests

from mockserver.app.build import ServerOptions, create_app
from mockserver.cli import build_store
from mockserver.replay.run import ReplayOptions, run_replay
from tests.support import LiveServer

DATA = Path(__file__).resolve().parent / "data"
ACME = "6500000000000000000000a1"
JANE = "6500000000000000000001a1"
ROBERT = "6500000000000000000001a2"
AISHA = "6500000000000000000001a5"  # the user the session updates
MICHAEL = "6500000000000000000001a6"  # the user the session deletes
UNKNOWN = "fffffffffffffffffffffff0"
ADMIN_TOKEN = "replay-test-admin"
INTEGRATION = "integration=cloud-assistant-cdr"
USERS = f"/api/v1/customers/{ACME}/users"

# What a small frontend does, as (method, path and query, JSON body or None, token or None); the entry
# numbers of the HAR file are the positions here, from 1.
SESSION: list[tuple[str, str, dict | None, str | None]] = [
    ("GET", f"{USERS}?{INTEGRATION}", None, "jane-token"),  # 1 the list
    ("GET", f"{USERS}?{INTEGRATION}&search=JANE", None, "jane-token"),  # 2 a search, in capitals
    ("GET", f"{USERS}/lookup", None, "jane-token"),  # 3 who am I
    ("GET", f"{USERS}/{ROBERT}", None, "jane-token"),  # 4 a user
    ("GET", f"{USERS}/{UNKNOWN}", None, "jane-token"),  # 5 a user that is not there
    ("GET", f"{USERS}/{AISHA}", None, "jane-token"),  # 6 the user about to be edited
    ("PATCH", f"{USERS}/{AISHA}", {"jobTitle": "Partner"}, "jane-token"),  # 7 the edit
    ("GET", f"{USERS}/{AISHA}", None, "jane-token"),  # 8 the edited user, read again
    ("DELETE", f"{USERS}/{MICHAEL}?isForwarded=false", None, "jane-token"),  # 9 a delete
    ("GET", f"{USERS}?{INTEGRATION}", None, "jane-token"),  # 10 the list after it
    ("DELETE", f"{USERS}/{MICHAEL}", None, "jane-token"),  # 11 the delete, clicked twice
    ("GET", f"{USERS}?{INTEGRATION}", None, None),  # 12 signed out
]


def run_session(admin_path: str, session=SESSION) -> tuple[str, requests.Response]:
    """Run ``session`` against a fresh fake on a loopback port: (its origin, the admin API's answer to
    ``GET admin_path`` afterwards), read as any tool would."""
    app = create_app(build_store([]), ServerOptions(admin_token=ADMIN_TOKEN))
    with LiveServer(app) as server, requests.Session() as http:
        for method, path, body, token in session:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            http.request(method, server.url + path, json=body, headers=headers, timeout=10)
        answer = http.get(server.url + admin_path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
        answer.raise_for_status()
        return server.url, answer


def journal_of_session(session=SESSION) -> tuple[str, list[dict], list[dict | None]]:
    """(the fake's origin, its journal entries after ``session``, the bodies sent)."""
    origin, answer = run_session("/__admin/journal", session)
    return origin, answer.json()["entries"], [body for _, _, body, _ in session]


def har_from_journal(origin: str, entries: list[dict], bodies: list[dict | None]) -> dict:
    """A HAR 1.2 document of the journal's entries (the journal keeps no bodies: ``bodies`` gives
    the request body of each entry, in order). The masked Authorization is kept as the journal
    shows it: a replay puts its own token in its place."""
    har_entries = []
    for entry, body in zip(entries, bodies, strict=True):
        url = origin + entry["path"] + (f"?{entry['query']}" if entry["query"] else "")
        headers = [{"name": "Accept", "value": "application/json"}]
        if entry["authorization"]:
            headers.append({"name": "Authorization", "value": entry["authorization"]})
        request = {
            "method": entry["method"], "url": url, "httpVersion": "HTTP/1.1", "headers": headers,
            "queryString": [{"name": k, "value": v} for k, v in parse_qsl(entry["query"], keep_blank_values=True)],
            "cookies": [], "headersSize": -1, "bodySize": 0,
        }
        if body is not None:
            text = json.dumps(body)
            headers.append({"name": "Content-Type", "value": "application/json"})
            request["postData"] = {"mimeType": "application/json", "text": text}
            request["bodySize"] = len(text)
        har_entries.append({
            "startedDateTime": entry["timestamp"], "time": entry["durationMs"], "request": request,
            "response": {"status": entry["status"], "statusText": "", "httpVersion": "HTTP/1.1", "headers": [],
                         "cookies": [], "content": {"size": 0, "mimeType": ""}, "redirectURL": "",
                         "headersSize": -1, "bodySize": -1},
            "cache": {}, "timings": {"send": 0, "wait": entry["durationMs"], "receive": 0},
        })
    return {"log": {"version": "1.2", "creator": {"name": "mockserver journal", "version": "1"},
                    "entries": har_entries}}


def session_har(tmp_path: Path, session=SESSION, extra_entries: list[dict] = ()) -> Path:
    """The scripted session's HAR file (journal entries, then ``extra_entries``), written to ``tmp_path``."""
    origin, entries, bodies = journal_of_session(session)
    document = har_from_journal(origin, entries, bodies)
    document["log"]["entries"] += list(extra_entries)
    path = tmp_path / "session.har"
    path.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return path


def page_entry(url: str, method: str = "GET") -> dict:
    """A HAR entry of something else the browser loaded (a page, a script, an image)."""
    return {"startedDateTime": "2026-01-01T00:00:00.000Z", "time": 1,
            "request": {"method": method, "url": url, "httpVersion": "HTTP/1.1", "headers": [], "queryString": [],
                        "cookies": [], "headersSize": -1, "bodySize": 0},
            "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": [], "cookies": [],
                         "content": {"size": 0, "mimeType": "text/html"}, "redirectURL": "", "headersSize": -1,
                         "bodySize": 0},
            "cache": {}, "timings": {"send": 0, "wait": 1, "receive": 0}}


def replay(target, har: Path | str, **options) -> tuple[int, str, str]:
    """``run_replay`` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = run_replay(target, ReplayOptions(har_file=str(har), progress=False, **options), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def journal_har(tmp_path: Path, session=SESSION) -> Path:
    """The scripted session as the fake itself exports it (``GET /__admin/journal.har``), written to
    ``tmp_path``: the file a frontend's CI takes from its e2e run to ``mockserver replay``."""
    _origin, answer = run_session("/__admin/journal.har", session)
    path = tmp_path / "journal.har"
    path.write_bytes(answer.content)
    return path
