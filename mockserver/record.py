"""``mockserver record URL``: read one customer of a live deployment and write it as a fixture file.

Only GET requests reach the deployment (the list, each user, the token's identity lookup), and the
contract runner's transport guard (:func:`mockserver.contract.safety.guard_requests`, read-only
policy) refuses anything else before it is sent. Options, pre-flight, rate limit and token
handling are the contract runner's (:func:`mockserver.contract.runner.plan_run`), so a URL, a
token or a customer id is accepted or refused with the same words by ``contract``, ``record`` and
``drift``.

What the answers become (the README's fixture format, checked with :class:`FixtureLoader` before
anything is written):

- a user is the User object without the response-only fields (``roles``, ``delegates``,
  ``delegators``, ``customer``), plus ``roleIds`` (from ``roles[]._id``), ``delegateIds`` (from
  ``delegates[]._id``, only those that name a recorded user) and ``identities`` (``type`` and
  ``value``). Fields the contract does not define are dropped (and counted on stderr): the
  fixture format is closed.
- the customer's roles are the union of its users' roles, as the deployment shows them (with
  their permissions); roles no user holds are not visible through this API and are missing.
- groups are the union of the users' ``groupIds``; the API shows no group names, so each is
  called ``Group <last 6 characters of its id>``.
- the customer's ``fullName`` is the first ``customer.fullName`` a user carries, else
  ``Recorded customer <id>``.
- tokens are new and local, never the one used for recording: ``recorded-admin-token`` (the whole
  customer) and ``recorded-user-token``, bound to the user the recording token's identity lookup
  names, else to the first user (by ``_id``) with an identity.

``--anonymize`` replaces first names, last names, nicknames, emails and the customer's name with
values drawn from :mod:`mockserver.generate`'s word lists by an HMAC-SHA256 of the real value: the
same real value always becomes the same fake value (in every user, customer and run, for one key),
ids are kept so every relation stays intact, and emails stay unique within the customer.

The file is written at the very end, through a temporary file and a rename: Ctrl-C or SIGTERM at
any point leaves either no file or the previous one, never half of one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mockserver.contract.report import Redactor
from mockserver.contract.restore import Client
from mockserver.contract.safety import OBJECT_ID, UsageProblem
from mockserver.operations import INTEGRATION

ADMIN_TOKEN = "recorded-admin-token"
USER_TOKEN = "recorded-user-token"
ANONYMIZE_KEY_ENV = "MOCKSERVER_ANONYMIZE_KEY"
# The default key makes anonymised files reproducible everywhere; with a secret key (the option
# or the environment variable) a reader cannot test a guessed real value against a fake one.
DEFAULT_ANONYMIZE_KEY = "mockserver-record-anonymize-v1"
RESPONSE_ONLY = ("roles", "delegates", "delegators", "customer")
USER_AGENT = "mockserver-record"
# Below this many users no progress lines are printed (a terminal still gets a bar).
PROGRESS_MIN_TOTAL = 100
RECORDED, COULD_NOT_RECORD = 0, 2


class RecordError(Exception):
    """The recording cannot be completed; ``str(err)`` is one readable line."""


# -- options ------------------------------------------------------------------------------------


@dataclass
class RecordOptions:
    customer_id: str
    output: str
    token: str | None = None
    anonymize: bool = False
    anonymize_key: str | None = None
    rate_limit: str | None = None  # None: the target's default (10/s non-loopback, none loopback)
    request_timeout: float = 10.0
    progress: bool | None = None  # None: a bar on a terminal, plain lines otherwise


# -- reading the deployment ---------------------------------------------------------------------


@dataclass
class Recording:
    """What the deployment answered, as it answered it."""

    customer_id: str
    users: list[dict[str, Any]]  # GET answers, in the list's order
    identity: dict[str, Any] | None  # the token's lookup answer (None: 404 or no answer)
    gone: list[str] = field(default_factory=list)  # listed, then 404 when read
    notes: list[str] = field(default_factory=list)


class Progress:
    """``done/total`` on stderr: a rich bar on a terminal, else a plain line every tenth."""

    def __init__(self, err: IO[str], what: str, total: int, *, bar: bool | None = None, prefix: str = "record"):
        self.err, self.what, self.total, self.prefix = err, what, total, prefix
        self.done = 0
        self._step = max(1, total // 10)
        self._bar = None
        use_bar = bar if bar is not None else bool(getattr(err, "isatty", lambda: False)())
        if use_bar and total:
            from rich.console import Console
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(console=Console(file=err), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(f"{prefix}: {what}", total=total)
        elif total >= PROGRESS_MIN_TOTAL:
            self.err.write(f"{prefix}: 0/{total} {what}\n")
            self.err.flush()

    def advance(self) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.advance(self._task)
        elif self.total >= PROGRESS_MIN_TOTAL and (self.done % self._step == 0 or self.done == self.total):
            self.err.write(f"{self.prefix}: {self.done}/{self.total} {self.what}\n")
            self.err.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def users_path(customer_id: str) -> str:
    return f"/api/v1/customers/{customer_id}/users"


def capture(
    client: Client,
    customer_id: str,
    *,
    limiter: Any = None,
    progress: Callable[[int], Progress] | None = None,
) -> Recording:
    """GET the list, each listed user and the token's identity; raises :class:`RecordError`.

    ``limiter`` (a Schemathesis/pyrate limiter or anything with ``try_acquire(label)``) is asked
    before every request; ``progress(total)`` makes the progress display for the users.
    """
    import requests

    def get(path: str, **params: str) -> requests.Response:
        def send() -> requests.Response:
            if limiter is not None:
                limiter.try_acquire(client.origin)
            return client.request("GET", path, params=params or None)

        try:
            return retry_after_429(send)
        except requests.RequestException as error:
            from mockserver.contract.runner import network_reason

            raise RecordError(f"cannot reach {client.origin}: {network_reason(error)} (GET {path})") from None

    listing = get(users_path(customer_id), integration=INTEGRATION)
    if listing.status_code != 200:
        raise RecordError(f"GET {users_path(customer_id)} answered {listing.status_code}, not 200")
    listed = _json(listing)
    if not isinstance(listed, list) or not all(
        isinstance(user, dict) and isinstance(user.get("_id"), str) and OBJECT_ID.match(user["_id"]) for user in listed
    ):
        raise RecordError(f"GET {users_path(customer_id)} did not answer a JSON array of users with ObjectId _id")
    ids = list(dict.fromkeys(user["_id"] for user in listed))
    recording = Recording(customer_id=customer_id, users=[], identity=None)
    shown = progress(len(ids)) if progress is not None else None
    try:
        for user_id in ids:
            path = f"{users_path(customer_id)}/{user_id}"
            answer = get(path)
            if answer.status_code == 404:
                recording.gone.append(user_id)  # deleted between the list and now
            elif answer.status_code != 200:
                raise RecordError(f"GET {path} answered {answer.status_code}, not 200")
            else:
                user = _json(answer)
                if not isinstance(user, dict) or user.get("_id") != user_id:
                    raise RecordError(f"GET {path} did not answer the user {user_id} as a JSON object")
                recording.users.append(user)
            if shown is not None:
                shown.advance()
    finally:
        if shown is not None:
            shown.close()
    lookup = get(f"{users_path(customer_id)}/lookup")
    identity = _json(lookup) if lookup.status_code == 200 else None
    if isinstance(identity, dict) and isinstance(identity.get("type"), str) and isinstance(identity.get("value"), str):
        recording.identity = identity
    elif lookup.status_code != 404:
        recording.notes.append(f"the identity lookup answered {lookup.status_code}; {USER_TOKEN} is bound to the first "
                               "user with an identity")
    if recording.gone:
        recording.notes.append(f"{len(recording.gone)} listed user(s) were gone when read (404) and are not recorded")
    return recording


RETRIES_AFTER_429 = 3


def retry_after_429(send: Callable[[], Any], retries: int = RETRIES_AFTER_429) -> Any:
    """``send()``, again after a 429 Too Many Requests (waiting its Retry-After, at most a
    minute, else a second), at most ``retries`` more times: the deployment's own rate limit."""
    from schemathesis.core.rate_limit import parse_retry_after

    for _attempt in range(retries):
        response = send()
        if response.status_code != 429:
            return response
        delay = parse_retry_after(response.headers.get("Retry-After", ""))
        time.sleep(1.0 if delay is None else delay)
    return send()


