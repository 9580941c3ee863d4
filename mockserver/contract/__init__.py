"""The contract runner: check a live deployment (or the fake) against ``openapi/users.yaml``.

``mockserver contract URL`` is :func:`run_contract`; see :mod:`mockserver.contract.runner` for the
run, :mod:`.safety` for what may be sent to a target and how that is enforced, :mod:`.checks` for
the check the runner adds to Schemathesis' own, :mod:`.restore` for ``--allow-writes``, and
:mod:`.report` for the output and the JUnit file. Never imports the store.
"""

from mockserver.contract.results import CONFORMS, COULD_NOT_RUN, VIOLATIONS
from mockserver.contract.runner import (
    DEFAULT_MAX_EXAMPLES,
    DEFAULT_REMOTE_RATE_LIMIT,
    PHASES,
    TOKEN_ENV,
    ContractOptions,
    known_checks,
    run_contract,
)
from mockserver.contract.safety import Policy, decide_policy, is_loopback_host, parse_target

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
