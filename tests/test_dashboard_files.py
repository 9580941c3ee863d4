"""The dashboard's files and the index page at / , over HTTP (the browser tests drive the page itself)."""

from __future__ import annotations

import re

import pytest

from mockserver.admin.dashboard import UI_DIR
from mockserver.app.build import ServerOptions, create_app
from mockserver.store.memory import Store
from tests.support import assert_problem

TOKEN = "the-admin-token-for-tests"
HTML = {"Accept": "text/html,application/xhtml+xml"}


@pytest.fixture
def dclient(seed):
    app = create_app(Store(seed), ServerOptions(admin_token=TOKEN, journal_size=50))
    with app.test_client() as test_client:
        yield test_client


def test_the_dashboard_and_its_files(dclient):
    page = dclient.get("/__admin/ui/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    # Everything the page loads is one of its own files: no CDN, nothing from another origin.
    for reference in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        if reference.startswith("data:"):
            continue
        assert "//" not in reference, reference
        response = dclient.get("/__admin/ui/" + reference)
        assert response.status_code == 200, reference
    script = dclient.get("/__admin/ui/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "http://" not in script.text and "https://" not in script.text
    assert "sessionStorage" in script.text and "Authorization" in script.text


def test_paths_outside_the_shipped_files_are_404(dclient):
    for path in ("/__admin/ui/nope.js", "/__admin/ui/../api.py", "/__admin/ui/%2e%2e/api.py", "/__admin/ui/sub/app.js"):
        assert dclient.get(path).status_code == 404, path
    response = dclient.get("/__admin/ui", follow_redirects=False)
    assert response.status_code == 308 and response.headers["location"] == "/__admin/ui/"


def test_the_files_ship_in_the_package():
    names = {path.name for path in UI_DIR.iterdir()}
    assert {"index.html", "app.js", "style.css"} <= names


def test_slash_in_a_browser_links_swagger_ui_and_the_dashboard(dclient):
    page = dclient.get("/", headers=HTML)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'href="/ui/"' in page.text and 'href="/__admin/ui/"' in page.text
    # Not a browser: the Users API's answer, unchanged.
    assert_problem(dclient.get("/", headers={"Accept": "application/json"}), 404)


def test_no_dashboard_without_the_admin_api(client):
    assert client.get("/__admin/ui/").status_code == 404
    assert client.get("/", headers=HTML).status_code == 404


def test_the_dashboard_is_not_journaled(dclient):
    dclient.get("/__admin/ui/")
    dclient.get("/", headers=HTML)
    journal = dclient.get("/__admin/journal", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert journal["entries"] == [] and journal["capacity"] == 50
