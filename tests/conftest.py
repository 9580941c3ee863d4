"""Shared test fixtures: the bundled seed, a store, the app served in-process over ASGI, and the fake
over HTTPS with certificates of its own (``https_fake``)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from mockserver.fixtures.document import FixtureLoader
from mockserver.store.memory import Store

ROOT = Path(__file__).resolve().parent.parent
ACME_FILE = ROOT / "fixtures" / "acme.json"
ACME = "6500000000000000000000a1"
BIRCH = "6500000000000000000000b2"
JANE = "6500000000000000000001a1"
ROBERT = "6500000000000000000001a2"
MARIA = "6500000000000000000001a3"
UNKNOWN_ID = "6500000000000000000009ff"
ADMIN = {"Authorization": "Bearer acme-admin-token"}
JANE_AUTH = {"Authorization": "Bearer jane-token"}
INTEGRATION = "integration=cloud-assistant-cdr"


def users_url(customer: str = ACME, version: str = "v1") -> str:
    return f"/api/{version}/customers/{customer}/users"


def user_url(user: str, customer: str = ACME, version: str = "v1") -> str:
    return f"{users_url(customer, version)}/{user}"


@pytest.fixture(scope="session")
def loader() -> FixtureLoader:
    return FixtureLoader()


@pytest.fixture(scope="session")
def seed_document(loader) -> dict:
    return loader.load_files([ACME_FILE])


@pytest.fixture
def seed(seed_document) -> dict:
    """A private copy of the bundled seed, free to modify."""
    return copy.deepcopy(seed_document)


@pytest.fixture
def store(seed) -> Store:
    return Store(seed)


@pytest.fixture(scope="session")
def shared_store(seed_document) -> Store:
    return Store(seed_document)


@pytest.fixture(scope="session")
def app(shared_store):
    from mockserver.app.build import build_app

    return build_app(shared_store).app


@pytest.fixture
def client(app, shared_store):
    """An HTTP client on the app, with the store back at the seed for every test."""
    shared_store.reset()
    with app.test_client() as test_client:
        yield test_client
    shared_store.reset()


@pytest.fixture
def write_json(tmp_path):
    """Write a JSON document to a file in tmp_path and return its path."""

    def write(name: str, document) -> Path:
        path = tmp_path / name
        path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
        return path

    return write


@pytest.fixture
def https_fake(tmp_path):
    """``serve(*names, expired=False, client_ca=False)``: the fake over HTTPS on a free port, its
    certificate for ``names`` signed by a CA written to ``tmp_path/ca.pem``; with ``client_ca`` it
    wants a client certificate signed by another CA (one is written to ``client.pem``)."""
    import datetime
    import ssl

    from tests.support import LiveServer, fresh_fake

    trustme = pytest.importorskip("trustme")

    def serve(*names: str, expired: bool = False, client_ca: bool = False) -> int:
        ca = trustme.CA()
        now = datetime.datetime.now(datetime.UTC)
        dates = {"not_before": now - datetime.timedelta(days=2), "not_after": now - datetime.timedelta(days=1)}
        leaf = ca.issue_cert(*names, **(dates if expired else {}))
        cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
        leaf.private_key_and_cert_chain_pem.write_to_path(str(cert))
        leaf.private_key_pem.write_to_path(str(key))
        ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        extra = {}
        if client_ca:
            clients = trustme.CA()
            clients.cert_pem.write_to_path(str(tmp_path / "client-ca.pem"))
            client = clients.issue_cert("ci@example.test")
            client.cert_chain_pems[0].write_to_path(str(tmp_path / "client.pem"))
            client.private_key_pem.write_to_path(str(tmp_path / "client-key.pem"))
            extra = {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": str(tmp_path / "client-ca.pem")}
        app, _store = fresh_fake()
        server = LiveServer(app, ssl_certfile=str(cert), ssl_keyfile=str(key), **extra).start()
        servers.append(server)
        return server.port

    servers: list = []
    yield serve
    for server in servers:
        server.stop()
