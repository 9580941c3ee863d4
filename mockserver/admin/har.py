"""The request journal as an HTTP Archive (HAR 1.2), for ``GET /__admin/journal.har``.

What browsers' developer tools, Playwright (``routeFromHAR``) and proxies read. Built from the
journal's rendered entries, so secrets are already masked (``Authorization``, cookies, token-like
headers); query parameters named like a secret are masked here too. A body the journal cut at its
bound is exported as far as it was kept, with a ``comment`` saying so.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from mockserver.features.journal import MASK, is_secret_header

HAR_VERSION = "1.2"


def har_document(entries: list[dict[str, Any]], base_url: str, version: str) -> dict[str, Any]:
    return {"log": {"version": HAR_VERSION, "creator": {"name": "mockserver", "version": version},
                    "entries": [_entry(entry, base_url) for entry in entries]}}


def _pairs(headers: dict[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in headers.items()]


def _entry(entry: dict[str, Any], base_url: str) -> dict[str, Any]:
    request, response = entry["request"], entry["response"]
    query = [(name, MASK if is_secret_header(name) else value)
             for name, value in parse_qsl(entry["query"], keep_blank_values=True)]
    target = entry["path"] + ("?" + "&".join(f"{n}={v}" for n, v in query) if query else "")
    host = request["headers"].get("host")
    url = (base_url.split("://")[0] + "://" + host if host else base_url) + target
    har_request: dict[str, Any] = {
        "method": entry["method"], "url": url, "httpVersion": "HTTP/1.1", "cookies": [],
        "headers": _pairs(request["headers"]), "queryString": [{"name": n, "value": v} for n, v in query],
        "headersSize": -1, "bodySize": request["body"]["size"],
    }
    asked = request["body"]
    if asked["text"] is not None:
        har_request["postData"] = {"mimeType": asked.get("contentType", "application/octet-stream"),
                                   "text": asked["text"]}
        comments = (["the body is not UTF-8: text is its base64"] if asked.get("encoding") else []) + (
            [f"cut at the journal's bound: {asked['size']} bytes were sent"] if asked["truncated"] else [])
        if comments:
            har_request["postData"]["comment"] = "; ".join(comments)
    answered = response["body"]
    content: dict[str, Any] = {"size": answered["size"], "mimeType": answered.get("contentType", "")}
    if answered["text"] is not None:
        content["text"] = answered["text"]
        if answered.get("encoding"):
            content["encoding"] = answered["encoding"]
        if answered["truncated"]:
            content["comment"] = f"cut at the journal's bound: {answered['size']} bytes were sent"
    status = entry["status"]
    try:
        status_text = HTTPStatus(status).phrase
    except ValueError:
        status_text = ""
    notes = "; ".join(entry["notes"])
    har_entry: dict[str, Any] = {
        "startedDateTime": entry["timestamp"],
        "time": entry["durationMs"],
        "request": har_request,
        "response": {"status": status, "statusText": status_text, "httpVersion": "HTTP/1.1", "cookies": [],
                     "headers": _pairs(response["headers"]), "content": content,
                     "redirectURL": response["headers"].get("location", ""), "headersSize": -1,
                     "bodySize": answered["size"]},
        "cache": {},
        "timings": {"send": 0, "wait": entry["durationMs"], "receive": 0},
    }
    if notes:
        har_entry["comment"] = notes
    return har_entry
