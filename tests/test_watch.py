"""--watch: fixture files reloaded when they change; an invalid file is reported and the last good
state kept. The watcher's poll is called directly in-process (no sleeping); one test runs the real
command and waits (with a generous deadline) for the reload."""

from __future__ import annotations

import copy
import json
import os

import pytest

from mockserver.app.build import ServerOptions, build_app
from mockserver.features.watch import FixtureWatcher
from mockserver.store.memory import Store
from tests.conftest import ACME, ADMIN, JANE, ROBERT, user_url
from tests.support import Server, assert_problem

pytestmark = pytest.mark.slow  # starts servers or runs whole contract, drift, kill or browser runs

AUTH = {"Authorization": "Bearer watch-admin"}


def touch(path, document):
    """Write and make sure the change is visible even on a coarse-mtime file system."""
    before = os.stat(path).st_mtime_ns if path.exists() else 0
    path.write_text(json.dumps(document) if not isinstance(document, str) else document, encoding="utf-8")
    os.utime(path, ns=(before + 2_000_000_000, before + 2_000_000_000))


@pytest.fixture
def watched(seed, tmp_path, loader):
    path = tmp_path / "fixtures.json"
    path.write_text(json.dumps(seed), encoding="utf-8")
    fake = build_app(Store(loader.load_files([path])), ServerOptions(admin_token="watch-admin"))
    messages: list[str] = []
    watcher = FixtureWatcher([path], fake.control, echo=messages.append)
    with fake.app.test_client() as client:
        yield client, watcher, path, messages


def renamed(seed, first_name):
    document = copy.deepcopy(seed)
    next(u for u in document["customers"][0]["users"] if u["_id"] == JANE)["firstName"] = first_name
    return document


class TestReload:
    def test_nothing_changed_nothing_done(self, watched):
        client, watcher, path, messages = watched
        assert watcher.check() is None and messages == []

    def test_a_valid_change_is_served(self, watched, seed):
        client, watcher, path, messages = watched
        client.delete(user_url(ROBERT), headers=ADMIN)
        touch(path, renamed(seed, "Reloaded"))
        assert watcher.check() is True
        assert client.get(user_url(JANE), headers=ADMIN).json()["firstName"] == "Reloaded"
        assert client.get(user_url(ROBERT), headers=ADMIN).status_code == 200  # the state is the new seed
        assert "reloaded" in messages[-1]
        status = client.get("/__admin/status", headers=AUTH).json()
        assert status["seed"]["source"].startswith("--watch reload of") and status["reload"]["lastError"] is None
        assert status["reload"]["watching"] == [str(path)]

    def test_sessions_restart_from_the_reloaded_seed(self, watched, seed):
        client, watcher, path, _ = watched
        client.delete(user_url(JANE), headers={**ADMIN, "X-Mock-Session": "w"})
        touch(path, renamed(seed, "Reloaded"))
        watcher.check()
        assert client.get(user_url(JANE), headers={**ADMIN, "X-Mock-Session": "w"}).json()["firstName"] == "Reloaded"

    @pytest.mark.parametrize("content,fragment", [
        ('{"customers": [}', "invalid JSON"),
        ("", "the file is empty"),
        ({"customers": [{"_id": "nope"}]}, "not an ObjectId"),
    ])
    def test_an_invalid_file_is_reported_and_the_last_good_state_kept(self, watched, seed, content, fragment):
        client, watcher, path, messages = watched
        client.patch(user_url(JANE), json={"firstName": "Kept"}, headers=ADMIN)
        touch(path, content)
        assert watcher.check() is False
        assert "not reloaded, still serving the last good fixtures" in messages[-1] and fragment in messages[-1]
        assert client.get(user_url(JANE), headers=ADMIN).json()["firstName"] == "Kept"  # state untouched
        error = client.get("/__admin/status", headers=AUTH).json()["reload"]["lastError"]
        assert error["source"] == str(path) and any(fragment in p for p in error["problems"])
        # Fixed: reloaded, and the error is gone.
        touch(path, renamed(seed, "Fixed"))
        assert watcher.check() is True
        assert client.get(user_url(JANE), headers=ADMIN).json()["firstName"] == "Fixed"
        assert client.get("/__admin/status", headers=AUTH).json()["reload"]["lastError"] is None

    def test_a_deleted_file_is_reported(self, watched):
        client, watcher, path, messages = watched
        path.unlink()
        assert watcher.check() is False
        assert "cannot read the file" in messages[-1]
        assert client.get(user_url(JANE), headers=ADMIN).status_code == 200


def test_watch_on_the_real_server(tmp_path, seed):
    path = tmp_path / "fixtures.json"
    path.write_text(json.dumps(seed), encoding="utf-8")
    with Server("--seed", str(path), "--watch", "--watch-interval", "0.1", "--admin-token", "w") as server:
        assert f"Watching {path}" in server.banner

        touch(path, renamed(seed, "Live"))
        reloaded = server.wait_for(
            lambda: server.request("GET", f"/api/v1/customers/{ACME}/users/{JANE}", token="jane-token")[2]["firstName"] == "Live")
        assert reloaded, "".join(server.errors)

        touch(path, '{"customers": [}')
        reported = server.wait_for(lambda: server.request("GET", "/__admin/status", token="w")[2]["reload"]["lastError"])
        assert reported and "invalid JSON" in reported["problems"][0]
        assert server.wait_for(lambda: any("not reloaded" in line for line in server.errors))
        status, _, body = server.request("GET", f"/api/v1/customers/{ACME}/users/{JANE}", token="jane-token")
        assert status == 200 and body["firstName"] == "Live"  # still the last good state
        code, _, _ = server.request("GET", "/__admin/status")
        assert code == 401
    assert server.process.returncode == 0


def test_status_needs_the_token(watched):
    client, *_ = watched
    assert_problem(client.get("/__admin/status"), 401)
