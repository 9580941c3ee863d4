"""The fake still passes its own contract (Schemathesis, every check, stateful too) with the front-end
features in use: every request comes from a browser origin (CORS answers), runs in an isolated
session (X-Mock-Session), and the journal and admin API are on. Chaos stays off: a fault is by
design an answer the request did not earn. The same run as tests/test_contract_fake.py otherwise."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from mockserver.app.build import ServerOptions, build_app
from mockserver.store.memory import Store
from tests.conftest import ACME
from tests.support import contract_config

pytestmark = pytest.mark.slow  # starts servers or runs whole contract, drift, kill or browser runs

MAX_EXAMPLES = 40
SESSION = "contract-run"
HEADERS = {"Authorization": "Bearer jane-token", "Origin": "http://localhost:5173", "X-Mock-Session": SESSION}


def _config(**extra):
    return contract_config(HEADERS, max_examples=MAX_EXAMPLES, **extra)


@pytest.fixture(scope="module")
def features_fake(seed_document):
    return build_app(Store(seed_document), ServerOptions(admin_token="contract-admin", cors_origins=("https://x.test",)))


@pytest.fixture(scope="module")
def features_app(features_fake):
    return features_fake.app


def _fresh(fake):
    fake.control.store.reset()
    fake.control.sessions.clear()


@pytest.fixture
def random_customer_schema(features_app, features_fake):
    _fresh(features_fake)
    return schemathesis.openapi.from_asgi("/openapi.json", features_app, config=_config())


@pytest.fixture
def acme_schema(features_app, features_fake):
    _fresh(features_fake)
    return schemathesis.openapi.from_asgi("/openapi.json", features_app, config=_config(parameters={"customerId": ACME}))


random_customer = schemathesis.pytest.from_fixture("random_customer_schema")
acme = schemathesis.pytest.from_fixture("acme_schema")
SETTINGS = settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=MAX_EXAMPLES, derandomize=True)


@random_customer.parametrize()
@SETTINGS
def test_every_check_with_random_ids_in_a_session_from_a_browser_origin(case):
    response = case.call_and_validate()
    allowed = {name.lower(): value for name, value in response.headers.items()}.get("access-control-allow-origin")
    assert allowed in ("http://localhost:5173", ["http://localhost:5173"]), response.headers


@acme.parametrize()
@SETTINGS
def test_every_check_on_real_users_in_a_session_from_a_browser_origin(case):
    case.call_and_validate()


def test_stateful_in_a_session(acme_schema, features_fake):
    control = features_fake.control

    class Scenarios(acme_schema.as_state_machine()):
        def setup(self):
            control.sessions.clear()

    Scenarios.run(settings=settings(max_examples=60, stateful_step_count=8, deadline=None,
                                    suppress_health_check=list(HealthCheck), derandomize=True))
    # Every write went to the session: the default state is still the seed.
    assert control.store.changed_records() is None
    assert control.store.snapshot() == Store(control.store.seed_document()).snapshot()
    assert any(entry["session"] == SESSION for entry in control.journal.entries())
