"""The ``mockserver`` command. ``main(argv)`` returns the exit code; building the app is separate
from serving it, so tests and other commands can build without binding a port.

Exit codes: 0 clean stop, 2 could not start (bad flag, bad fixtures, port unavailable).
"""

from __future__ import annotations

import gc
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
from mockserver.http_protocol import ProblemHttpToolsProtocol
from mockserver.store import Store


def build_store(seed_paths: Sequence[str | Path]) -> Store:
    """A store seeded from fixture files (the bundled Acme fixtures when none are given)."""
    paths = list(seed_paths) or [resources.default_fixture_path()]
    return Store(FixtureLoader().load_files(paths), take_ownership=True)


from mockserver.loopback import is_loopback  # noqa: E402  (the one loopback rule)


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


def _feature_lines(url: str, options, watching: Sequence[Path], chaos: Sequence[str]) -> list[str]:
    """The banner's lines for the front-end features (mockserver.features)."""
    from mockserver import cors
    from mockserver.admin import PREFIX

    lines = []
    if options.admin_token:
        lines.append(f"  Admin API: {url}{PREFIX}/ (spec: {url}{PREFIX}/openapi.json)")
        lines.append(f"    admin token: {options.admin_token}   (send as 'Authorization: Bearer <admin token>')")
        lines.append(f"  Dashboard: {url}{PREFIX}/ui/   (sign in with the admin token, or open {PREFIX}/ui/#token=<admin token>)")
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


def _banner(store: Store, url: str, options, watching: Sequence[Path] = (), chaos: Sequence[str] = ()) -> str:
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
    lines += _feature_lines(url, options, watching, chaos)
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
@click.option("--session-ttl", default=3600.0, show_default=True, type=click.FloatRange(min=1), metavar="SECONDS",
              help="Sessions (X-Mock-Session) idle this long are dropped.")
@click.option("--max-sessions", default=1000, show_default=True, type=click.IntRange(1),
              help="At most this many live sessions; one more is a 503 with Retry-After.")
@click.option("--journal-size", default=1000, show_default=True, type=click.IntRange(0),
              help="Requests kept in the admin API's journal (0: no journal).")
@click.option("--watch", is_flag=True, help="Reload the fixture files when they change (an invalid file is "
                                            "reported and the last good state kept).")
@click.option("--watch-interval", default=1.0, show_default=True, type=click.FloatRange(min=0.05), metavar="SECONDS",
              help="How often --watch looks at the files.")
@click.option("--state-file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Keep the state in FILE across restarts: loaded at start-up if it exists (instead of the "
                   "--seed state; a reset still goes back to the seed), written atomically before every write "
                   "is answered.")
@click.pass_context
def cli(ctx: click.Context, seeds, host, port, any_token, max_body_bytes, access_log, cors_origins, no_cors,
        admin_token, latency, error_rate, error_codes, chaos_seed, session_ttl, max_sessions, journal_size, watch,
        watch_interval, state_file):
    """Serve the Users API mock (the default command), or run one of the commands below."""
    if ctx.invoked_subcommand is not None:
        return
    from mockserver.app import ServerOptions

    chaos = _chaos_options(latency, error_rate, error_codes, chaos_seed)
    options = ServerOptions(
        any_token=any_token, max_body_bytes=max_body_bytes, cors=not no_cors, cors_origins=tuple(cors_origins),
        admin_token=admin_token or _new_admin_token(), chaos=chaos, session_ttl=session_ttl,
        max_sessions=max_sessions, journal_size=journal_size,
    )
    from mockserver.persistence import StateFile, StateFileError

    state = None
    try:
        store = build_store(seeds)
        if state_file:
            state = StateFile(state_file)
            state.attach(store, deferred=True)  # written off the event loop (mockserver.persistence)
    except FixtureError as err:
        click.echo(f"mockserver: cannot start: {err.render()}", err=True)
        ctx.exit(2)
    except StateFileError as err:
        click.echo(f"mockserver: cannot start: {err}", err=True)
        ctx.exit(2)
    watching = [Path(p) for p in (seeds or [resources.default_fixture_path()])] if watch else []
    serve(store, options, host=host, port=port, access_log=access_log, watch=watching, watch_interval=watch_interval,
          state=state)
    if state is not None:
        try:
            state.save(store)  # every write was saved when it was answered; this is the final flush
        except StateFileError as err:
            click.echo(f"mockserver: {err}", err=True)
            ctx.exit(1)


