"""The ``contract``, ``record`` and ``drift`` commands: their own options, and the shared ones
(:mod:`mockserver.remote.options`), turned into the runners' options."""

from __future__ import annotations

import click

from mockserver.remote.options import color_setting, csv, generation_options, target_options, target_settings

COMMAND = {"context_settings": {"help_option_names": ["-h", "--help"]}}


@click.command("contract", **COMMAND)
@click.argument("url")
@target_options(
    token_help="Bearer token.",
    customer_help="Customer to test under.",
    user_help="A known user (repeatable). The first is used in every generated request on a user; "
              "only these users may be changed (--allow-writes) or deleted (--allow-delete).",
)
@generation_options()
@click.option("--junit", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write a JUnit XML report: one testcase per operation and check.")
@click.option("--seed", type=int, help="Random seed, for a reproducible run.")
@click.option("--max-examples", default=25, show_default=True, type=click.IntRange(1),
              help="Examples per operation and phase.")
@click.option("--checks", multiple=True, metavar="NAMES",
              help="Schemathesis checks to run, comma-separated (default: all).")
@click.option("--exclude-checks", multiple=True, metavar="NAMES", help="Checks to skip, comma-separated.")
@click.option("--max-failures", type=click.IntRange(1), help="Stop after this many failures.")
@click.option("--phases", multiple=True, metavar="LIST",
              help="Phases to run, comma-separated: examples,coverage,fuzzing,stateful (default: all).")
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
def contract(ctx: click.Context, url, **params):
    """Check the deployment at URL (its origin, e.g. https://staging.example.com, with the base path a
    gateway serves the API under, if any: https://api.example.com/identity) against the spec.

    \b
    Exit codes: 0 conforms, 1 contract violations found,
                2 could not run (unreachable, token rejected, bad option).
    Only a target that proves it is the local fake gets writes without --allow-writes/--allow-delete.
    """
    from mockserver.contract import PHASES, ContractOptions, run_contract

    shared = target_settings(ctx, params)
    options = ContractOptions(
        **shared,
        junit=params["junit"],
        seed=params["seed"],
        max_examples=params["max_examples"],
        checks=csv(params["checks"]) or ("all",),
        exclude_checks=csv(params["exclude_checks"]),
        max_failures=params["max_failures"],
        phases=csv(params["phases"]) or PHASES,
        config_file=params["config_file"],
        color=color_setting(params["color"]),
        coverage=params["coverage"], min_coverage=params["min_coverage"],
        baseline=params["baseline"], write_baseline=params["write_baseline"],
        **{name: params[name] or None for name in ("other_customer_id", "other_token", "lookup_token",
                                                   "lookup_user_id")},
    )
    ctx.exit(run_contract(url, options))


@click.command("record", **COMMAND)
@click.argument("url")
@target_options(
    token_help="Bearer token for the deployment; never written: the file gets new local tokens.",
    customer_help="The customer to record.",
    customer_required=True,
)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="Fixture file to write (atomically: a temporary file, then a rename).")
@click.option("--anonymize", is_flag=True,
              help="Replace names, nicknames, emails and the customer's name with fake ones, deterministically "
                   "(the same real value always gives the same fake one); ids and relations are kept.")
@click.option("--anonymize-key", envvar="MOCKSERVER_ANONYMIZE_KEY", show_envvar=True, metavar="KEY",
              help="Secret for --anonymize (default: a fixed key, so files are reproducible anywhere).")
@click.pass_context
def record(ctx: click.Context, url, output, anonymize, anonymize_key, **params):
    """Record one customer of the deployment at URL (GET requests only) into a fixture file.

    \b
    Exit codes: 0 written, 2 could not record (nothing written).
    Then: mockserver --seed FILE
    """
    from mockserver.record import RecordOptions, run_record

    options = RecordOptions(**target_settings(ctx, params), output=output, anonymize=anonymize,
                            anonymize_key=anonymize_key or None)
    ctx.exit(run_record(url, options))


@click.command("drift", **COMMAND)
@click.argument("url")
@target_options(
    token_help="Bearer token for the deployment; the fake accepts it for the run.", customer_help="Customer to compare.",
    user_help="With --allow-writes/--allow-delete: the only users that may be changed (restored at the end).",
)
@generation_options()
@click.option("--fixture", type=click.Path(dir_okay=False), metavar="FILE",
              help="Seed the fake from FILE (default: a fresh read-only recording of the target).")
@click.option("--ignore", "ignore", multiple=True, metavar="FIELD",
              help="Compare FIELD by shape only, like the timestamps (repeatable or comma-separated).")
@click.option("--json", "json_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write the report as JSON.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the generated requests.")
@click.option("--phases", multiple=True, metavar="LIST",
              help="Generated requests, comma-separated: examples,coverage,fuzzing (default: examples,coverage).")
@click.option("--max-examples", default=10, show_default=True, type=click.IntRange(1),
              help="Fuzzing phase: examples per operation.")
@click.option("--steps", default=60, show_default=True, type=click.IntRange(0),
              help="Budget of model-based steps: random sequences (from --seed) interleaving list, search, get, "
                   "lookup and, where allowed, PATCH and DELETE; a difference is shrunk to the shortest sequence. "
                   "0: the fixed requests only.")
@click.option("--fail-on", type=click.Choice(["meaning", "form"]), default="meaning", show_default=True,
              help="meaning: only differences in meaning (values, statuses, order, documented fields) fail the run; "
                   "form: also extra fields, error wording, timestamp precision (docs/drift.md).")
@click.option("--other-customer-id", metavar="ID", help="A second customer: the model tries --other-token on this one.")
@click.option("--other-token", envvar="MOCKSERVER_CONTRACT_OTHER_TOKEN", show_envvar=True, metavar="TOKEN",
              help="A token of --other-customer-id only: a principal that reads and tries to write. Never printed.")
@click.option("--lookup-token", envvar="MOCKSERVER_CONTRACT_LOOKUP_TOKEN", show_envvar=True, metavar="TOKEN",
              help="A token bound to the user --lookup-user-id: a principal that reads and tries to write. "
                   "Never printed.")
@click.option("--lookup-user-id", metavar="ID", help="The user --lookup-token belongs to.")
@click.pass_context
def drift(ctx: click.Context, url, **params):
    """Show where the fake and the deployment at URL disagree: the same requests to both, every difference.

    \b
    Exit codes: 0 no drift, 1 drift, 2 could not run.
    Only a target that proves it is the local fake gets writes without --allow-writes/--allow-delete.
    """
    from mockserver.drift import DEFAULT_PHASES, DriftOptions, run_drift

    shared = target_settings(ctx, params)
    options = DriftOptions(
        **shared, fixture=params["fixture"], ignore=csv(params["ignore"]), json_file=params["json_file"],
        seed=params["seed"], phases=csv(params["phases"]) or DEFAULT_PHASES, max_examples=params["max_examples"],
        config_file=params["config_file"], steps=params["steps"], color=color_setting(params["color"]),
        coverage=params["coverage"], min_coverage=params["min_coverage"], fail_on=params["fail_on"],
        baseline=params["baseline"], write_baseline=params["write_baseline"],
        **{name: params[name] or None for name in ("other_customer_id", "other_token", "lookup_token",
                                                   "lookup_user_id")},
    )
    ctx.exit(run_drift(url, options))


COMMANDS = (contract, record, drift)
