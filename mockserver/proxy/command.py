"""``mockserver proxy URL``: serve the validating proxy until Ctrl-C or SIGTERM, then print the summary.

Exit codes: 0 stopped (violations or not, unless ``--fail-on-violation``), 1 with ``--fail-on-violation``
when the deployment broke the contract (``--fail-on-violation=any``: also when a client's request did),
2 could not start (bad URL or TLS option, port unavailable).
"""

from __future__ import annotations

import signal
import socket

import click
import uvicorn

from mockserver.core.loopback import is_loopback
from mockserver.proxy import DEFAULT_MAX_BODY_BYTES, DEFAULT_TIMEOUT

BANNER_START = "Users API proxy serving on "


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host.strip("[]"), port), family=family, backlog=2048)
    sock.set_inheritable(True)
    return sock


def banner(proxy, url: str, max_body_bytes: int) -> str:
    """The start-up banner of a built :class:`mockserver.proxy.app.Proxy`."""
    from mockserver.admin import PREFIX as ADMIN_PREFIX

    policy = proxy.policy
    if policy.unrestricted:
        mode = f"every method is forwarded: {policy.reason}"
    else:
        mode = (f"read-only: only GET, HEAD and OPTIONS are forwarded; other methods get a 403 problem "
                f"({policy.reason}; --allow-writes forwards them)")
    return "\n".join([
        f"{BANNER_START}{url}",
        f"  Target: {proxy.target.base}"
        + (f" (the spec's paths under {proxy.target.base_path})" if proxy.target.base_path else ""),
        f"  Mode: {mode}",
        "  Contract: openapi/users.yaml; each violation is one line below, with a curl line to reproduce it; "
        f"bodies over {max_body_bytes} bytes are forwarded but not validated",
        f"  Admin API: {url}{ADMIN_PREFIX}/violations (GET, DELETE), {ADMIN_PREFIX}/journal, {ADMIN_PREFIX}/coverage",
        f"    admin token: {proxy.admin_token}   (send as 'Authorization: Bearer <admin token>')",
        "Press Ctrl-C to stop (prints a summary).",
    ])


def server_config(app, log_level: str = "warning") -> uvicorn.Config:
    """How the proxy is served: no Server or Date header of its own (the deployment's pass through)."""
    from mockserver.server.http_protocol import ProblemHttpToolsProtocol

    return uvicorn.Config(app, log_level=log_level, access_log=False, http=ProblemHttpToolsProtocol,
                          server_header=False, date_header=False, lifespan="on", timeout_graceful_shutdown=5)


class _ProxyCommand(click.Command):
    """``--fail-on-violation`` is a flag, and ``--fail-on-violation=any`` (or ``=deployment``) its one
    form with a value: a value is never taken from the next word (the URL may follow the flag)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        forms = {"--fail-on-violation=deployment": ["--fail-on-violation"],
                 "--fail-on-violation=any": ["--fail-on-violation", "--fail-on-any-violation"]}
        rewritten = [word for arg in args for word in forms.get(arg, [arg])]
        return super().parse_args(ctx, rewritten)


@click.command("proxy", cls=_ProxyCommand, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("url")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port; the URL is printed).")
@click.option("--admin-token", envvar="MOCKSERVER_ADMIN_TOKEN", show_envvar=True, metavar="TOKEN",
              help="Token of the admin routes under /__admin (default: a random one, printed at start-up).")
@click.option("--fail-on-violation", is_flag=True,
              help="Exit 1 at the stop when the deployment broke the contract. --fail-on-violation=any: also when a "
                   "client's request did (such requests are always listed).")
@click.option("--fail-on-any-violation", is_flag=True, hidden=True)
@click.option("--allow-writes", is_flag=True,
              help="Forward every method to a target that is not the proven fake (default: GET, HEAD, OPTIONS).")
@click.option("--max-body-bytes", default=DEFAULT_MAX_BODY_BYTES, show_default=True, type=click.IntRange(1),
              help="Bodies up to this size are validated; larger ones are forwarded unvalidated (and reported).")
@click.option("--timeout", default=DEFAULT_TIMEOUT, show_default=True, type=click.FloatRange(0.1), metavar="SECONDS",
              help="Connect, read and write timeout towards the deployment (504 problem when it expires).")
@click.option("--journal-size", default=1000, show_default=True, type=click.IntRange(0),
              help="Requests kept for /__admin/journal and /__admin/coverage (0: none).")
@click.option("--cacert", type=click.Path(dir_okay=False), metavar="FILE", help="Trust this CA bundle (PEM).")
@click.option("--insecure", is_flag=True, help="Do not verify the target's TLS certificate.")
@click.option("--cert", type=click.Path(dir_okay=False), metavar="FILE", help="Client certificate (PEM).")
@click.option("--key", type=click.Path(dir_okay=False), metavar="FILE", help="Key of --cert, if not in it.")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="Also answer requests whose Host is NAME (repeatable); localhost and IP addresses always are.")
@click.pass_context
def proxy(ctx: click.Context, url, host, port, admin_token, fail_on_violation, fail_on_any_violation, allow_writes,
          max_body_bytes, timeout, journal_size, cacert, insecure, cert, key, allowed_hosts):
    """Forward every request to the deployment at URL unchanged, and report where it and the contract disagree."""
    from pathlib import Path

    from mockserver.app.pipeline import new_admin_token
    from mockserver.proxy.app import build_proxy
    from mockserver.remote.safety import UsageProblem
    from mockserver.remote.tls import INSECURE_WARNING, TLSConfigError, TLSSettings

    tls = TLSSettings(cacert=Path(cacert) if cacert else None, insecure=insecure, cert=Path(cert) if cert else None,
                      key=Path(key) if key else None)
    try:
        built = build_proxy(url, admin_token=admin_token or new_admin_token(), allow_writes=allow_writes,
                            max_body_bytes=max_body_bytes, tls=tls, journal_size=journal_size, timeout=timeout)
    except (UsageProblem, TLSConfigError) as err:
        click.echo(f"mockserver proxy: cannot start: {err}", err=True)
        ctx.exit(2)
    if insecure:
        click.echo(INSECURE_WARNING, err=True)
    try:
        sock = _listen(host, port)
    except OSError as err:
        click.echo(f"mockserver proxy: cannot listen on {host}:{port}: {err.strerror or err}", err=True)
        ctx.exit(2)
    shown = f"[{host}]" if ":" in host else host
    address = f"http://{shown}:{sock.getsockname()[1]}"
    if not is_loopback(host):
        click.echo(f"WARNING: listening on {host}, reachable from other machines: they reach {built.target.origin} "
                   "through it", err=True)
    # Printed once uvicorn has installed its signal handlers: a SIGTERM after the banner always stops it.
    built.on_startup.append(lambda: click.echo(banner(built, address, max_body_bytes)))
    from mockserver.server.middleware import HostCheck  # 403 for another Host (DNS rebinding), as the fake

    server = uvicorn.Server(server_config(HostCheck(built.app, allowed=(*allowed_hosts, host))))
    # Uvicorn stops gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler that was
    # there before: a no-op, so a requested stop ends with the summary and its exit code.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: None)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    for line in built.log.summary():
        click.echo(line)
    fail_on_violation = "any" if fail_on_any_violation else ("deployment" if fail_on_violation else None)
    failing = built.log.failing(fail_on_violation)
    code = 1 if failing else 0
    if code:
        whose = "" if fail_on_violation == "any" else " by the deployment"
        click.echo(f"mockserver proxy: exit 1: {failing} violation(s){whose} seen (--fail-on-violation={fail_on_violation})")
    ctx.exit(code)
