"""``mockserver record URL``: read one customer of a live deployment and write it as a fixture file.

Only GET requests reach the deployment (the list, each user, the token's identity lookup), and the
transport guard (:func:`mockserver.remote.safety.guard_requests`, read-only policy) refuses anything
else before it is sent. Options, pre-flight, rate limit, TLS and token handling are every remote
command's (:func:`mockserver.remote.target.plan_target`), so a URL, a token or a customer id is
accepted or refused with the same words by ``contract``, ``record`` and ``drift``.

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
values drawn from :mod:`mockserver.fixtures.generate`'s word lists by an HMAC-SHA256 of the real value: the
same real value always becomes the same fake value (in every user, customer and run, for one key),
ids are kept so every relation stays intact, and emails stay unique within the customer.

The file is written at the very end, through a temporary file and a rename: Ctrl-C or SIGTERM at
any point leaves either no file or the previous one, never half of one.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from mockserver.record.anonymize import Anonymizer
from mockserver.record.capture import RecordError, capture
from mockserver.record.document import build_document, holds_token
from mockserver.remote.process import sigterm_as_interrupt
from mockserver.remote.progress import Progress
from mockserver.remote.report import Redactor
from mockserver.remote.safety import UsageProblem, guard_requests
from mockserver.remote.target import TargetOptions, plan_target, preflight
from mockserver.remote.tls import insecure_announced

USER_AGENT = "mockserver-record"
RECORDED, COULD_NOT_RECORD = 0, 2


@dataclass(kw_only=True)
class RecordOptions(TargetOptions):
    customer_id: str
    output: str
    anonymize: bool = False
    anonymize_key: str | None = None
    progress: bool | None = None  # None: a bar on a terminal, plain lines otherwise


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
    from mockserver.core.files import write_atomic
    from mockserver.fixtures.document import FixtureError, FixtureLoader
    from mockserver.fixtures.generate import dumps

    err = err or sys.stderr
    redact = Redactor((options.token,) if options.token else ())

    def fail(message: str) -> int:
        err.write(redact(f"mockserver record: could not record: {message}") + "\n")
        err.flush()
        return COULD_NOT_RECORD

    started = time.monotonic()
    try:
        # Only GET requests: whatever the target, the policy is read-only.
        plan = plan_target(url, replace(options, read_only=True, allow_writes=False, allow_delete=False, user_ids=()))
    except UsageProblem as problem:
        return fail(str(problem))
    redact = Redactor(tuple(secret for secret in (options.token, plan.token) if secret))
    output = Path(options.output)
    if not output.parent.is_dir():
        return fail(f"-o {options.output}: the folder {output.parent} does not exist")
    if output.is_dir():
        return fail(f"-o {options.output} is a folder")
    if limiter is None:
        limiter = plan.limiter()

    client = plan.client(options.request_timeout, USER_AGENT)
    try:
        with insecure_announced(plan.tls, err), sigterm_as_interrupt():
            with guard_requests(plan.policy, retries=plan.retries):
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
            if holds_token(document, plan.token):
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
