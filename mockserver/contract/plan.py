"""A contract run's options and plan: the remote target's (:mod:`mockserver.remote.target`), plus
what Schemathesis generates (phases, examples, seed, config) and which checks run.

:class:`GenerationOptions` are the options ``contract`` and ``drift`` share (drift generates its
requests with the contract runner's Schemathesis configuration); :class:`ContractOptions` adds the
contract's own. :func:`plan_contract` checks them all, in the order a user meets them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

from mockserver.contract import checks as custom_checks
from mockserver.contract.behaviour import BEHAVIOUR_CHECKS, Credentials
from mockserver.remote.safety import UsageProblem
from mockserver.remote.target import LOCAL_DEFAULT_TOKEN, TargetOptions, TargetPlan, check_object_id, plan_target
from mockserver.spec import resources

PHASES = ("examples", "coverage", "fuzzing", "stateful")
DEFAULT_MAX_EXAMPLES = 25
# The behavioural checks' second customer and its token, and the user Jane's token is bound to.
LOCAL_OTHER_CUSTOMER = "6500000000000000000000b2"
LOCAL_OTHER_TOKEN = "birch-admin-token"
LOCAL_LOOKUP_USER = "6500000000000000000001a1"


@dataclass(kw_only=True)
class GenerationOptions(TargetOptions):
    """The target's options, plus what the contract runner's Schemathesis configuration needs."""

    seed: int | None = None
    max_examples: int = DEFAULT_MAX_EXAMPLES
    phases: tuple[str, ...] = PHASES
    config_file: str | None = None
    spec_file: str | None = None
    color: bool = False
    # --coverage FILE, --min-coverage PCT (mockserver.contract.coverage_run)
    coverage: str | None = None
    min_coverage: float | None = None
    # --baseline FILE, --write-baseline FILE (mockserver.remote.baseline)
    baseline: str | None = None
    write_baseline: str | None = None
    progress: bool | None = None  # None: a Rich status on a terminal, else one line per phase


@dataclass(kw_only=True)
class ContractOptions(GenerationOptions):
    junit: str | None = None
    checks: tuple[str, ...] = ("all",)
    exclude_checks: tuple[str, ...] = ()
    max_failures: int | None = None
    # Behavioural checks' extra credentials (mockserver.contract.behaviour).
    other_customer_id: str | None = None
    other_token: str | None = None
    lookup_token: str | None = None
    lookup_user_id: str | None = None

    @classmethod
    def built_on(cls, options: GenerationOptions, **changes) -> ContractOptions:
        """The contract options ``options`` (a drift run's) share, with ``changes``."""
        shared = {item.name: getattr(options, item.name) for item in fields(GenerationOptions)}
        return cls(**{**shared, **changes})


@dataclass(kw_only=True)
class ContractPlan(TargetPlan):
    included_checks: list[str]
    excluded_checks: list[str]
    config_file: Path
    spec_file: Path

    def read_only(self, guard=None) -> ContractPlan:
        plan = super().read_only(guard)
        if "unsupported_method" in plan.excluded_checks:
            return plan
        # It works by sending methods the spec does not document (PUT, POST, TRACE, ...).
        return replace(plan, excluded_checks=[*plan.excluded_checks, "unsupported_method"])


def plan_contract(url: str, options: ContractOptions) -> ContractPlan:
    """The target's plan (:func:`mockserver.remote.target.plan_target`), then the contract's options."""
    target_plan = plan_target(url, options)
    if options.max_examples < 1:
        raise UsageProblem("--max-examples must be at least 1")
    unknown_phases = [phase for phase in options.phases if phase not in PHASES]
    if unknown_phases or not options.phases:
        raise UsageProblem(f"--phases: {', '.join(unknown_phases) or 'none given'}; choose from {', '.join(PHASES)}")
    included, excluded = _check_names(options)
    if not target_plan.policy.unrestricted and "unsupported_method" not in excluded:
        # It works by sending methods the spec does not document (PUT, POST, TRACE, ...).
        excluded.append("unsupported_method")
    config_file = Path(options.config_file) if options.config_file else _default_config_file()
    if config_file is None or not config_file.is_file():
        raise UsageProblem(
            f"the Schemathesis config {config_file or 'contract/schemathesis.toml'} was not found; pass --config FILE"
        )
    spec_file = Path(options.spec_file) if options.spec_file else resources.spec_path()
    shared = {item.name: getattr(target_plan, item.name) for item in fields(TargetPlan)}
    return ContractPlan(**shared, included_checks=included, excluded_checks=excluded, config_file=config_file,
                        spec_file=spec_file)


def known_checks() -> list[str]:
    from schemathesis.checks import CHECKS, load_all_checks

    load_all_checks()
    return sorted({*CHECKS.get_all_names(), *custom_checks.CUSTOM_CHECKS, *BEHAVIOUR_CHECKS, "max_response_time"})


def _check_names(options: ContractOptions) -> tuple[list[str], list[str]]:
    known = set(known_checks())
    included = [name for name in options.checks if name] or ["all"]
    excluded = [name for name in options.exclude_checks if name]
    bad = [name for name in (*included, *excluded) if name != "all" and name not in known]
    if bad:
        raise UsageProblem(f"unknown check {', '.join(bad)}; known checks: {', '.join(sorted(known))}")
    return included, excluded


def _default_config_file() -> Path | None:
    """The project's Schemathesis config: bundled in a wheel, else ``contract/schemathesis.toml``."""
    try:
        return resources.schemathesis_config_path()
    except FileNotFoundError:
        return None


def wants_custom_checks(plan: ContractPlan) -> bool:
    names = set(plan.included_checks) - set(plan.excluded_checks)
    wanted = set(custom_checks.CUSTOM_CHECKS)
    return ("all" in plan.included_checks or bool(names & wanted)) and not wanted <= set(plan.excluded_checks)


def wanted_behaviour(plan: ContractPlan) -> set[str]:
    if "all" in plan.included_checks:
        wanted = set(BEHAVIOUR_CHECKS)
    else:
        wanted = set(plan.included_checks) & set(BEHAVIOUR_CHECKS)
    return wanted - set(plan.excluded_checks)


def behaviour_credentials(plan: ContractPlan, options: ContractOptions) -> Credentials:
    """The behavioural checks' extra credentials: the options, or (when the run uses the bundled
    fixtures' token, i.e. the local fake) the fixtures' second customer and Jane's bound token."""
    credentials = Credentials(
        other_customer_id=options.other_customer_id,
        other_token=options.other_token,
        lookup_token=options.lookup_token,
        lookup_user_id=options.lookup_user_id,
        source="options",
    )
    check_object_id("--other-customer-id", credentials.other_customer_id)
    check_object_id("--lookup-user-id", credentials.lookup_user_id)
    if options.token is None and plan.token == LOCAL_DEFAULT_TOKEN:
        if credentials.other_customer_id is None and credentials.other_token is None:
            credentials.other_customer_id, credentials.other_token = LOCAL_OTHER_CUSTOMER, LOCAL_OTHER_TOKEN
        if credentials.lookup_token is None and credentials.lookup_user_id is None:
            credentials.lookup_token, credentials.lookup_user_id = LOCAL_DEFAULT_TOKEN, LOCAL_LOOKUP_USER
        credentials.source = "the bundled fixtures"
    return credentials
