"""The ``mockserver`` command. ``main(argv)`` returns the exit code; building the app is separate
from serving it, so tests and other commands can build without binding a port.

Exit codes: 0 clean stop, 2 could not start (bad flag, bad fixtures, port unavailable).
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from mockserver import __version__
from mockserver.features import journal, sessions
from mockserver.fixtures.document import FixtureError, FixtureLoader
from mockserver.spec import resources
from mockserver.store.memory import Store


def build_store(seed_paths: Sequence[str | Path], state: str | None = None, namespace: str = "default"):
    """A store seeded from fixture files (the bundled Acme fixtures when none are given): in this
    process, or on the Redis at ``state``, where the seed applies only if ``namespace`` has no state yet."""
    paths = list(seed_paths) or [resources.default_fixture_path()]
    if state:
        from mockserver.store.redis_backend import open_store

        return open_store(state, FixtureLoader().load_files(paths), namespace=namespace)
    return Store(FixtureLoader().load_files(paths), take_ownership=True)


from mockserver.core.loopback import is_loopback  # noqa: E402  (the one loopback rule)


def _feature_lines(url: str, options, watching: Sequence[Path], chaos: Sequence[str]) -> list[str]:
    """The banner's lines for the front-end features (mockserver.app.pipeline)."""
    from mockserver.admin import PREFIX
    from mockserver.features import cors

    lines = []
    if options.admin_token:
        lines.append(f"  Admin API: {url}{PREFIX}/ (spec: {url}{PREFIX}/openapi.json)")
        lines.append(f"    admin token: {options.admin_token}   (send as 'Authorization: Bearer <admin token>')")
        lines.append(f"  Dashboard: {url}{PREFIX}/ui/   (sign in with the admin token, or open the link below)")
        lines.append(f"    ready to open: {url}{PREFIX}/ui/#token={options.admin_token}")
    lines.append(f"  CORS: {cors.describe(options.cors_origins)}" if options.cors else "  CORS: off (--no-cors)")
    lines.append(f"  Sessions: 'X-Mock-Session: <name>' for an isolated copy of the state "
                 f"(idle expiry {options.session_ttl:g} s, at most {options.max_sessions})")
    lines.append("  Prefer: 'Prefer: code=404' forces a documented answer, 'Prefer: delay=1500' delays one")
    if chaos:
        lines.append("  CHAOS IS ON:")
        lines += [f"    {line}" for line in chaos]
    if watching:
        lines.append(f"  Watching {', '.join(str(p) for p in watching)}: changes are reloaded")
    return lines


def _banner(store: Store, url: str, options, watching: Sequence[Path] = (), chaos: Sequence[str] = (),
            workers: int = 1) -> str:
    from mockserver.app.build import SWAGGER_UI_PATH

    lines = [f"Users API mock serving on {url}", f"  Swagger UI: {url}{SWAGGER_UI_PATH}/", "  Customers:"]
    for customer in store.customers():
        lines.append(f"    {customer['_id']}  {customer['fullName']} ({customer['users']} users)")
    lines.append("  Tokens (send as 'Authorization: Bearer <token>'):")
    for token in store.tokens():
        bound = f", user {token['userId']}" if token.get("userId") else ""
        lines.append(f"    {token['token']:<24} customers {', '.join(token['customerIds'])}{bound}")
    if options.any_token:
        lines.append("  --any-token: any non-empty bearer token is accepted for every customer")
    lines += _feature_lines(url, options, watching, chaos)
    if getattr(store, "namespace", None):  # the URL is not shown: it may hold a password
        lines.append(f"  State: Redis, namespace {store.namespace!r}, shared by every replica; {workers} worker(s)")
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
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="Also allow this browser origin, e.g. https://app.example.test, or '*' (repeatable). "
                   "Any http(s)://localhost, 127.0.0.1 or [::1] origin is always allowed.")
@click.option("--no-cors", is_flag=True, help="No CORS headers at all.")
@click.option("--admin-token", envvar="MOCKSERVER_ADMIN_TOKEN", show_envvar=True, metavar="TOKEN",
              help="Token of the admin API under /__admin (default: a random one, printed at start-up).")
@click.option("--latency", metavar="MIN-MAX",
              help="Chaos: delay every Users API request by a uniform draw in MIN-MAX ms, e.g. 50-300.")
@click.option("--error-rate", type=click.FloatRange(0, 1), default=0.0, metavar="RATE",
              help="Chaos: this fraction of requests (0-1) answers one of --error-codes instead.")
@click.option("--error-codes", metavar="CODES",
              help="Chaos: statuses for --error-rate, e.g. 500,503. Each request only gets codes its "
                   "operation documents (so the fake stays within its contract); a code no operation "
                   "documents is refused at start-up. A 503 carries Retry-After.")
@click.option("--chaos-seed", type=int, metavar="N",
              help="Chaos: seed, so the same sequence of requests sees the same latencies and faults.")
