"""The ``mockserver`` command. ``main(argv)`` returns the exit code; building the app is separate
from serving it, so tests and other commands can build without binding a port.

Exit codes: 0 clean stop, 2 could not start (bad flag, bad fixtures, port unavailable).
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

import click
import uvicorn

from mockserver import resources
from mockserver.fixtures import FixtureError, FixtureLoader
from mockserver.store import Store

LOOPBACK_NAMES = {"localhost"}


def build_store(seed_paths: Sequence[str | Path]) -> Store:
    """A store seeded from fixture files (the bundled Acme fixtures when none are given)."""
    paths = list(seed_paths) or [resources.default_fixture_path()]
    return Store(FixtureLoader().load_files(paths))


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _banner(store: Store, url: str, options) -> str:
    from mockserver.app import SWAGGER_UI_PATH

    lines = [f"Users API mock serving on {url}", f"  Swagger UI: {url}{SWAGGER_UI_PATH}/", "  Customers:"]
    for customer in store.customers():
        lines.append(f"    {customer['_id']}  {customer['fullName']} ({customer['users']} users)")
    lines.append("  Tokens (send as 'Authorization: Bearer <token>'):")
    for token in store.tokens():
        bound = f", user {token['userId']}" if token.get("userId") else ""
        lines.append(f"    {token['token']:<24} customers {', '.join(token['customerIds'])}{bound}")
    if options.any_token:
        lines.append("  --any-token: any non-empty bearer token is accepted for every customer")
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--seed", "seeds", multiple=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="Fixture file to load (repeatable). Default: the bundled Acme fixtures.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port; the URL is printed).")
@click.option("--any-token", is_flag=True, help="Accept any non-empty bearer token for every customer.")
@click.option("--max-body-bytes", default=1024 * 1024, show_default=True, type=click.IntRange(1),
              help="Largest request body accepted (413 above).")
@click.option("--access-log/--no-access-log", default=True, show_default=True, help="Log one line per request.")
@click.pass_context
def cli(ctx: click.Context, seeds, host, port, any_token, max_body_bytes, access_log):
    """Serve the Users API mock (the default command), or run one of the commands below."""
    if ctx.invoked_subcommand is not None:
        return
    from mockserver.app import ServerOptions

    options = ServerOptions(any_token=any_token, max_body_bytes=max_body_bytes)
    try:
        store = build_store(seeds)
    except FixtureError as err:
        click.echo(f"mockserver: cannot start: {err.render()}", err=True)
        ctx.exit(2)
    serve(store, options, host=host, port=port, access_log=access_log)


def serve(store: Store, options, *, host: str, port: int, access_log: bool = True) -> None:
    """Bind, print the banner, serve until Ctrl-C or SIGTERM."""
    from mockserver.app import create_app

    try:
        sock = _bind(host, port)
    except OSError as err:
        click.echo(f"mockserver: cannot listen on {host}:{port}: {err.strerror or err}", err=True)
        raise SystemExit(2) from None
    actual_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{actual_port}"
    if not is_loopback(host):
        click.echo(
            f"WARNING: listening on {host}, reachable from other machines; the mock has no real security.",
            err=True,
        )
    app = create_app(store, options)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=access_log,
        # h11 rather than httptools: httptools cannot parse a request target over 64 KiB and answers
        # a plain-text 400 itself; with h11 every request head up to 256 KiB reaches the app, which
        # answers an over-long target with a 414 problem.
        http="h11",
        h11_max_incomplete_event_size=256 * 1024,
        server_header=False,
        date_header=True,
    )
    if access_log:
        logging.getLogger("uvicorn.access").setLevel(logging.INFO)
    logging.getLogger("connexion").setLevel(logging.ERROR)
    server = _Server(config, on_started=lambda: click.echo(_banner(store, url, options)))
    # Uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler that
    # was there before it: make that a no-op so a requested stop is a clean exit (code 0).
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: None)
    server.run(sockets=[sock])
    click.echo("mockserver: stopped")


class _Server(uvicorn.Server):
    """Prints the banner once the server is up and its signal handlers are installed, so a client
    that has read the banner can connect, and a SIGTERM after it always stops cleanly."""

    def __init__(self, config: uvicorn.Config, *, on_started):
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets=None):
        await super().startup(sockets=sockets)
        if not self.should_exit:
            self._on_started()
            sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    try:
        result = cli.main(args=list(argv) if argv is not None else None, prog_name="mockserver", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as err:
        err.show()
        return 2 if isinstance(err, click.UsageError) else 1
    except click.exceptions.Abort:
        return 130
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 1
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
