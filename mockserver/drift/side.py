"""One side of a drift comparison (the target, or the fake): sends a prepared step, returns the
answer or one line saying why there is none."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import requests

from mockserver.drift.sequence import Step
from mockserver.remote.client import Client, RateLimited, network_reason
from mockserver.remote.report import WireResponse
from mockserver.remote.safety import WriteRefused
from mockserver.remote.tls import TLSSettings

NO_ANSWER = "the target did not answer"
NOT_SENT = "not sent"


class Side:
    """Sends a prepared step to ``origin``: (answer, None) or (None, why).

    A 429 from the target (or a 503 with Retry-After) is waited out by the run's request guard
    (:class:`mockserver.remote.client.WaitBudget`): the deployment's rate limit is not a difference
    between the two. The target is reached
    with the run's TLS settings and through the proxy the environment names; the fake (in this
    process, on loopback) directly."""

    def __init__(self, name: str, origin: str, timeout: float, limiter: Any, *, tls: TLSSettings | None = None,
                 trust_env: bool = True):
        self.name, self.origin, self.limiter = name, origin, limiter
        self.client = Client(origin, None, timeout, tls=tls)
        self.client.session.trust_env = trust_env

    def send(self, step: Step) -> tuple[WireResponse | None, str | None]:
        def once():
            if self.limiter is not None:
                self.limiter.try_acquire(self.origin)
            return self.client.send(step.prepared(self.origin), allow_redirects=False)

        try:
            response = once()
        except RateLimited as limited:
            return None, f"{NOT_SENT}: {limited}"
        except WriteRefused as refused:  # the policy filter should have kept it back
            return None, f"{NOT_SENT}: {refused}"
        except (requests.ConnectionError, requests.Timeout) as error:
            prefix = NO_ANSWER if self.name == "target" else f"{self.name} did not answer"
            return None, f"{prefix}: {network_reason(error)}"
        except requests.RequestException as error:  # refused before it left this machine
            return None, f"{NOT_SENT}: {type(error).__name__}: {error}"
        return answer_of(response), None

    def close(self) -> None:
        self.client.close()


@contextlib.contextmanager
def quiet_connexion():
    """Connexion warns on stderr about every request argument the spec does not name (the
    coverage phase sends many): the fake's log is not the report. Its errors still show."""
    logger = logging.getLogger("connexion")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    # Also when something below sets its own level: the parameter decorator's lines are dropped.
    parameters = logging.getLogger("connexion.decorators.parameter")
    parameters.addFilter(_no_undeclared_argument)
    try:
        yield
    finally:
        logger.setLevel(previous)
        parameters.removeFilter(_no_undeclared_argument)


def _no_undeclared_argument(record: logging.LogRecord) -> bool:
    return "not defined in specification" not in str(record.msg)


def answer_of(response) -> WireResponse:
    return WireResponse(status=response.status_code, content_type=response.headers.get("Content-Type", ""),
                        body=response.content or b"")
