"""The command-line options every remote command shares, declared once.

:func:`target_options` puts the target's options on a click command (``contract``, ``record``,
``drift``): the token, the customer, the rate limit, the request timeout and retries, TLS, and
(for the commands that may write) ``--user-id``, ``--read-only``, ``--allow-writes``,
``--allow-delete``; :func:`generation_options` the Schemathesis config and colour of ``contract``
and ``drift``. :func:`target_settings` takes them back out of the command's parameters as the
keyword arguments of :class:`mockserver.remote.target.TargetOptions`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from mockserver.remote.client import DEFAULT_RETRIES, DEFAULT_TIMEOUT, DEFAULT_WAIT_BUDGET
from mockserver.remote.target import TOKEN_ENV
from mockserver.remote.tls import TLSSettings

_DEFAULT_TOKEN = "Default for a loopback target: the bundled fixtures' jane-token."
_DEFAULT_CUSTOMER = (" Required for a non-loopback target; default for a loopback one: the bundled fixtures' "
                     "first customer.")
_RATE_HELP = ("Most requests per second/minute/hour to the target (10/s, 600/m) or 'off'. Default: none for a "
              "target that proves it is the local fake, 10/s for every other.")


def _apply(options: list[Callable]) -> Callable:
    def decorate(command: Callable) -> Callable:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def target_options(*, token_help: str, customer_help: str, customer_required: bool = False,
                   user_help: str | None = None) -> Callable:
    """The shared options of a remote command; with ``user_help``, also the write options."""
    options = [
        click.option("--token", envvar=TOKEN_ENV, show_envvar=True, metavar="TOKEN",
                     help=f"{token_help} Prefer the environment variable: it stays out of shell history and CI "
                          f"logs. Never printed. {_DEFAULT_TOKEN}"),
        click.option("--customer-id", metavar="ID", required=customer_required,
                     help=customer_help + ("" if customer_required else _DEFAULT_CUSTOMER)),
    ]
    if user_help is not None:
        options += [
            click.option("--user-id", "user_ids", multiple=True, metavar="ID", help=user_help),
            click.option("--read-only", is_flag=True,
                         help="Send only GET, HEAD and OPTIONS (the default for a target that has not proved it is "
                              "the local fake)."),
            click.option("--allow-writes", is_flag=True,
                         help="Allow PATCH, on a target other than the proven fake only of the --user-id users; they "
                              "are restored at the end of the run."),
            click.option("--allow-delete", is_flag=True,
                         help="Allow DELETE, on a target other than the proven fake only of the --user-id users."),
            click.option("--shared-state", is_flag=True,
                         help="On the proven local fake: act on its default state (default: in a session of the "
                              "run's own, X-Mock-Session, dropped at the end, so the fake's state is left as it was)."),
        ]
    options += [
        click.option("--rate-limit", metavar="N/s", help=_RATE_HELP),
        click.option("--request-timeout", default=DEFAULT_TIMEOUT, show_default=True, type=click.FloatRange(0.1),
                     metavar="SECONDS", help="Seconds to wait for each response."),
        click.option("--wait-budget", default=DEFAULT_WAIT_BUDGET, show_default=True, type=click.FloatRange(0),
                     metavar="SECONDS",
                     help="Seconds the run may spend in all waiting out the target's rate limit (a 429, or a 503 "
                          "with Retry-After, is waited out and the request sent again); when spent, the run stops "
                          "with exit code 2."),
        click.option("--retries", default=DEFAULT_RETRIES, show_default=True, type=click.IntRange(0, 10), metavar="N",
                     help="Tries again after a refused connection (any method: it was not sent) or one reset before "
                          "the answer (GET, HEAD and OPTIONS only: a write is never sent twice)."),
        click.option("--cacert", type=click.Path(dir_okay=False), metavar="FILE",
                     help="Trust the target's certificate if this PEM bundle (a private CA) signed it."),
        click.option("--insecure", is_flag=True,
                     help="Do not verify the target's TLS certificate (a warning is printed; prefer --cacert)."),
        click.option("--cert", type=click.Path(dir_okay=False), metavar="FILE",
                     help="Client certificate (PEM) for a target that wants mutual TLS; with its key unless --key."),
        click.option("--key", type=click.Path(dir_okay=False), metavar="FILE", help="The private key of --cert."),
    ]
    return _apply(options)


def generation_options() -> Callable:
    """``--config``, ``--color``, ``--coverage`` and ``--min-coverage`` of the commands that generate
    requests with Schemathesis (contract and drift)."""
    return _apply([
        click.option("--coverage", type=click.Path(dir_okay=False), metavar="FILE",
                     help="Write which documented (operation, status) answers the target gave, as JSON; "
                          "the summary shows them as a table."),
        click.option("--min-coverage", type=click.FloatRange(0, 100), metavar="PCT",
                     help="Exit 1 when fewer than PCT % of the documented (operation, status) answers "
                          "were seen (0-100)."),
        click.option("--baseline", type=click.Path(dir_okay=False), metavar="FILE",
                     help="Known findings (written by --write-baseline): reported, but they do not fail the run "
                          "until their 'expires' date; new and expired ones do."),
        click.option("--write-baseline", type=click.Path(dir_okay=False), metavar="FILE",
                     help="Write this run's findings as a baseline (keeping the expiry dates and notes of the "
                          "--baseline file's entries)."),
        click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True), metavar="FILE",
                     help="Schemathesis config file (default: the project's contract/schemathesis.toml)."),
        click.option("--color/--no-color", default=None, help="Colour the output (default: when it is a terminal)."),
    ])


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def target_settings(ctx: click.Context, params: dict[str, Any]) -> dict[str, Any]:
    """Take the shared options out of ``params``: keyword arguments of ``TargetOptions``."""
    from_env = ctx.get_parameter_source("token") == click.core.ParameterSource.ENVIRONMENT
    settings: dict[str, Any] = {
        "token": params.pop("token") or None,
        "token_source": f"${TOKEN_ENV}" if from_env else "--token",
        "customer_id": params.pop("customer_id"),
        "rate_limit": params.pop("rate_limit"),
        "request_timeout": params.pop("request_timeout"),
        "retries": params.pop("retries"),
        "wait_budget": params.pop("wait_budget"),
        "tls": TLSSettings(cacert=_path(params.pop("cacert")), insecure=params.pop("insecure"),
                           cert=_path(params.pop("cert")), key=_path(params.pop("key"))),
    }
    if "user_ids" in params:
        settings.update(user_ids=tuple(params.pop("user_ids")), read_only=params.pop("read_only"),
                        allow_writes=params.pop("allow_writes"), allow_delete=params.pop("allow_delete"),
                        shared_state=params.pop("shared_state"))
    return settings


def color_setting(value: bool | None) -> bool:
    """``--color/--no-color``, else colour when standard output is a terminal."""
    import sys

    return sys.stdout.isatty() if value is None else value


def csv(values) -> tuple[str, ...]:
    """Repeatable, comma-separated values as one tuple."""
    return tuple(item.strip() for value in values for item in value.split(",") if item.strip())
