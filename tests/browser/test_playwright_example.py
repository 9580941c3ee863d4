"""The docs' Playwright example (docs/examples/verify.spec.ts, explained in docs/verify.md) run as a user
runs it: ``npx playwright test`` against the real command, driving the system Chromium. It asserts
with the verify API what a page sent, reads a 417's near-miss, and replays the journal's HAR export
through Playwright's own HAR reader (``routeFromHAR``).

Node and the example's packages come from the project's files (``npm ci --prefix docs/examples``,
which .ci/run does); without them the test is skipped locally and fails in CI."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.browser.chromium import INSTALL_HINT, chromium_binary
from tests.support import Server

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
PLAYWRIGHT = EXAMPLES / "node_modules" / ".bin" / "playwright"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(  # a real command, Node and a browser
    chromium_binary() is None, reason=f"chromium is not installed (CI installs it: {INSTALL_HINT})")]


def test_the_playwright_example_passes_against_the_fake(tmp_path):
    if not (PLAYWRIGHT.exists() and shutil.which("node")):
        if os.environ.get("CI"):
            pytest.fail("the example's packages are not installed (npm ci --prefix docs/examples; .ci/run does it)")
        pytest.skip("the example's packages are not installed: npm ci --prefix docs/examples")
    with Server("--admin-token", "example-admin-token") as fake:
        env = {**os.environ, "MOCK_URL": fake.url, "MOCK_ADMIN_TOKEN": "example-admin-token",
               "CHROMIUM": chromium_binary(), "PLAYWRIGHT_OUTPUT_DIR": str(tmp_path / "results"), "CI": "1"}
        result = subprocess.run([str(PLAYWRIGHT), "test"], cwd=EXAMPLES, env=env, capture_output=True, text=True,
                                timeout=300)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-4000:]
        assert "3 passed" in output, output[-4000:]
        # What the example verified is in the fake's journal: its PATCHes, each in its own session.
        status, _, journal = fake.request("GET", "/__admin/journal?bodies=false", token="example-admin-token")
        patches = [e for e in journal["entries"] if e["method"] == "PATCH"]
        assert status == 200 and len(patches) == 3 and len({e["session"] for e in patches}) == 3
