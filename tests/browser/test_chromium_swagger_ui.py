"""Swagger UI's "Try it out" in a real browser, clicked through as a person would: Authorize with a
fixture token, expand "Get a user", Try it out (the spec's examples fill the parameters), Execute.
Skipped only when Chromium (or the websockets package, which Connexion's uvicorn extra installs) is
missing."""

from __future__ import annotations

import json

import pytest

from tests.browser.chromium import INSTALL_HINT, chromium_binary
from tests.support import Server

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    chromium_binary() is None, reason=f"chromium is not installed (CI installs it: {INSTALL_HINT})"
)]

TRY_IT_OUT = """
(async () => {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  async function waitFor(selector, root = document, timeout = 30000) {
    const end = Date.now() + timeout;
    while (Date.now() < end) {
      const found = root.querySelector(selector);
      if (found) return found;
      await sleep(100);
    }
    throw new Error("timed out waiting for " + selector);
  }
  function type(input, value) {
    const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set;
    setter.call(input, value);
    input.dispatchEvent(new Event("input", {bubbles: true}));
    input.dispatchEvent(new Event("change", {bubbles: true}));
  }
  (await waitFor(".btn.authorize")).click();
  const dialog = await waitFor(".modal-ux");
  type(await waitFor("input", dialog), %(token)s);
  (await waitFor(".auth-btn-wrapper .authorize", dialog)).click();
  (await waitFor(".btn-done", dialog)).click();

  const operation = await waitFor("#operations-users-get_user");
  (operation.querySelector(".opblock-summary-control") || operation.querySelector(".opblock-summary")).click();
  (await waitFor(".try-out__btn", operation)).click();
  (await waitFor(".execute", operation)).click();
  const status = await waitFor(".live-responses-table tr.response .response-col_status", operation);
  const text = (selector) => (operation.querySelector(selector) || {textContent: ""}).textContent;
  return {
    servers: [...document.querySelectorAll(".servers select option")].map((o) => o.textContent.trim()),
    status: status.textContent.trim(),
    requestUrl: text(".request-url pre"),
    curl: text(".curl-command"),
    body: text(".live-responses-table .response-col_description pre"),
  };
})()
"""


def test_try_it_out_with_a_fixture_token():
    websockets = pytest.importorskip("websockets.sync.client", reason="the websockets package is not installed")
    assert websockets
    from tests.browser.chromium import DevTools

    with Server() as fake, DevTools() as browser:
        browser.navigate(fake.url + "/ui/")
        result = browser.evaluate(TRY_IT_OUT % {"token": json.dumps("jane-token")})

        assert result["status"].startswith("200"), result
        # The Servers dropdown shows the contract's server, not a blank entry.
        assert result["servers"] and all(result["servers"]) and result["servers"][0].startswith("/"), result
        assert result["requestUrl"].strip().startswith(fake.url + "/api/v1/customers/"), result
        assert "Authorization: Bearer jane-token" in result["curl"], result
        user = json.loads(result["body"])
        assert len(user["_id"]) == 24 and "email" in user
