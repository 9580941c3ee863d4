"""GET /__admin/journal.har: the journal as HAR 1.2, checked by an independent reader (the HAR 1.2 JSON
Schema of the ``har-schema`` package, installed from docs/examples/package.json by ``npm ci``), with
every credential masked. (Playwright reads the same archive back in the docs' example, tests/browser.)"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mockserver.app.build import ServerOptions, create_app
from mockserver.store.memory import Store
from tests.conftest import JANE, JANE_AUTH, user_url

TOKEN = "har-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SCHEMAS = Path(__file__).resolve().parent.parent / "docs" / "examples" / "node_modules" / "har-schema" / "lib"
INSTALL = "npm ci --prefix docs/examples"


def har_validator():
    if not SCHEMAS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"the HAR schema is not installed ({INSTALL}; .ci/run does it)")
        pytest.skip(f"the HAR schema is not installed: {INSTALL}")
    from jsonschema import Draft6Validator, FormatChecker
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT6

    registry = Registry()
    for file in SCHEMAS.glob("*.json"):
        schema = json.loads(file.read_text())
        registry = registry.with_resource(schema["$id"].rstrip("#"), Resource.from_contents(schema, DRAFT6))
    root = json.loads((SCHEMAS / "har.json").read_text())
    return Draft6Validator(root, registry=registry, format_checker=FormatChecker())


@pytest.fixture
def hclient(seed):
    app = create_app(Store(seed), ServerOptions(admin_token=TOKEN, journal_size=50))
    with app.test_client() as client:
        yield client


def test_the_journal_exports_as_valid_har(hclient):
    hclient.get(user_url(JANE), headers=JANE_AUTH)
    hclient.patch(user_url(JANE) + "?note=1", json={"jobTitle": "CTO", "x": 1}, headers=JANE_AUTH)  # 400
    hclient.get(user_url(JANE), headers={**JANE_AUTH, "Prefer": "code=404"})
    hclient.patch(user_url(JANE), content=bytes(range(256)), headers={**JANE_AUTH, "Content-Type": "image/png"})
    response = hclient.get("/__admin/journal.har", headers=AUTH)
    assert response.status_code == 200
    assert "mockserver-journal.har" in response.headers["content-disposition"]
    har = response.json()
    errors = sorted(har_validator().iter_errors(har), key=str)
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]

    entries = har["log"]["entries"]
    assert har["log"]["version"] == "1.2" and len(entries) == 4
    ok, rejected, forced, binary = entries
    assert ok["request"]["method"] == "GET" and ok["response"]["status"] == 200
    assert json.loads(ok["response"]["content"]["text"])["_id"] == JANE
    assert rejected["request"]["url"].endswith(user_url(JANE) + "?note=1")
    assert rejected["request"]["queryString"] == [{"name": "note", "value": "1"}]
    assert json.loads(rejected["request"]["postData"]["text"]) == {"jobTitle": "CTO", "x": 1}
    assert rejected["response"]["status"] == 400 and rejected["response"]["statusText"] == "Bad Request"
    assert rejected["response"]["content"]["mimeType"] == "application/problem+json"
    assert forced["comment"] == "Prefer code=404"
    assert binary["request"]["bodySize"] == 256 and "base64" in binary["request"]["postData"]["comment"]


def test_the_har_masks_credentials(hclient):
    hclient.get(user_url(JANE) + "?access_token=query-0123456789-secret",
                headers={**JANE_AUTH, "X-Api-Key": "key-0123456789-secret", "Cookie": "sid=c-0123456789-secret"})
    text = hclient.get("/__admin/journal.har", headers=AUTH).text
    assert "jane-token" not in text and "0123456789-secret" not in text
    entry = json.loads(text)["log"]["entries"][0]
    headers = {h["name"]: h["value"] for h in entry["request"]["headers"]}
    assert headers["authorization"] == "Bearer jane…"
    assert entry["request"]["queryString"] == [{"name": "access_token", "value": "…"}]
    assert not list(har_validator().iter_errors(json.loads(text)))


def test_an_empty_journal_is_an_empty_archive(hclient):
    har = hclient.get("/__admin/journal.har", headers=AUTH).json()
    assert har["log"]["entries"] == [] and not list(har_validator().iter_errors(har))