@click.option("--session-ttl", default=sessions.DEFAULT_TTL_SECONDS, show_default=True, type=click.FloatRange(min=1), metavar="SECONDS",
              help="Sessions (X-Mock-Session) idle this long are dropped.")
@click.option("--max-sessions", default=sessions.DEFAULT_MAX_SESSIONS, show_default=True, type=click.IntRange(1),
              help="At most this many live sessions; one more is a 503 with Retry-After.")
@click.option("--journal-size", default=journal.DEFAULT_SIZE, show_default=True, type=click.IntRange(0),
              help="Requests kept in the admin API's journal (0: no journal).")
@click.option("--watch", is_flag=True, help="Reload the fixture files when they change (an invalid file is "
                                            "reported and the last good state kept).")
@click.option("--watch-interval", default=1.0, show_default=True, type=click.FloatRange(min=0.05), metavar="SECONDS",
              help="How often --watch looks at the files.")
@click.option("--state-file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Keep the state in FILE across restarts: loaded at start-up if it exists (instead of the "
                   "--seed state; a reset still goes back to the seed), written atomically before every write "
                   "is answered.")
@click.option("--state", "shared_state", metavar="URL", envvar="MOCKSERVER_STATE",
              help="Keep the state in Redis, shared by every replica and worker: redis://host:6379/0, or "
                   "rediss://... (TLS options as query parameters, e.g. ?ssl_ca_certs=FILE). Default: in this process.")
@click.option("--state-namespace", default="default", show_default=True, metavar="NAME",
              help="With --state: this fake's key prefix, so several fakes can share one Redis.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes sharing the port (more than 1 needs --state).")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="Also answer requests whose Host is NAME (repeatable; '.example.test' for its subdomains). "
                   "localhost and IP addresses are always answered; any other Host gets a 403.")
@click.version_option(__version__, prog_name="mockserver", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context, seeds, host, port, any_token, max_body_bytes, access_log, cors_origins, no_cors,
        admin_token, latency, error_rate, error_codes, chaos_seed, session_ttl, max_sessions, journal_size, watch,
        watch_interval, state_file, shared_state, state_namespace, workers, allowed_hosts):
    """Serve the Users API mock (the default command), or run one of the commands below."""
    if ctx.invoked_subcommand is not None:
        return
    from mockserver.admin.token import AdminTokenError, admin_token_for
    from mockserver.app.build import ServerOptions

    chaos = _chaos_options(latency, error_rate, error_codes, chaos_seed)
    from mockserver.store.backend import StoreUnavailable
    from mockserver.store.persistence import StateFile, StateFileError

    if workers > 1 and not shared_state:
        raise click.UsageError("--workers > 1 needs --state redis://...: each worker is a process of its own, "
                               "and processes share one state only through Redis")
    if shared_state and state_file:
        raise click.UsageError("--state-file and --state exclude each other: with --state, Redis keeps the state")
    state = None
    try:
        store = build_store(seeds, shared_state, state_namespace)
        if state_file:
            state = StateFile(state_file)
            state.attach(store, deferred=True)  # written off the event loop (mockserver.store.persistence)
    except FixtureError as err:
        click.echo(f"mockserver: cannot start: {err.render()}", err=True)
        ctx.exit(2)
    except (StateFileError, StoreUnavailable, ValueError) as err:
        click.echo(f"mockserver: cannot start: {err}", err=True)
        ctx.exit(2)
    try:
        admin_token = admin_token_for(admin_token, state_file)  # kept beside the state file across restarts
    except AdminTokenError as err:
        click.echo(f"mockserver: cannot start: {err}", err=True)
        ctx.exit(2)
    options = ServerOptions(
        any_token=any_token, max_body_bytes=max_body_bytes, cors=not no_cors, cors_origins=tuple(cors_origins),
        admin_token=admin_token, chaos=chaos, session_ttl=session_ttl, max_sessions=max_sessions,
        journal_size=journal_size, allowed_hosts=(*allowed_hosts, host),
    )
    watching = [Path(p) for p in (seeds or [resources.default_fixture_path()])] if watch else []
    serve(store, options, host=host, port=port, access_log=access_log, watch=watching, watch_interval=watch_interval,
          state=state, workers=workers)
    if state is not None:
        try:
            state.save(store)  # every write was saved when it was answered; this is the final flush
        except StateFileError as err:
            click.echo(f"mockserver: {err}", err=True)
            ctx.exit(1)


def _chaos_options(latency, error_rate, error_codes, chaos_seed):
    """--latency, --error-rate, --error-codes, --chaos-seed, checked against the contract (exit 2)."""
    from mockserver.features.chaos import Catalog, ChaosOptions
    from mockserver.spec.schemas import load_spec

    try:
        bounds = ChaosOptions.parse_latency(latency) if latency else None
        codes = ChaosOptions.parse_codes(error_codes) if error_codes else ()
        if error_rate > 0 and not codes:
            raise ValueError("--error-rate needs --error-codes: the statuses to answer, e.g. --error-codes 401,404")
        if codes and not error_rate:
            raise ValueError("--error-codes needs --error-rate: the fraction of requests that fail, e.g. 0.05")
        if codes:
            Catalog(load_spec()).check_fault_codes(codes)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    return ChaosOptions(latency_ms=bounds, error_rate=error_rate, error_codes=codes, seed=chaos_seed)


