"""The contract runner: check a live deployment (or the fake) against ``openapi/users.yaml``.

``mockserver contract URL`` is :func:`run_contract`; see :mod:`mockserver.contract.runner` for the
run, :mod:`.plan` for its options, :mod:`.schema` for the Schemathesis configuration,
:mod:`.checks` for the checks the runner adds to Schemathesis' own, :mod:`.behaviour` for the
behavioural checks, and :mod:`.report` for the output and the JUnit file. What every remote
command shares (safety, the client, ``--allow-writes`` restores, TLS) is in :mod:`mockserver.remote`.
Never imports the store.
"""

from mockserver.contract.plan import DEFAULT_MAX_EXAMPLES, PHASES, ContractOptions, known_checks
from mockserver.contract.results import CONFORMS, COULD_NOT_RUN, VIOLATIONS
from mockserver.contract.runner import run_contract
from mockserver.remote.safety import Policy, decide_policy, is_loopback_host, parse_target
from mockserver.remote.target import DEFAULT_REMOTE_RATE_LIMIT, TOKEN_ENV

__all__ = [
    "CONFORMS",
    "COULD_NOT_RUN",
    "VIOLATIONS",
    "DEFAULT_MAX_EXAMPLES",
    "DEFAULT_REMOTE_RATE_LIMIT",
    "PHASES",
    "TOKEN_ENV",
    "ContractOptions",
    "Policy",
    "decide_policy",
    "is_loopback_host",
    "known_checks",
    "parse_target",
    "run_contract",
]
