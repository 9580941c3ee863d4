"""Drift: how far the fake has drifted from a live deployment (``mockserver drift URL``).

:func:`run_drift` (:mod:`.runner`) sends the same deterministic requests (:mod:`.sequence`) to the
deployment and to the fake, seeded from a recording of it, and reports every difference per
operation (:mod:`.compare`, :mod:`.report`). Built on the contract runner's options and
Schemathesis configuration and on :mod:`mockserver.remote` (safety policy, transport guard,
pre-flight, client, TLS, token masking).
"""

from mockserver.drift.compare import KINDS, VOLATILE_FIELDS, Comparer, Difference
from mockserver.drift.results import COULD_NOT_RUN, DRIFT, NO_DRIFT, DriftResult
from mockserver.drift.runner import DEFAULT_PHASES, DriftOptions, run_drift

__all__ = [
    "COULD_NOT_RUN",
    "DRIFT",
    "NO_DRIFT",
    "DEFAULT_PHASES",
    "KINDS",
    "VOLATILE_FIELDS",
    "Comparer",
    "Difference",
    "DriftOptions",
    "DriftResult",
    "run_drift",
]