def serve(store: Store, options, *, host: str, port: int, access_log: bool = True,
          watch: Sequence[Path] = (), watch_interval: float = 1.0, state=None, workers: int = 1) -> None:
    """Bind, print the banner, serve until Ctrl-C or SIGTERM. ``state``: a deferred
    :class:`mockserver.store.persistence.StateFile` the answers wait for."""
    from mockserver.app import serve as serving
    from mockserver.app.build import build_app

    try:
        sock = serving.bind(host, port)
    except OSError as err:
        click.echo(f"mockserver: cannot listen on {host}:{port}: {err.strerror or err}", err=True)
        raise SystemExit(2) from None
    url = serving.url_of(sock, host)
    if not is_loopback(host):
        click.echo(
            f"WARNING: listening on {host}, reachable from other machines; the mock has no real security.",
            err=True,
        )
    fake = build_app(store, options, state=state)
    from mockserver.server.workers import fork_workers, stop_workers

    is_child, children = fork_workers(workers)  # --workers: the app is built once, then forked
    # The seed and the app live as long as the process: keep them out of the cyclic garbage
    # collector's full collections (0.76 s pauses with 100,000 users loaded). They are acyclic, so
    # reference counting still frees whatever a reset or reload replaces.
    gc.collect()
    gc.freeze()
    watcher = None
    if watch and not is_child:
        from mockserver.features.watch import FixtureWatcher

        watcher = FixtureWatcher(watch, fake.control, interval=watch_interval).start()
    logging.getLogger("connexion").setLevel(logging.ERROR)

    def started() -> None:
        if is_child:
            return
        click.echo(_banner(store, url, options, watch, fake.chaos, workers))
        sys.stdout.flush()

    # Uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler that
    # was there before it: make that a no-op so a requested stop is a clean exit (code 0).
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: None)
    from mockserver.server.identity import published

    if is_child:
        serving.run(fake.app, sock, access_log=access_log, on_started=started)
        os._exit(0)
    with published(fake.identity):
        serving.run(fake.app, sock, access_log=access_log, on_started=started)
    stop_workers(children)
    if watcher is not None:
        watcher.stop()
    click.echo("mockserver: stopped")


@cli.group()
def fixtures():
    """Work with fixture files."""


@fixtures.command("generate")
@click.option("--customers", default=1, show_default=True, type=click.IntRange(1), help="Number of customers.")
@click.option("--users", default=100, show_default=True, type=click.IntRange(3),
              help="Users PER CUSTOMER (the file holds customers x users users).")
@click.option("--seed", "seed", default=0, show_default=True, type=int,
              help="Random seed: the same arguments give a byte-identical file.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="File to write (atomically: temp file + rename); '-' for standard output.")
@click.option("--compact", is_flag=True, help="No whitespace (default: indented, one user per line).")
def fixtures_generate(customers, users, seed, output, compact):
    """Generate a large, realistic, deterministic fixture file for `mockserver --seed FILE`."""
    import time

    from mockserver.core.files import write_atomic
    from mockserver.fixtures.generate import dumps, generate

    started = time.perf_counter()
    try:
        data = dumps(generate(customers=customers, users=users, seed=seed), compact=compact)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    if output == "-":
        click.get_binary_stream("stdout").write(data)
        return
    write_atomic(output, data)
    click.echo(f"wrote {output}: {customers} customer(s) x {users} users, {len(data) / 2**20:.1f} MiB "
               f"in {time.perf_counter() - started:.1f} s", err=True)


@fixtures.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def fixtures_validate(files):
    """Check fixture files as `mockserver --seed FILE...` would, without starting a server.
    Exit 0 when they are valid; 2 with one line per problem otherwise."""
    try:
        document = FixtureLoader().load_files(list(files))
    except FixtureError as err:
        for problem in err.problems:
            click.echo(problem)
        raise SystemExit(2) from None
    users = sum(len(customer.get("users", [])) for customer in document.get("customers", []))
    click.echo(f"{', '.join(files)}: valid: {len(document.get('customers', []))} customer(s), {users} user(s), "
               f"{len(document.get('tokens', []))} token(s)")


from mockserver.remote.commands import COMMANDS  # noqa: E402  (contract, record, drift)

for _command in COMMANDS:
    cli.add_command(_command)


from mockserver.proxy.command import proxy as _proxy_command  # noqa: E402  (mockserver proxy)

cli.add_command(_proxy_command)

from mockserver.replay.command import replay as _replay_command  # noqa: E402  (mockserver replay)

cli.add_command(_replay_command)


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
