"""The dashboard in a real headless Chromium, driven as a person would: it shows requests made after it
opened, its reset button resets the state, a rule added from the page forces the next answer.

Screenshots of the main views are written to the test's temporary directory, and to the directory
``MOCKSERVER_SCREENSHOTS`` names when it is set (``docs/`` keeps the ones in the README). Skipped only
when Chromium is not installed."""

from __future__ import annotations

import base64
import json
import os
import shutil

import pytest

from tests.browser.chromium import INSTALL_HINT, DevTools, chromium_binary
from tests.conftest import JANE, user_url
from tests.support import Server

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    chromium_binary() is None, reason=f"chromium is not installed (CI installs it: {INSTALL_HINT})"
)]

HELPERS = """
window.t = {
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  async waitFor(predicate, what, timeout = 30000) {
    const end = Date.now() + timeout;
    while (Date.now() < end) {
      const value = predicate();
      if (value) return value;
      await t.sleep(100);
    }
    throw new Error("timed out waiting for " + what);
  },
  rows: (selector) => [...document.querySelectorAll(selector + " tbody tr")].map((r) => r.innerText),
};
true
"""


def open_page(browser: DevTools, url: str, ready: str) -> None:
    """Load ``url`` and wait until ``ready`` (JavaScript) is true. (The dashboard drops the fragment
    from its address, so DevTools.navigate, which waits for the exact address, does not fit.)"""
    import time

    browser.send("Page.navigate", url=url)
    deadline = time.monotonic() + browser.timeout
    while True:
        try:
            if browser.evaluate(f"document.readyState === 'complete' && !!({ready})"):
                return
        except AssertionError:
            pass  # the context went away mid-navigation: ask again
        assert time.monotonic() < deadline, f"{url} did not get ready"
        time.sleep(0.1)


def js(expression: str) -> str:
    return f"(async () => {{ {expression} }})()"


@pytest.fixture
def dashboard(tmp_path):
    with Server() as fake, DevTools() as browser:
        browser.send("Emulation.setDeviceMetricsOverride", width=1280, height=860, deviceScaleFactor=1, mobile=False)
        token = fake.admin_token()
        url = f"{fake.url}/__admin/ui/"
        assert f"Dashboard: {url} " in fake.banner  # the banner prints the dashboard's address
        open_page(browser, url + f"#token={token}", "document.body.dataset.ready")
        browser.evaluate(HELPERS)
        yield fake, browser, tmp_path


def screenshot(browser: DevTools, directory, name: str) -> None:
    data = base64.b64decode(browser.send("Page.captureScreenshot", format="png")["data"])
    (directory / name).write_bytes(data)
    target = os.environ.get("MOCKSERVER_SCREENSHOTS")
    if target:
        shutil.copy(directory / name, os.path.join(target, name))


def click(browser: DevTools, selector: str) -> None:
    browser.evaluate(js(f"document.querySelector({json.dumps(selector)}).click(); return true;"))


def test_it_shows_requests_made_after_it_opened_and_the_token_left_the_address(dashboard):
    fake, browser, shots = dashboard
    # The fragment is gone from the address bar; the token is in this tab's session storage.
    assert browser.evaluate("location.hash") == ""
    assert browser.evaluate("sessionStorage.getItem('mockserver.adminToken')") == fake.admin_token()

    status, _, _ = fake.request("GET", user_url(JANE), token="jane-token", headers={"X-Mock-Session": "demo"})
    assert status == 200
    fake.request("GET", user_url(JANE), token="jane-token", headers={"Prefer": "code=404"})
    fake.request("GET", user_url(JANE))  # 401
    rows = browser.evaluate(js(
        "return await t.waitFor(() => { const r = t.rows('#requests'); return r.length >= 3 && r; }, 'three rows');"))
    assert any(f"/users/{JANE}" in row and "demo" in row and "200" in row for row in rows), rows
    assert any("404 (error)" in row and "Prefer code=404" in row for row in rows), rows
    assert any("401 (error)" in row for row in rows), rows

    # The filter narrows the table.
    browser.evaluate(js("const f = document.querySelector('#filter'); f.value = 'Prefer';"
                        "f.dispatchEvent(new Event('input')); return true;"))
    filtered = browser.evaluate("t.rows('#requests')")
    assert len(filtered) == 1 and "Prefer code=404" in filtered[0]
    browser.evaluate(js("const f = document.querySelector('#filter'); f.value = '';"
                        "f.dispatchEvent(new Event('input')); return true;"))
    screenshot(browser, shots, "dashboard-requests.png")

    # Customers and users: a searchable table and one user's full JSON.
    click(browser, "#tab-data")
    browser.evaluate(js("return await t.waitFor(() => t.rows('#users').length > 5, 'the users');"))
    browser.evaluate(js("const s = document.querySelector('#user-search'); s.value = 'jane';"
                        "s.dispatchEvent(new Event('input')); return true;"))
    users = browser.evaluate("t.rows('#users')")
    assert len(users) == 1 and JANE in users[0], users
    click(browser, "#users tbody button")
    shown = json.loads(browser.evaluate("document.querySelector('#user-json').textContent"))
    assert shown["_id"] == JANE and "email" in shown
    screenshot(browser, shots, "dashboard-users.png")

    # Coverage: shown if the server has it, a plain placeholder otherwise (never an error page).
    click(browser, "#tab-coverage")
    coverage = browser.evaluate(js(
        "return await t.waitFor(() => { const c = document.querySelector('#coverage').innerText;"
        " return c !== 'Not loaded yet.' && c; }, 'the coverage');"))
    status, _, _ = fake.request("GET", "/__admin/coverage", token=fake.admin_token())
    assert ("not available" in coverage) == (status != 200), coverage


