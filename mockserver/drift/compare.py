"""Compare the target's and the fake's answers to one request: what differs, named and located.

Plain functions over :class:`~mockserver.contract.results.WireResponse` pairs; nothing here sends
or prints. A :class:`Difference` has a kind (below), a JSON path (``$.email``, ``$[*].roles[*].name``:
array elements of the same item are one path, so one difference seen in every user is one line)
and what each side showed.

Kinds, in the order a report lists them:

``status``        the status codes differ (the bodies are then not compared: they answer different things)
``content-type``  the media types differ (``application/json`` against ``application/problem+json``, ...)
``error-format``  both are errors, and their bodies have a different shape (keys and types, two
                  levels deep), or a different ``status`` member; the wording of ``title`` and
                  ``detail`` is the server's own and is not compared
``field``         a field is in one answer and not in the other
``type``          a field has a different JSON type (string against number, ...)
``format``        two non-empty strings have a different format: date-time (with its precision
                  and zone style), ObjectId, email, or other text
``value``         same type and format, different value (not for volatile or ``--ignore`` fields,
                  which are compared by shape only)
``items``         a list holds items (matched by ``_id``) the other does not
``order``         a list holds the same items in another order

A request one side did not answer (connection error, timeout) is not compared: the run reports it
as an error, not as a difference.

Meaning or form. Every difference is one or the other (:attr:`Difference.form`); a run fails by
default only on differences in meaning (``--fail-on form`` fails on both). Form, where the
documents leave the choice to the deployment: a field only the target has (responses are open),
an error body whose shape differs only by members the target adds or by wording, a date-time of
another precision or zone style, another order *inside* a user (``roles``, ``delegates``: no order
is documented there). Meaning, everything else: statuses, media types, values, types, a
documented field the target leaves out, the list's items and its order (ascending ``_id`` is
documented), ``createdAt`` as an instant (it never changes), and whether ``updatedAt`` moved
(:class:`Timeline`: it moves forward on every successful PATCH and only then).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mockserver.contract.results import WireResponse
from mockserver.spec import rules

VOLATILE_FIELDS = ("createdAt", "updatedAt")
# Compared as instants (their precision is form): createdAt never changes (docs/choices.md).
INSTANT_FIELDS = ("createdAt",)
# Members of a problem (RFC 9457) the documents promise: one missing on the target is meaning.
PROBLEM_MEMBERS = ("type", "title", "status", "detail")
MEANING, FORM = "meaning", "form"
FAIL_ON = (MEANING, FORM)
KINDS = ("status", "content-type", "error-format", "field", "type", "format", "value", "items", "order")

_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(?P<fraction>\.\d+)?)?(?P<zone>[Zz]|[+-]\d{2}:?\d{2})?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_SHORT = 80


@dataclass(frozen=True)
class Difference:
    kind: str
    where: str  # a JSON path, or "" for the whole answer
    target: str  # what the target showed (short, readable)
    fake: str  # what the fake showed
    form: bool = False  # a difference in form only (see the module's note), not in meaning

    @property
    def nature(self) -> str:
        return FORM if self.form else MEANING


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def string_format(value: str) -> str:
    """A coarse format class; date-times also say their precision and zone style."""
    if value == "":
        return "empty"
    if _OBJECT_ID.match(value):
        return "objectid"
    match = _DATE_TIME.match(value)
    if match:
        fraction = match["fraction"]
        zone = match["zone"]
        precision = f"{len(fraction) - 1} fractional digits" if fraction else "whole seconds"
        style = "Z" if zone in ("Z", "z") else ("offset" if zone else "no zone")
        return f"date-time ({precision}, {style})"
    if _EMAIL.match(value):
        return "email"
    return "text"


def short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= _SHORT else text[: _SHORT - 3] + "..."


def _parse(response: WireResponse) -> tuple[bool, Any]:
    if not response.body:
        return False, None
    try:
        return True, json.loads(response.body)
    except (ValueError, UnicodeDecodeError):
        return False, None


def _body_kind(response: WireResponse, parsed: bool) -> str:
    if not response.body:
        return "empty body"
    return "JSON body" if parsed else f"non-JSON body ({len(response.body)} bytes)"


def shape(value: Any, depth: int = 2) -> str:
    """The shape of a JSON value: ``{detail: string, status: integer}``, keys sorted."""
    kind = json_type(value)
    if kind == "object" and depth > 0:
        return "{" + ", ".join(f"{key}: {shape(value[key], depth - 1)}" for key in sorted(value)) + "}"
    if kind == "array" and depth > 0 and value:
        return "[" + shape(value[0], depth - 1) + "]"
    return kind


class Comparer:
    """Compares answer pairs. ``shape_only``: field names whose values are compared by shape only
    (besides the volatile timestamps)."""

    def __init__(self, shape_only: Iterable[str] = ()):
        self.ignored = frozenset(name for name in shape_only if name)
        self.shape_only = frozenset(VOLATILE_FIELDS) | self.ignored

    def compare(self, target: WireResponse, fake: WireResponse) -> list[Difference]:
        if target.status != fake.status:
            return [Difference("status", "", str(target.status), str(fake.status))]
        differences = []
        target_type, fake_type = media_type(target.content_type), media_type(fake.content_type)
        if target_type != fake_type:
            differences.append(Difference("content-type", "", target_type or "none", fake_type or "none"))
        target_ok, target_json = _parse(target)
        fake_ok, fake_json = _parse(fake)
        if target.status >= 400:
            return differences + self._error_format(target, target_ok, target_json, fake, fake_ok, fake_json)
        if not (target_ok and fake_ok):
            if target_ok != fake_ok or bool(target.body) != bool(fake.body):
                differences.append(
                    Difference("type", "$", _body_kind(target, target_ok), _body_kind(fake, fake_ok))
                )
            return differences
        return differences + self.walk("$", target_json, fake_json)

    def _error_format(self, target, target_ok, target_json, fake, fake_ok, fake_json) -> list[Difference]:
        if not (target_ok and fake_ok):
            if target_ok != fake_ok or bool(target.body) != bool(fake.body):
                return [Difference("error-format", "$", _body_kind(target, target_ok), _body_kind(fake, fake_ok))]
            return []
        target_shape, fake_shape = shape(target_json), shape(fake_json)
        if target_shape != fake_shape:
            missing = (isinstance(fake_json, dict) and any(
                name in fake_json and not (isinstance(target_json, dict) and name in target_json)
                for name in PROBLEM_MEMBERS))
            return [Difference("error-format", "$", target_shape, fake_shape, form=not missing)]
        if isinstance(target_json, dict) and target_json.get("status") != fake_json.get("status"):
            return [Difference("error-format", "$.status", short(target_json.get("status")), short(fake_json.get("status")))]
        return []

    def walk(self, path: str, target: Any, fake: Any, name: str | None = None) -> list[Difference]:
        target_kind, fake_kind = json_type(target), json_type(fake)
        if target_kind != fake_kind:
            return [Difference("type", path, target_kind, fake_kind)]
        if target_kind == "object":
            return self._objects(path, target, fake)
        if target_kind == "array":
            return self._arrays(path, target, fake, name)
        if name in self.shape_only:
            if target_kind == "string" and string_format(target) != string_format(fake):
                return [Difference("format", path, string_format(target), string_format(fake),
                                   form=_same_class(target, fake))]
            if name in INSTANT_FIELDS and name not in self.ignored and target_kind == "string" \
                    and not _same_instant(target, fake):
                return [Difference("value", path, short(target), short(fake))]
            return []
        if target == fake:
            return []
        if target_kind == "string" and target and fake:
            target_format, fake_format = string_format(target), string_format(fake)
            if target_format != fake_format:
                return [Difference("format", path, target_format, fake_format, form=_same_class(target, fake))]
        return [Difference("value", path, short(target), short(fake))]

    def _objects(self, path: str, target: dict, fake: dict) -> list[Difference]:
        # A field only the target has: responses are open (form). One it leaves out: meaning.
        differences = [Difference("field", f"{path}.{key}", "present", "absent", form=True)
                       for key in target if key not in fake]
        differences += [Difference("field", f"{path}.{key}", "absent", "present") for key in fake if key not in target]
        for key in target:
            if key in fake:
                differences += self.walk(f"{path}.{key}", target[key], fake[key], key)
        return differences

    def _arrays(self, path: str, target: list, fake: list, name: str | None) -> list[Difference]:
        items = f"{path}[*]"
        if (target or fake) and all(_has_id(item) for item in (*target, *fake)):
            target_ids = [item["_id"] for item in target]
            fake_ids = [item["_id"] for item in fake]
            differences = []
            only_target = [i for i in target_ids if i not in set(fake_ids)]
            only_fake = [i for i in fake_ids if i not in set(target_ids)]
            if only_target or only_fake:
                differences.append(Difference("items", path, _ids_text(only_target), _ids_text(only_fake)))
            common = set(target_ids) & set(fake_ids)
            if [i for i in target_ids if i in common] != [i for i in fake_ids if i in common]:
                # The list's order is documented (ascending _id); the order inside a user is not.
                differences.append(Difference("order", path, "another order", "another order", form=path != "$"))
            by_id = {item["_id"]: item for item in fake}
            for item in target:
                if item["_id"] in by_id:
                    differences += self.walk(items, item, by_id[item["_id"]], name)
            return differences
        if name in self.shape_only:
            target_kinds = sorted({json_type(item) for item in target})
            fake_kinds = sorted({json_type(item) for item in fake})
            if target and fake and target_kinds != fake_kinds:
                return [Difference("type", items, "/".join(target_kinds), "/".join(fake_kinds))]
            return []
        if all(json_type(item) not in ("object", "array") for item in (*target, *fake)):
            return [] if target == fake else [Difference("value", path, short(target), short(fake))]
        differences = []
        if len(target) != len(fake):
            differences.append(Difference("items", path, f"{len(target)} items", f"{len(fake)} items"))
        for left, right in zip(target, fake, strict=False):
            differences += self.walk(items, left, right, name)
        return differences


def _same_class(target: str, fake: str) -> bool:
    """Both date-times (of another precision or zone style: form), or not."""
    return string_format(target).startswith("date-time") and string_format(fake).startswith("date-time")


def _same_instant(target: str, fake: str) -> bool:
    from mockserver.core.clock import parse_timestamp

    try:
        return parse_timestamp(target) == parse_timestamp(fake)
    except ValueError:
        return target == fake


def meaning_only(differences: Iterable[Difference]) -> list[Difference]:
    return [difference for difference in differences if not difference.form]


class Precision:
    """The evidence, over a whole run (every sequence's :class:`Timeline` shares one), that the target
    keeps ``updatedAt`` to whole seconds: at least :attr:`EVIDENCE` updates seen moving on both sides,
    nine in ten of them within :attr:`NEAR_SECOND_MS` of a second there (or 1 ms past the user's
    previous value: updated again within its second), not so on the fake, in at least :attr:`SECONDS`
    different seconds. Updates come in bursts a few ms apart, and a rate limit's whole-second waits
    keep their phase: a few updates in a row near a second are no evidence."""

    EVIDENCE = 8
    SECONDS = 3
    NEAR_SECOND_MS = 10

    def __init__(self) -> None:
        self.updates = 0  # updates seen moving on both sides
        self.near_target = 0  # of them, near a whole second on the target
        self.near_fake = 0  # ... on the fake
        self.near_seconds: set[int] = set()  # the target's whole seconds they were in (at most SECONDS kept)
        self.reported = False

    def observe(self, where: str, now: tuple[str, str], before: tuple[str, str]) -> list[Difference]:
        """One update seen moving on both sides (``now`` and ``before``: target's and fake's values): a
        difference in form, once a run, when the evidence is complete."""
        from mockserver.core.clock import parse_timestamp

        if self.reported:
            return []
        try:
            mine, theirs = parse_timestamp(now[0]), parse_timestamp(now[1])
            bumped = (mine - parse_timestamp(before[0]) == _ONE_MS, theirs - parse_timestamp(before[1]) == _ONE_MS)
        except ValueError:
            return []
        self.updates += 1
        near = self.NEAR_SECOND_MS * 1000
        if mine.microsecond < near and len(self.near_seconds) < self.SECONDS:
            self.near_seconds.add(int(mine.timestamp()))
        self.near_target += mine.microsecond < near or bumped[0]
        self.near_fake += theirs.microsecond < near or bumped[1]
        most = 0.9 * self.updates
        if (self.updates < self.EVIDENCE or self.near_target < most or self.near_fake >= most
                or len(self.near_seconds) < self.SECONDS):
            return []
        self.reported = True
        return [Difference("format", where, f"whole seconds ({self.near_target} of {self.updates} updates within "
                           f"{self.NEAR_SECOND_MS} ms of a second, in {len(self.near_seconds)}+ different seconds)",
                           "milliseconds of the time of the update", form=True)]


class Timeline:
    """``updatedAt`` as the documents decide it, across a sequence: per user, whether it changed
    since the answer before, on each side. A user whose ``updatedAt`` moved on one side and not on
    the other is a difference in meaning (a write the other side lost, or a rejected write that
    changed something); on the target it must move forward, never back. Its precision is form
    (:class:`Precision`, shared by the run's timelines)."""

    def __init__(self, precision: Precision | None = None) -> None:
        self.seen: dict[str, tuple[str, str]] = {}
        self.precision = precision if precision is not None else Precision()

    def start(self, users: Iterable[dict]) -> None:
        """Both sides start from ``users`` (the recorded ones): each one's ``updatedAt`` is known."""
        for user in users:
            if isinstance(user.get("_id"), str) and isinstance(user.get("updatedAt"), str):
                self.seen[user["_id"]] = (user["updatedAt"], user["updatedAt"])

    def forget(self, user_id: str) -> None:
        self.seen.pop(user_id, None)

    def observe_answers(self, target: WireResponse, fake: WireResponse) -> list[Difference]:
        """:meth:`observe` for two answers (only when both are 200 with a JSON body)."""
        if target.status != 200 or fake.status != 200:
            return []
        (_, target_json), (_, fake_json) = _parse(target), _parse(fake)
        return self.observe(target_json, fake_json)

    def observe(self, target: Any, fake: Any) -> list[Difference]:
        differences: list[Difference] = []
        target_users = {u["_id"]: u for u in _users_in(target)}
        for user in _users_in(fake):
            mine = target_users.get(user["_id"])
            if mine is None:
                continue
            now = (mine.get("updatedAt"), user.get("updatedAt"))
            if not all(isinstance(value, str) for value in now):
                continue
            before = self.seen.get(user["_id"])
            self.seen[user["_id"]] = now
            if before is None:
                continue
            moved = (now[0] != before[0], now[1] != before[1])
            where = f"$.updatedAt of {user['_id']}"
            if moved[0] != moved[1]:
                said = {True: "moved", False: "did not move"}
                differences.append(Difference("value", where, f"{said[moved[0]]} ({before[0]} -> {now[0]})",
                                              f"{said[moved[1]]}"))
            elif moved[0] and not rules.moved_forward(before[0], now[0]):
                differences.append(Difference("value", where, f"went from {before[0]} to {now[0]}", "moved forward"))
            elif moved[0]:
                differences += self.precision.observe(where, now, before)
        return differences


_ONE_MS = timedelta(milliseconds=1)


def _users_in(body: Any) -> list[dict]:
    items = body if isinstance(body, list) else [body]
    return [item for item in items if isinstance(item, dict) and isinstance(item.get("_id"), str)
            and "updatedAt" in item]


def _has_id(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("_id"), str)


def _ids_text(ids: list[str]) -> str:
    if not ids:
        return "none only here"
    shown = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
    return f"{len(ids)} only here: {shown}"