def _new_admin_token() -> str:
    from mockserver.features import new_admin_token

    return new_admin_token()


def _chaos_options(latency, error_rate, error_codes, chaos_seed):
    """--latency, --error-rate, --error-codes, --chaos-seed, checked against the contract (exit 2)."""
    from mockserver.chaos import Catalog, ChaosOptions
    from mockserver.schemas import load_spec

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
          watch: Sequence[Path] = (), watch_interval: float = 1.0, state=None) -> None:
    """Bind, print the banner, serve until Ctrl-C or SIGTERM. ``state``: a deferred
    :class:`mockserver.persistence.StateFile` the answers wait for."""
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
    # The seed and the app live as long as the process: keep them out of the cyclic garbage
    # collector's full collections (0.76 s pauses with 100,000 users loaded). They are acyclic, so
    # reference counting still frees whatever a reset or reload replaces.
    gc.collect()
    gc.freeze()
    control = getattr(app, "mock_control", None)
    chaos = control.chaos if control is not None else []
    watcher = None
    if watch and control is not None:
        from mockserver.watch import FixtureWatcher

        watcher = FixtureWatcher(watch, control, interval=watch_interval).start()
    served = app
    if state is not None:
        from mockserver.persistence import DurableAnswers

        served = DurableAnswers(app, state)
    config = uvicorn.Config(
        served,
        log_level="warning",
        access_log=access_log,
        # httptools, answering what it cannot parse (such as a target over 64 KiB) as a problem.
        http=ProblemHttpToolsProtocol,
        server_header=False,
        date_header=True,
    )
    if access_log:
        logging.getLogger("uvicorn.access").setLevel(logging.INFO)
    logging.getLogger("connexion").setLevel(logging.ERROR)
    server = _Server(config, on_started=lambda: click.echo(_banner(store, url, options, watch, chaos)))
    # Uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler that
    # was there before it: make that a no-op so a requested stop is a clean exit (code 0).
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: None)
    from mockserver.identity import published

    with published(app.mock_identity):
        server.run(sockets=[sock])
    if watcher is not None:
        watcher.stop()
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

    from mockserver.generate import dumps, generate, write_atomic

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


