"""The ``mockserver replay FILE URL`` command: drift's target and safety options, and its own."""

from __future__ import annotations

import click

from mockserver.remote.options import color_setting, csv, target_options, target_settings


@click.command("replay", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("har_file", metavar="FILE", type=click.Path(dir_okay=False))
@click.argument("url")
@target_options(
    token_help="Bearer token for the deployment; it replaces every token recorded in FILE, and the fake "
               "accepts it for the run.",
    customer_help="Customer to replay under.",
    user_help="With --allow-writes/--allow-delete: the only users the recorded writes may change (after "
              "--map; restored at the end).",
)
@click.option("--map", "maps", multiple=True, metavar="OLD=NEW",
              help="Replace the ObjectId OLD (a customer, user or role the app saw) by NEW in every recorded "
                   "path, query and body (repeatable).")
@click.option("--har-origin", metavar="URL",
              help="Where the app reached the Users API in FILE: an origin, with the gateway's path prefix if "
                   "there was one, e.g. https://staging.example.com/identity (default: the one base URL whose "
                   "requests are on the spec's paths).")
@click.option("--fixture", type=click.Path(dir_okay=False), metavar="FILE",
              help="Seed the fake from FILE (default: a fresh read-only recording of the target).")
@click.option("--ignore", "ignore", multiple=True, metavar="FIELD",
              help="Compare FIELD by shape only, like the timestamps (repeatable or comma-separated).")
@click.option("--json", "json_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write the report as JSON.")
@click.option("--junit", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write a JUnit XML report: one testcase per entry of the HAR file.")
@click.option("--color/--no-color", default=None, help="Colour the output (default: when it is a terminal).")
@click.pass_context
def replay(ctx: click.Context, har_file, url, **params):
    """Replay the app's requests recorded in FILE (HAR 1.2: the fake's journal, Playwright's recordHar,
    a browser's export) against the deployment at URL and the fake; compare every answer.

    \b
    Exit codes: 0 every replayed request answered alike, 1 differences, 2 could not run.
    Recorded writes reach a target other than the proven fake only with --allow-writes/--allow-delete
    and only on --user-id users; the others are listed as not sent.
    """
    from mockserver.replay.run import ReplayOptions, run_replay

    options = ReplayOptions(
        **target_settings(ctx, params), har_file=har_file, maps=tuple(params["maps"]),
        har_origin=params["har_origin"], fixture=params["fixture"], ignore=csv(params["ignore"]),
        json_file=params["json_file"], junit=params["junit"], color=color_setting(params["color"]),
    )
    ctx.exit(run_replay(url, options))
