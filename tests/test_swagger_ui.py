"""Swagger UI at /ui/ and the spec it shows at /openapi.json: the contract itself, with a server URL
that resolves to the running server and the bearer scheme behind the Authorize button. "Try it out"
in a real browser: tests/browser/test_chromium_swagger_ui.py."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from mockserver.spec import schemas
from tests.conftest import JANE_AUTH, users_url


def test_swagger_ui_is_served(client):
    response = client.get("/ui/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in response.text
    assert client.get("/ui/swagger-ui-bundle.js").status_code == 200


def _inlined(node, spec):
    """The document with every local $ref replaced by what it points to (Connexion serves it so)."""
    if isinstance(node, list):
        return [_inlined(item, spec) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return _inlined(target, spec)
    return {key: _inlined(value, spec) for key, value in node.items()}


def test_the_spec_served_is_the_contract(client):
    """Everything but ``servers`` (rewritten to the API's base path) is openapi/users.yaml, refs inlined."""
    served = client.get("/openapi.json").json()
    contract = schemas.load_spec()
    assert served["info"] == contract["info"] and set(served["paths"]) == set(contract["paths"])
    without_servers = lambda doc: {k: v for k, v in _inlined(doc, doc).items() if k != "servers"}  # noqa: E731
    assert without_servers(served) == without_servers(contract)


def test_the_served_server_url_resolves_to_this_server(client):
    """Swagger UI resolves the server URL against the spec's own URL: it must land on this server."""
    spec_url = "http://127.0.0.1:8080/openapi.json"
    base = urljoin(spec_url, client.get("/openapi.json").json()["servers"][0]["url"] or ".")
    assert urlsplit(base)[:2] == ("http", "127.0.0.1:8080")
    path = urlsplit(base).path.rstrip("/") + f"{users_url()}/lookup"
    assert client.get(path, headers=JANE_AUTH).status_code == 200


def test_the_authorize_button_has_a_bearer_scheme_and_keeps_the_token(client):
    served = client.get("/openapi.json").json()
    scheme = served["components"]["securitySchemes"]["bearerAuth"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert served["security"] == [{"bearerAuth": []}]
    config = client.get("/ui/swagger-ui-config.json").json()
    assert config["persistAuthorization"] is True  # a page reload keeps the token
