"""The fake passes its own contract: Schemathesis in-process (ASGI), every check, stateful too.

Uses the project's one Schemathesis configuration (contract/schemathesis.toml), adding only what
this run needs: a fixture token and, for the second schema, the Acme customer so that generated
cases reach real users rather than 403s. The store goes back to the seed before every test.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.conftest import ACME
from tests.support import contract_config

pytestmark = pytest.mark.slow  # starts servers or runs whole contract, drift, kill or browser runs

MAX_EXAMPLES = 40


def _config(**extra):
    return contract_config({"Authorization": "Bearer jane-token"}, max_examples=MAX_EXAMPLES, **extra)


@pytest.fixture
def random_customer_schema(app, shared_store):
    shared_store.reset()
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=_config())


@pytest.fixture
def acme_schema(app, shared_store):
    shared_store.reset()
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=_config(parameters={"customerId": ACME}))


random_customer = schemathesis.pytest.from_fixture("random_customer_schema")
acme = schemathesis.pytest.from_fixture("acme_schema")
SETTINGS = settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=MAX_EXAMPLES, derandomize=True)


@random_customer.parametrize()
@SETTINGS
def test_every_check_with_random_ids(case):
    case.call_and_validate()


@acme.parametrize()
@SETTINGS
def test_every_check_on_real_users(case):
    case.call_and_validate()


def test_stateful(acme_schema, shared_store):
    """Links from list/get to get/patch/delete: PATCH persists, DELETE makes the user 404.

    Every scenario starts from the seed, so a scenario never depends on what an earlier one deleted."""

    class Scenarios(acme_schema.as_state_machine()):
        def setup(self):
            shared_store.reset()

    Scenarios.run(settings=settings(max_examples=60, stateful_step_count=8, deadline=None,
                                    suppress_health_check=list(HealthCheck), derandomize=True))