def press(browser: DevTools, key: str, code: str, key_code: int) -> None:
    """A real key press (through Chromium's input pipeline, not a synthetic DOM event)."""
    for kind in ("rawKeyDown", "keyUp"):
        browser.send("Input.dispatchKeyEvent", type=kind, key=key, code=code, windowsVirtualKeyCode=key_code)
    if key == "Enter":
        browser.send("Input.dispatchKeyEvent", type="char", text="\r", key=key, code=code,
                     windowsVirtualKeyCode=key_code)


def test_reset_from_the_page_resets_the_state_with_the_keyboard_alone(dashboard):
    fake, browser, shots = dashboard
    status, _, body = fake.request("PATCH", user_url(JANE), token="jane-token", body={"nickname": "changed"})
    assert status == 200 and body["nickname"] == "changed"

    # The tabs move with the arrow keys (left from the first wraps to the last, Control).
    browser.evaluate("document.querySelector('#tab-requests').focus(), true")
    press(browser, "ArrowLeft", "ArrowLeft", 37)
    assert browser.evaluate("document.activeElement.id") == "tab-control"
    assert browser.evaluate("document.querySelector('#view-control').hidden") is False
    browser.evaluate("document.querySelector('#reset').focus(), true")
    press(browser, "Enter", "Enter", 13)
    browser.evaluate(js("return await t.waitFor(() => document.querySelector('#message').textContent"
                        ".includes('Reset the default state'), 'the reset message');"))
    _, _, body = fake.request("GET", user_url(JANE), token="jane-token")
    assert body["nickname"] != "changed"


def test_a_rule_added_from_the_page_forces_the_next_answer(dashboard):
    fake, browser, shots = dashboard
    click(browser, "#tab-control")
    browser.evaluate(js("return await t.waitFor(() => document.querySelector('#rule-operation').options.length,"
                        " 'the operations');"))
    browser.evaluate(js("""
        const op = document.querySelector('#rule-operation');
        op.value = 'get_user'; op.dispatchEvent(new Event('change'));
        document.querySelector('#rule-status').value = '503';
        document.querySelector('#rule-times').value = '1';
        document.querySelector('#rule-form button[type=submit]').click();
        return await t.waitFor(() => t.rows('#rules').some((r) => r.includes('get_user')), 'the rule row');
    """))
    screenshot(browser, shots, "dashboard-control.png")

    status, headers, body = fake.request("GET", user_url(JANE), token="jane-token")
    assert status == 503 and "scenario rule" in body["detail"]
    status, _, _ = fake.request("GET", user_url(JANE), token="jane-token")
    assert status == 200  # times 1: used up

    # Chaos from the page: every get_user answers 503 until it is turned off.
    browser.evaluate(js("""
        document.querySelector('#chaos-rate').value = '1';
        document.querySelector('#chaos-codes').value = '503';
        document.querySelector('#chaos-form button[type=submit]').click();
        return await t.waitFor(() => document.querySelector('#chaos').innerText.includes('faults'), 'chaos on');
    """))
    status, _, body = fake.request("GET", user_url(JANE), token="jane-token")
    assert status == 503 and "--error-rate" in body["detail"]
    click(browser, "#chaos-off")
    browser.evaluate(js("return await t.waitFor(() => document.querySelector('#chaos').innerText"
                        ".includes('Chaos is off'), 'chaos off');"))
    assert fake.request("GET", user_url(JANE), token="jane-token")[0] == 200

    # The requests view marks the forced answer and names the rule.
    click(browser, "#tab-requests")
    rows = browser.evaluate(js(
        "return await t.waitFor(() => { const r = t.rows('#requests'); "
        "return r.some((x) => x.includes('scenario rule')) && r; }, 'the forced row');"))
    assert any("503 (error)" in row and "scenario rule 1 code=503" in row for row in rows), rows
    assert any("503 (error)" in row and "chaos fault 503" in row for row in rows), rows
    screenshot(browser, shots, "dashboard-forced.png")