def _json(response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


# -- anonymisation ------------------------------------------------------------------------------


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return "".join(ch for ch in ascii_text if ch.isalnum())


class Anonymizer:
    """Deterministic fake names, nicknames, emails and firm names: a keyed hash (HMAC-SHA256) of
    the real value picks from :mod:`mockserver.generate`'s word lists. Never returns the real
    value itself. Names are keyed case-insensitively, so the words of an email address become the
    same fake words as the names they spell (``jane.doe@...`` of Jane Doe becomes ``ryan.myers.<hash>@...``
    of Ryan Myers)."""

    def __init__(self, key: str | None = None):
        from mockserver import generate

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


# -- building the fixture document --------------------------------------------------------------


def fixture_user_fields() -> frozenset[str]:
    """The fields a fixture user may have (the contract's User, as the fixture format extends it)."""
    from mockserver.fixtures import fixture_schema

    customer = fixture_schema()["properties"]["customers"]["items"]
    return frozenset(customer["properties"]["users"]["items"]["properties"])


def _ids(items: Any) -> list[str]:
    if not isinstance(items, list):
        return []
    found = []
    for item in items:
        value = item.get("_id") if isinstance(item, dict) else item
        if isinstance(value, str):
            found.append(value)
    return list(dict.fromkeys(found))


def fixture_user(answer: dict[str, Any], allowed: frozenset[str]) -> tuple[dict[str, Any], list[str]]:
    """A GET answer in the fixture vocabulary, and the names of the fields dropped from it."""
    relations = ("roleIds", "delegateIds", "identities")
    user = {key: value for key, value in answer.items() if key in allowed and key not in relations}
    dropped = [key for key in answer if key not in allowed and key not in RESPONSE_ONLY]
    user["roleIds"] = _ids(answer["roles"]) if isinstance(answer.get("roles"), list) else _ids(answer.get("roleIds"))
    user["delegateIds"] = (
        _ids(answer["delegates"]) if isinstance(answer.get("delegates"), list) else _ids(answer.get("delegateIds"))
    )
    user["identities"] = [
        {"type": identity["type"], "value": identity["value"]}
        for identity in answer.get("identities") or ()
        if isinstance(identity, dict) and "type" in identity and "value" in identity
    ]
    return user, dropped


def bound_user(users: list[dict[str, Any]], identity: dict[str, Any] | None) -> str | None:
    """The user whose identities hold ``identity`` (type and value), else None."""
    if not identity:
        return None
    for user in users:
        for own in user.get("identities") or ():
            if own.get("type") == identity.get("type") and own.get("value") == identity.get("value"):
                return user["_id"]
    return None


def local_token(name: str, real: str | None) -> str:
    """``name``, unless the real token is part of it (then another name that does not hold it)."""
    candidates = [name, name.replace("recorded", "local"), *(f"{name}-{n}" for n in range(2, 100))]
    return next((c for c in candidates if not real or real not in c), f"{name}-{len(real or '')}x")


def build_document(
    recording: Recording, *, anonymizer: Anonymizer | None = None, real_token: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The fixture document of a recording, and notes for the user (what was dropped or made up)."""
    allowed = fixture_user_fields()
    customer_id = recording.customer_id
    notes = list(recording.notes)
    dropped: Counter[str] = Counter()
    users: list[dict[str, Any]] = []
    roles: dict[str, dict[str, Any]] = {}
    group_ids: list[str] = []
    full_name = None
    for answer in recording.users:
        user, extra = fixture_user(answer, allowed)
        dropped.update(extra)
        for role in answer.get("roles") or ():
            if isinstance(role, dict) and isinstance(role.get("_id"), str):
                roles.setdefault(role["_id"], role)
        for group_id in user.get("groupIds") or ():
            if group_id not in group_ids:
                group_ids.append(group_id)
        customer = answer.get("customer")
        if full_name is None and isinstance(customer, dict) and isinstance(customer.get("fullName"), str):
            full_name = customer["fullName"] or None
        users.append(user)
    recorded = {user["_id"] for user in users}
    dangling = 0
    for user in users:
        kept = [d for d in user["delegateIds"] if d in recorded and d != user["_id"]]
        dangling += len(user["delegateIds"]) - len(kept)
        user["delegateIds"] = kept
    unnamed = 0
    for user in users:
        # A role named by roleIds but never shown expanded cannot be recorded with a name.
        kept = [role_id for role_id in user["roleIds"] if role_id in roles]
        unnamed += len(user["roleIds"]) - len(kept)
        user["roleIds"] = kept
    if unnamed:
        notes.append(f"{unnamed} role assignment(s) to roles never shown with a name were dropped")
    if dangling:
        notes.append(f"{dangling} delegation(s) to users that were not recorded were dropped")
    if dropped:
        listed = ", ".join(f"{name} ({count} users)" for name, count in sorted(dropped.items()))
        notes.append(f"fields the contract does not define were dropped: {listed}")
    if full_name is None:
        full_name = f"Recorded customer {customer_id}"
        notes.append(f"no user carried customer.fullName: the customer is called {full_name!r}")
    if group_ids:
        notes.append("the API shows no group names: groups are called 'Group <last 6 characters of the id>'")
    if anonymizer is not None:
        users = [anonymizer.user(user, customer_id) for user in users]
        full_name = anonymizer.customer_name(full_name)
    users.sort(key=lambda user: user["_id"])
    tokens: list[dict[str, Any]] = [{"token": local_token(ADMIN_TOKEN, real_token), "customerIds": [customer_id]}]
    user_id = bound_user(users, recording.identity) or next(
        (user["_id"] for user in users if user.get("identities")), None
    )
    if user_id is not None:
        tokens.append({"token": local_token(USER_TOKEN, real_token), "customerIds": [customer_id], "userId": user_id})
    document = {
        "customers": [
            {
                "_id": customer_id,
                "fullName": full_name,
                "roles": list(roles.values()),
                "groups": [{"_id": group_id, "name": f"Group {group_id[-6:]}"} for group_id in group_ids],
                "users": users,
            }
        ],
        "tokens": tokens,
    }
    return document, notes


def _holds_token(document: dict[str, Any], token: str | None) -> bool:
    """Whether the recorded data (not the local tokens, chosen not to hold it) contains the token.
    Very short tokens are not looked for: they would be found in ordinary words."""
    if not token or len(token) < 8:
        return False
    import json

    return token in json.dumps(document["customers"], ensure_ascii=False)


# -- the command --------------------------------------------------------------------------------


def run_record(
    url: str,
    options: RecordOptions,
    *,
    err: IO[str] | None = None,
    limiter: Any = None,
) -> int:
    """Record ``options.customer_id`` of the deployment at ``url`` into ``options.output``.

    Exit codes: 0 written, 2 could not record (nothing written). ``limiter`` replaces the one
    ``--rate-limit`` would build (for tests)."""
    from mockserver.contract.runner import ContractOptions, plan_run, preflight, sigterm_as_interrupt
    from mockserver.contract.safety import guard_requests
    from mockserver.fixtures import FixtureError, FixtureLoader
    from mockserver.generate import dumps, write_atomic

    err = err or sys.stderr
    redact = Redactor((options.token,) if options.token else ())

    def fail(message: str) -> int:
        err.write(redact(f"mockserver record: could not record: {message}") + "\n")
        err.flush()
        return COULD_NOT_RECORD

    started = time.monotonic()
    try:
        plan = plan_run(
            url,
            ContractOptions(
                token=options.token,
                customer_id=options.customer_id,
                read_only=True,
                rate_limit=options.rate_limit,
                request_timeout=options.request_timeout,
            ),
        )
    except UsageProblem as problem:
        return fail(str(problem))
    redact = Redactor(tuple(secret for secret in (options.token, plan.token) if secret))
    output = Path(options.output)
    if not output.parent.is_dir():
        return fail(f"-o {options.output}: the folder {output.parent} does not exist")
    if output.is_dir():
        return fail(f"-o {options.output} is a folder")
    if limiter is None and plan.rate_limit:
        from schemathesis.core.rate_limit import build_limiter

        limiter = build_limiter(plan.rate_limit)

    client = Client(plan.target.origin, plan.token, options.request_timeout)
    client.session.headers["User-Agent"] = USER_AGENT
    try:
        with sigterm_as_interrupt():
            with guard_requests(plan.policy):
                problem = preflight(client, plan)
                if problem is not None:
                    return fail(problem)
                recording = capture(
                    client,
                    plan.customer_id,
                    limiter=limiter,
                    progress=lambda total: Progress(err, "users", total, bar=options.progress),
                )
            anonymizer = Anonymizer(options.anonymize_key) if options.anonymize else None
            document, notes = build_document(recording, anonymizer=anonymizer, real_token=plan.token)
            try:
                FixtureLoader().load_document(document, name=options.output)
            except FixtureError as error:
                return fail(
                    "the deployment's answers do not make a valid fixture file (`mockserver contract` shows "
                    f"where they break the contract); nothing was written.\n{error.render()}"
                )
            data = dumps(document)
            if _holds_token(document, plan.token):
                return fail("the deployment's answers contain the token itself; refusing to write it to a file")
            write_atomic(output, data)
    except KeyboardInterrupt:
        return fail(f"interrupted; nothing was written to {options.output}")
    except RecordError as error:
        return fail(str(error))
    except OSError as error:
        return fail(f"cannot write {options.output}: {error.strerror or error}")
    finally:
        client.close()

    customer = document["customers"][0]
    lines = [
        f"wrote {options.output}: customer {customer['_id']} ({customer['fullName']}), {len(customer['users'])} users, "
        f"{len(customer['roles'])} roles, {len(customer['groups'])} groups"
        + (", anonymised" if options.anonymize else "")
        + f"; {plan.rate_limit or 'no'} rate limit; {time.monotonic() - started:.1f} s",
        "  tokens (local, made for this file):",
    ]
    for token in document["tokens"]:
        bound = f", user {token['userId']}" if token.get("userId") else ""
        lines.append(f"    {token['token']:<24} customer {', '.join(token['customerIds'])}{bound}")
    lines += [f"  note: {note}" for note in notes]
    lines.append(f"  serve it: mockserver --seed {options.output}")
    err.write(redact("\n".join(lines)) + "\n")
    err.flush()
    return RECORDED
