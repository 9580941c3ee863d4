"""CORS in a real browser: a page served from a second loopback port calls the fake with ``fetch``
and a bearer token (a read, a PATCH, errors) and writes what it saw into the page; the test reads it
back from headless Chromium's DOM. Skipped only when Chromium is not installed."""

from __future__ import annotations

import json

import pytest

from tests.browser.chromium import INSTALL_HINT, PageServer, chromium_binary, dump_dom, result_of
from tests.conftest import ACME, JANE, UNKNOWN_ID
from tests.support import Server

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    chromium_binary() is None, reason=f"chromium is not installed (CI installs it: {INSTALL_HINT})"
)]

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>front end</title></head>
<body><pre id="result">pending</pre>
<script>
const api = %(api)s;
const user = api + "/api/v1/customers/%(acme)s/users/%(jane)s";
const auth = {"Authorization": "Bearer jane-token"};
async function call(name, url, init) {
  try {
    const response = await fetch(url, init);
    const text = await response.text();
    return {status: response.status, contentType: response.headers.get("Content-Type"),
            wwwAuthenticate: response.headers.get("WWW-Authenticate"),
            preferenceApplied: response.headers.get("Preference-Applied"),
            body: text ? JSON.parse(text) : null};
  } catch (error) {
    return {error: String(error)};
  }
}
(async () => {
  const out = {origin: location.origin};
  out.read = await call("read", user, {headers: auth});
  out.patch = await call("patch", user, {method: "PATCH",
      headers: {...auth, "Content-Type": "application/json"},
      body: JSON.stringify({nickname: "from-chromium"})});
  out.readBack = await call("readBack", user, {headers: auth});
  out.notFound = await call("notFound", api + "/api/v1/customers/%(acme)s/users/%(unknown)s", {headers: auth});
  out.noToken = await call("noToken", user, {});
  out.forced = await call("forced", user, {headers: {...auth, "Prefer": "code=404", "X-Mock-Session": "browser"}});
  document.getElementById("result").textContent = JSON.stringify(out);
})();
</script></body></html>
"""


def page(api: str) -> str:
    return PAGE % {"api": json.dumps(api), "acme": ACME, "jane": JANE, "unknown": UNKNOWN_ID}


def test_a_page_on_another_port_reads_and_patches_with_a_bearer_token():
    with Server() as fake, PageServer({"/app.html": page(fake.url)}) as pages:
        assert pages.url != fake.url
        result = result_of(dump_dom(pages.url + "/app.html"))

        assert result["origin"] == pages.url
        assert result["read"]["status"] == 200, result
        assert result["read"]["body"]["_id"] == JANE
        assert result["patch"]["status"] == 200, result  # the preflight for PATCH + Authorization passed
        assert result["patch"]["body"]["nickname"] == "from-chromium"
        assert result["readBack"]["body"]["nickname"] == "from-chromium"
        # Errors are readable by the page too: CORS headers are on them, and the exposed headers show.
        assert result["notFound"]["status"] == 404
        assert result["notFound"]["contentType"] == "application/problem+json"
        assert result["notFound"]["body"]["status"] == 404
        assert result["noToken"]["status"] == 401
        assert result["noToken"]["wwwAuthenticate"].startswith("Bearer")
        assert result["forced"]["status"] == 404 and result["forced"]["preferenceApplied"] == "code=404"

        # The PATCH really reached the server's state.
        status, _, body = fake.request("GET", f"/api/v1/customers/{ACME}/users/{JANE}", token="jane-token")
        assert status == 200 and body["nickname"] == "from-chromium"


def test_without_cors_the_browser_blocks_the_same_calls():
    """The control experiment: the same page against a fake started with --no-cors gets nothing,
    so the first test's success is the CORS headers' doing."""
    with Server("--no-cors") as fake, PageServer({"/app.html": page(fake.url)}) as pages:
        result = result_of(dump_dom(pages.url + "/app.html"))
        for call in ("read", "patch", "notFound", "noToken"):
            assert "error" in result[call], result
        status, _, body = fake.request("GET", f"/api/v1/customers/{ACME}/users/{JANE}", token="jane-token")
        assert body["nickname"] != "from-chromium"  # the PATCH's preflight failed, so it was never sent