def test_a_wrong_token_shows_the_sign_in_form(tmp_path):
    with Server() as fake, DevTools() as browser:
        open_page(browser, f"{fake.url}/__admin/ui/#token=not-the-token", "document.querySelector('#login-error')")
        browser.evaluate(HELPERS)
        error = browser.evaluate(js("return await t.waitFor(() => document.querySelector('#login-error').textContent,"
                                    " 'the error');"))
        assert "not the admin token" in error
        assert browser.evaluate("document.querySelector('#app').hidden") is True
        assert browser.evaluate("sessionStorage.getItem('mockserver.adminToken')") is None


def test_a_rejected_request_shows_its_body_answer_detail_and_a_curl_line(dashboard):
    fake, browser, shots = dashboard
    sent = {"jobTitle": "Head of Platform", "jobtitel": "typo"}
    status, _, problem = fake.request("PATCH", user_url(JANE), token="jane-token", body=sent)
    assert status == 400 and "jobtitel" in problem["detail"]
    # The row carries the problem detail; its button expands both bodies and the curl line.
    row = browser.evaluate(js(
        "return await t.waitFor(() => t.rows('#requests').find((r) => r.includes('PATCH')), 'the PATCH row');"))
    assert "400 (error)" in row and problem["detail"] in row, row
    click(browser, "#requests tbody tr:not(.details) button")
    parts = browser.evaluate(js(
        "return await t.waitFor(() => { const d = document.querySelector('#requests tr.details .entry-details');"
        " if (!d) return null; const out = {};"
        " for (const pre of d.querySelectorAll('pre')) out[pre.dataset.part] = pre.textContent; return out; },"
        " 'the expanded request');"))
    assert json.loads(parts["request-body"]) == sent
    assert json.loads(parts["response-body"]) == problem
    assert parts["detail"] == problem["detail"]
    assert parts["curl"].startswith("curl -X PATCH") and "$TOKEN" in parts["curl"] and "jane-token" not in parts["curl"]
    button = browser.evaluate("document.querySelector('#requests tbody tr:not(.details) button').getAttribute('aria-expanded')")
    assert button == "true"
    # It stays open while the journal polls, and newer requests arrive above it.
    fake.request("GET", user_url(JANE), token="jane-token")
    browser.evaluate(js("return await t.waitFor(() => t.rows('#requests').filter((r) => r.includes('GET')).length,"
                        " 'the newer row');"))
    assert browser.evaluate("!!document.querySelector('#requests tr.details pre[data-part=detail]')")
    screenshot(browser, shots, "dashboard-request-details.png")

    # "Download as HAR" hands the browser the journal as HAR 1.2 (the blob it downloads is read back here).
    har = json.loads(browser.evaluate(js(
        "const made = []; const original = URL.createObjectURL;"
        " URL.createObjectURL = (blob) => { made.push(blob); return original(blob); };"
        " document.querySelector('#export-har').click();"
        " await t.waitFor(() => made.length, 'the HAR blob'); URL.createObjectURL = original;"
        " return await made[0].text();")))
    assert har["log"]["version"] == "1.2"
    assert any(e["request"]["method"] == "PATCH" and e["response"]["status"] == 400 for e in har["log"]["entries"])
    assert "jane-token" not in json.dumps(har)
    assert "mockserver-journal.har" in browser.evaluate("document.querySelector('#message').textContent")

    # Coverage is a table: one row per operation, the PATCH's 400 counted.
    click(browser, "#tab-coverage")
    cells = browser.evaluate(js(
        "return await t.waitFor(() => { const t2 = document.querySelector('#coverage-table'); if (!t2) return null;"
        " const heads = [...t2.tHead.rows[0].cells].map((c) => c.textContent);"
        " const row = [...t2.tBodies[0].rows].find((r) => r.cells[0].textContent === 'update_user_v1');"
        " return row && Object.fromEntries(heads.map((h, i) => [h, row.cells[i].textContent])); }, 'the table');"))
    assert cells["Method"] == "PATCH" and cells["400"] == "1" and cells["200"] == "0", cells