@cli.command("contract", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("url")
@click.option("--token", envvar="MOCKSERVER_CONTRACT_TOKEN", show_envvar=True, metavar="TOKEN",
              help="Bearer token (prefer the environment variable: it stays out of shell history and CI logs). "
                   "Never printed. Default for a loopback target: the bundled fixtures' jane-token.")
@click.option("--customer-id", metavar="ID",
              help="Customer to test under. Required for a non-loopback target; default for a loopback one: "
                   "the bundled fixtures' first customer.")
@click.option("--user-id", "user_ids", multiple=True, metavar="ID",
              help="A known user (repeatable). The first is used in every generated request on a user; "
                   "only these users may be changed (--allow-writes) or deleted (--allow-delete).")
@click.option("--junit", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write a JUnit XML report: one testcase per operation and check.")
@click.option("--seed", type=int, help="Random seed, for a reproducible run.")
@click.option("--max-examples", default=25, show_default=True, type=click.IntRange(1),
              help="Examples per operation and phase.")
@click.option("--rate-limit", metavar="N/s",
              help="Most requests per second/minute/hour (10/s, 600/m) or 'off'. Default: 10/s for a "
                   "non-loopback target, none for loopback.")
@click.option("--checks", multiple=True, metavar="NAMES",
              help="Schemathesis checks to run, comma-separated (default: all).")
@click.option("--exclude-checks", multiple=True, metavar="NAMES", help="Checks to skip, comma-separated.")
@click.option("--max-failures", type=click.IntRange(1), help="Stop after this many failures.")
@click.option("--phases", multiple=True, metavar="LIST",
              help="Phases to run, comma-separated: examples,coverage,fuzzing,stateful (default: all).")
@click.option("--read-only", is_flag=True,
              help="Send only GET, HEAD and OPTIONS (the default for a non-loopback target).")
@click.option("--allow-writes", is_flag=True,
              help="Allow PATCH, only on the --user-id users; they are restored at the end of the run.")
@click.option("--allow-delete", is_flag=True,
              help="Allow DELETE; for a non-loopback target only of the --user-id users.")
@click.option("--request-timeout", default=10.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds to wait for each response.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True), metavar="FILE",
              help="Schemathesis config file (default: the project's contract/schemathesis.toml).")
@click.option("--color/--no-color", default=None, help="Colour the output (default: when it is a terminal).")
@click.option("--other-customer-id", metavar="ID",
              help="tenant_isolation: a second customer. Default for the local fake: the fixtures' second one.")
@click.option("--other-token", envvar="MOCKSERVER_CONTRACT_OTHER_TOKEN", show_envvar=True, metavar="TOKEN",
              help="tenant_isolation: a token of --other-customer-id only (prefer the environment variable). "
                   "Never printed.")
@click.option("--lookup-token", envvar="MOCKSERVER_CONTRACT_LOOKUP_TOKEN", show_envvar=True, metavar="TOKEN",
              help="lookup_identity: a token bound to the user --lookup-user-id (prefer the environment "
                   "variable). Never printed.")
@click.option("--lookup-user-id", metavar="ID", help="lookup_identity: the user --lookup-token belongs to.")
@click.pass_context
def contract(ctx: click.Context, url, token, customer_id, user_ids, junit, seed, max_examples, rate_limit, checks,
             exclude_checks, max_failures, phases, read_only, allow_writes, allow_delete, request_timeout,
             config_file, color, **behaviour):
    """Check the deployment at URL (its origin, e.g. https://staging.example.com) against the spec.

    \b
    Exit codes: 0 conforms, 1 contract violations found,
                2 could not run (unreachable, token rejected, bad option).
    Non-loopback targets are read-only unless --allow-writes/--allow-delete say otherwise.
    """
    from mockserver.contract import PHASES, ContractOptions, run_contract

    def _csv(values) -> tuple[str, ...]:
        return tuple(item.strip() for value in values for item in value.split(",") if item.strip())

    from_env = ctx.get_parameter_source("token") == click.core.ParameterSource.ENVIRONMENT
    options = ContractOptions(
        token=token or None,
        token_source="$MOCKSERVER_CONTRACT_TOKEN" if from_env else "--token",
        customer_id=customer_id,
        user_ids=tuple(user_ids),
        junit=junit,
        seed=seed,
        max_examples=max_examples,
        rate_limit=rate_limit,
        checks=_csv(checks) or ("all",),
        exclude_checks=_csv(exclude_checks),
        max_failures=max_failures,
        phases=_csv(phases) or PHASES,
        read_only=read_only,
        allow_writes=allow_writes,
        allow_delete=allow_delete,
        request_timeout=request_timeout,
        config_file=config_file,
        color=sys.stdout.isatty() if color is None else color,
        **{name: value or None for name, value in behaviour.items()},
    )
    ctx.exit(run_contract(url, options))

@cli.command("record", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("url")
@click.option("--customer-id", required=True, metavar="ID", help="The customer to record.")
@click.option("--token", envvar="MOCKSERVER_CONTRACT_TOKEN", show_envvar=True, metavar="TOKEN",
              help="Bearer token for the deployment (prefer the environment variable). Never printed, never "
                   "written: the file gets new local tokens. Default for a loopback target: jane-token.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="Fixture file to write (atomically: a temporary file, then a rename).")
@click.option("--anonymize", is_flag=True,
              help="Replace names, nicknames, emails and the customer's name with fake ones, deterministically "
                   "(the same real value always gives the same fake one); ids and relations are kept.")
@click.option("--anonymize-key", envvar="MOCKSERVER_ANONYMIZE_KEY", show_envvar=True, metavar="KEY",
              help="Secret for --anonymize (default: a fixed key, so files are reproducible anywhere).")
@click.option("--rate-limit", metavar="N/s",
              help="Most requests per second/minute/hour (10/s, 600/m) or 'off'. Default: 10/s for a "
                   "non-loopback target, none for loopback.")
@click.option("--request-timeout", default=10.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds to wait for each response.")
@click.pass_context
def record(ctx: click.Context, url, customer_id, token, output, anonymize, anonymize_key, rate_limit,
           request_timeout):
    """Record one customer of the deployment at URL (GET requests only) into a fixture file.

    \b
    Exit codes: 0 written, 2 could not record (nothing written).
    Then: mockserver --seed FILE
    """
    from mockserver.record import RecordOptions, run_record

    options = RecordOptions(customer_id=customer_id, output=output, token=token or None, anonymize=anonymize,
                            anonymize_key=anonymize_key or None, rate_limit=rate_limit,
                            request_timeout=request_timeout)
    ctx.exit(run_record(url, options))


@cli.command("drift", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("url")
@click.option("--token", envvar="MOCKSERVER_CONTRACT_TOKEN", show_envvar=True, metavar="TOKEN",
              help="Bearer token for the deployment (prefer the environment variable); the fake accepts it for "
                   "the run. Never printed. Default for a loopback target: jane-token.")
@click.option("--customer-id", metavar="ID",
              help="Customer to compare. Required for a non-loopback target; default for a loopback one: the "
                   "bundled fixtures' first customer.")
@click.option("--fixture", type=click.Path(dir_okay=False), metavar="FILE",
              help="Seed the fake from FILE (default: a fresh read-only recording of the target).")
@click.option("--ignore", "ignore", multiple=True, metavar="FIELD",
              help="Compare FIELD by shape only, like the timestamps (repeatable or comma-separated).")
@click.option("--json", "json_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write the report as JSON.")
@click.option("--user-id", "user_ids", multiple=True, metavar="ID",
              help="With --allow-writes/--allow-delete: the only users that may be changed (restored at the end).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the generated requests.")
@click.option("--phases", multiple=True, metavar="LIST",
              help="Generated requests, comma-separated: examples,coverage,fuzzing (default: examples,coverage).")
@click.option("--max-examples", default=10, show_default=True, type=click.IntRange(1),
              help="Fuzzing phase: examples per operation.")
@click.option("--rate-limit", metavar="N/s",
              help="Most requests per second/minute/hour to the target, or 'off'. Default: 10/s for a "
                   "non-loopback target, none for loopback.")
@click.option("--read-only", is_flag=True, help="Send only GET, HEAD and OPTIONS (the default for a non-loopback target).")
@click.option("--allow-writes", is_flag=True, help="Allow PATCH (for a non-loopback target only of --user-id users).")
@click.option("--allow-delete", is_flag=True, help="Allow DELETE (for a non-loopback target only of --user-id users).")
@click.option("--request-timeout", default=10.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds to wait for each response.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True), metavar="FILE",
              help="Schemathesis config file (default: the project's contract/schemathesis.toml).")
@click.option("--color/--no-color", default=None, help="Colour the output (default: when it is a terminal).")
@click.option("--steps", default=60, show_default=True, type=click.IntRange(0),
              help="Budget of model-based steps: random sequences (from --seed) interleaving list, search, get, "
                   "lookup and, where allowed, PATCH and DELETE; a difference is shrunk to the shortest sequence. "
                   "0: the fixed requests only.")
@click.pass_context
def drift(ctx: click.Context, url, token, customer_id, fixture, ignore, json_file, user_ids, seed, phases,
          max_examples, rate_limit, read_only, allow_writes, allow_delete, request_timeout, config_file, color, steps):
    """Show where the fake and the deployment at URL disagree: the same requests to both, every difference.

    \b
    Exit codes: 0 no drift, 1 drift, 2 could not run.
    Non-loopback targets are read-only unless --allow-writes/--allow-delete say otherwise.
    """
    from mockserver.drift import DEFAULT_PHASES, DriftOptions, run_drift

    def _csv(values) -> tuple[str, ...]:
        return tuple(item.strip() for value in values for item in value.split(",") if item.strip())

    from_env = ctx.get_parameter_source("token") == click.core.ParameterSource.ENVIRONMENT
    options = DriftOptions(
        token=token or None, token_source="$MOCKSERVER_CONTRACT_TOKEN" if from_env else "--token",
        customer_id=customer_id, user_ids=tuple(user_ids), fixture=fixture, ignore=_csv(ignore),
        json_file=json_file, seed=seed, phases=_csv(phases) or DEFAULT_PHASES, max_examples=max_examples,
        rate_limit=rate_limit, read_only=read_only, allow_writes=allow_writes, allow_delete=allow_delete,
        request_timeout=request_timeout, config_file=config_file, steps=steps,
        color=sys.stdout.isatty() if color is None else color,
    )
    ctx.exit(run_drift(url, options))


from mockserver.proxy.command import proxy as _proxy_command  # noqa: E402  (mockserver proxy)

cli.add_command(_proxy_command)


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
