"""Durability (opt-in): ``mockserver --state-file FILE``.

The state survives a restart; every acknowledged write is in the file before its answer is sent;
writes are atomic (temporary file, fsync, rename, fsync of the directory), so a ``kill -9`` at any
moment leaves the old or the new state, never a corrupt file; SIGTERM flushes and exits with 0.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest

from mockserver.fixtures.document import FixtureError, FixtureLoader
from mockserver.store.memory import NotFound, Store, StoreError, Unprocessable
from mockserver.store.persistence import StateFile, StateFileError
from tests.conftest import ACME, ACME_FILE, BIRCH, JANE, MARIA, ROBERT, UNKNOWN_ID, user_url
from tests.support import MOCKSERVER, Server

pytestmark = pytest.mark.slow  # starts servers or runs whole contract, drift, kill or browser runs

ADMIN_TOKEN = "durability-admin-token"


def _users(document: dict, customer: str = ACME) -> dict[str, dict]:
    [found] = [c for c in document["customers"] if c["_id"] == customer]
    return {user["_id"]: user for user in found["users"]}


def _request(port: int, method: str, path: str, body: dict | None = None, token: str = "acme-admin-token"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        connection.close()


# -- the store's hook ------------------------------------------------------------------------


class TestChangeHook:
    def test_called_after_every_successful_change_and_never_after_a_rejected_one(self, seed):
        calls = []
        store = Store(seed, on_change=lambda s: calls.append(s.get_user(ACME, JANE)["nickname"] if s.has_customer(ACME) else None))
        store.update_user(ACME, JANE, {"nickname": "one"})
        assert calls == ["one"]
        for bad in ({"roleIds": [UNKNOWN_ID]}, {"email": "robert.okafor@acme.example"}, {"delegateIds": [JANE]}):
            with pytest.raises(StoreError):
                store.update_user(ACME, JANE, bad)
        with pytest.raises(NotFound):
            store.update_user(ACME, UNKNOWN_ID, {"nickname": "x"})
        with pytest.raises(Unprocessable):
            store.update_user(ACME, JANE, {"createdAt": "2020-01-01T00:00:00Z"})
        with pytest.raises(NotFound):
            store.delete_user(BIRCH, JANE)
        assert calls == ["one"]
        store.delete_user(ACME, ROBERT)
        store.reset()
        store.replace(seed)
        store.restore(seed)
        assert len(calls) == 5

    def test_the_hook_sees_the_change_already_applied_under_the_lock(self, seed):
        seen = []

        def hook(store):
            seen.append(store.snapshot())

        store = Store(seed, on_change=hook)
        store.update_user(ACME, JANE, {"pod": "Pod 9"})
        assert _users(seen[-1])[JANE]["pod"] == "Pod 9"

    def test_a_fork_does_not_inherit_the_hook(self, seed):
        calls = []
        store = Store(seed, on_change=calls.append)
        fork = store.fork()
        fork.update_user(ACME, JANE, {"nickname": "session only"})
        fork.reset()
        assert calls == []

    def test_restore_keeps_the_seed(self, seed):
        store = Store(seed)
        saved = store.snapshot()
        _users(saved)[JANE]["nickname"] = "restored"
        store.restore(saved)
        assert store.get_user(ACME, JANE)["nickname"] == "restored"
        store.reset()
        assert store.get_user(ACME, JANE)["nickname"] == _users(seed)[JANE]["nickname"]


# -- the file --------------------------------------------------------------------------------


class TestStateFile:
    def test_write_is_temp_fsync_rename_fsync_dir(self, tmp_path, monkeypatch):
        events = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd):
            kind = "dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "file"
            events.append(("fsync", kind))
            return real_fsync(fd)

        def replace(source, target):
            events.append(("rename", os.path.dirname(source) == os.path.dirname(str(target))))
            return real_replace(source, target)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        StateFile(tmp_path / "state.json").write({"customers": []})
        assert events == [("fsync", "file"), ("rename", True), ("fsync", "dir")]
        assert json.loads((tmp_path / "state.json").read_text()) == {"customers": []}

    def test_a_failed_write_leaves_the_old_file_and_no_temporary(self, tmp_path, monkeypatch):
        state = StateFile(tmp_path / "state.json")
        state.write({"customers": [], "tokens": []})

        def broken(*_):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", broken)
        with pytest.raises(StateFileError, match="No space left on device"):
            state.write({"customers": [{"new": True}]})
        assert json.loads(state.path.read_text()) == {"customers": [], "tokens": []}
        assert os.listdir(tmp_path) == ["state.json"]

    def test_the_file_is_private_to_its_owner(self, tmp_path):
        """It holds the tokens."""
        state = StateFile(tmp_path / "state.json")
        state.write({"customers": []})
        assert state.path.stat().st_mode & 0o077 == 0

    def test_attach_creates_the_file_then_saves_every_change(self, tmp_path, seed):
        store = Store(seed)
        state = StateFile(tmp_path / "state.json")
        assert state.attach(store) is False
        assert FixtureLoader().load_files([state.path]) == store.snapshot()
        store.update_user(ACME, JANE, {"nickname": "saved"})
        assert _users(json.loads(state.path.read_text()))[JANE]["nickname"] == "saved"
        store.delete_user(ACME, ROBERT)
        assert ROBERT not in _users(json.loads(state.path.read_text()))
        store.reset()
        assert json.loads(state.path.read_text()) == Store(seed).snapshot()

    def test_attach_resumes_from_the_file_and_the_seed_stays(self, tmp_path, seed):
        first = Store(seed)
        StateFile(tmp_path / "state.json").attach(first)
        first.update_user(ACME, JANE, {"nickname": "before the restart"})
        first.delete_user(ACME, MARIA)

        second = Store(seed)
        assert StateFile(tmp_path / "state.json").attach(second) is True
        assert second.get_user(ACME, JANE)["nickname"] == "before the restart"
        with pytest.raises(NotFound):
            second.get_user(ACME, MARIA)
        assert second.snapshot() == first.snapshot()
        second.reset()  # back to the seed, and that is saved too
        assert second.get_user(ACME, MARIA)["_id"] == MARIA
        assert _users(json.loads((tmp_path / "state.json").read_text()))[MARIA]["_id"] == MARIA

    def test_stale_temporaries_are_removed_at_attach(self, tmp_path, seed):
        stale = tmp_path / ".state.json.abc123.tmp"
        stale.write_text('{"customers": [')
        other = tmp_path / ".other.json.abc123.tmp"
        other.write_text("not ours")
        StateFile(tmp_path / "state.json").attach(Store(seed))
        assert not stale.exists() and other.exists()

    def test_an_invalid_file_is_refused_like_a_fixture_and_left_alone(self, tmp_path, seed):
        path = tmp_path / "state.json"
        path.write_text('{"customers": [{"_id": "nope"}]}')
        with pytest.raises(FixtureError) as caught:
            StateFile(path).attach(Store(seed))
        assert any(p.startswith(f"{path}: $.customers[0]") for p in caught.value.problems)
        assert path.read_text() == '{"customers": [{"_id": "nope"}]}'

    def test_awkward_values_round_trip(self, tmp_path, seed):
        """Whatever a PATCH can store, the state file stores and loads back as it was."""
        store = Store(seed)
        state = StateFile(tmp_path / "state.json")
        state.attach(store)
        # (A lone surrogate is not among them: a PATCH body holding one is a 400, see test_hostile_input.)
        store.update_user(ACME, JANE, {"nickname": "a\u0000b \u2028 ünï 😀 \"quoted\" \\", "pod": ""})
        store.update_user(ACME, ROBERT, {"email": "Robert+Tag@Sub.Example.TEST", "delegateIds": [JANE, JANE]})
        store.delete_user(ACME, MARIA)  # bound to maria-token: the token stays, unbound
        loaded = FixtureLoader().load_files([state.path])
        assert Store(loaded).snapshot() == store.snapshot()


# -- the real server -------------------------------------------------------------------------


def test_state_survives_a_restart_and_sigterm_flushes(tmp_path):
    path = tmp_path / "state.json"
    server = Server("--state-file", str(path))
    try:
        assert path.exists()
        assert _request(server.port, "PATCH", user_url(JANE), {"jobTitle": "Counsel"})[0] == 200
        assert _request(server.port, "DELETE", user_url(ROBERT))[0] == 200
    finally:
        code, output = server.stop()
    assert code == 0 and "mockserver: stopped" in output and "Traceback" not in output
    assert _users(json.loads(path.read_text()))[JANE]["jobTitle"] == "Counsel"

    server = Server("--state-file", str(path))
    try:
        status, user = _request(server.port, "GET", user_url(JANE))
        assert status == 200 and user["jobTitle"] == "Counsel"
        assert _request(server.port, "GET", user_url(ROBERT))[0] == 404
        assert "(29 users)" in server.banner
    finally:
        assert server.stop()[0] == 0


def test_the_state_file_takes_precedence_over_seed_and_reset_goes_back_to_the_seed(tmp_path):
    path = tmp_path / "state.json"
    admin = ["--admin-token", ADMIN_TOKEN]
    server = Server("--state-file", str(path), *admin)
    try:
        assert _request(server.port, "PATCH", user_url(JANE), {"nickname": "from the state"})[0] == 200
    finally:
        server.stop()
    # A different --seed: the saved state still wins.
    other_seed = tmp_path / "other.json"
    document = json.loads(ACME_FILE.read_text())
    _users(document)[JANE]["nickname"] = "from the seed"
    other_seed.write_text(json.dumps(document))
    server = Server("--seed", str(other_seed), "--state-file", str(path), *admin)
    try:
        assert _request(server.port, "GET", user_url(JANE))[1]["nickname"] == "from the state"
        assert _request(server.port, "POST", "/__admin/reset", token=ADMIN_TOKEN)[0] == 204
        assert _request(server.port, "GET", user_url(JANE))[1]["nickname"] == "from the seed"
        assert _users(json.loads(path.read_text()))[JANE]["nickname"] == "from the seed"
    finally:
        server.stop()


def test_an_invalid_state_file_exits_2_listing_the_problems(tmp_path):
    path = tmp_path / "state.json"
    document = json.loads(ACME_FILE.read_text())
    _users(document)[JANE]["email"] = "nope"
    _users(document)[ROBERT]["roleIds"] = [UNKNOWN_ID]
    path.write_text(json.dumps(document))
    result = subprocess.run([*MOCKSERVER, "--port", "0", "--state-file", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "2 problems in the fixtures" in result.stderr
    assert f"{path}: $.customers[0].users[0].email" in result.stderr
    assert "serving" not in result.stdout and "Traceback" not in result.stderr
    assert json.loads(path.read_text()) == document  # untouched


def test_an_unwritable_state_file_exits_2_before_serving(tmp_path):
    path = tmp_path / "no-such-directory" / "state.json"
    result = subprocess.run([*MOCKSERVER, "--port", "0", "--state-file", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"cannot write the state file {path}" in result.stderr
    assert "serving" not in result.stdout


# -- kill -9 ---------------------------------------------------------------------------------

# Users the write loop changes, and users it deletes (none bound to a token).
PATCHED = [JANE, ROBERT, MARIA, "6500000000000000000001a4", "6500000000000000000001a5"]
DELETABLE = [f"6500000000000000000001{suffix}" for suffix in ("a6", "a7", "a8", "a9", "aa", "ab", "ac")]


def test_kill_9_during_a_write_loop_loses_no_acknowledged_write(tmp_path):
    """Five times: a client writes as fast as it can (PATCHes, and now and then a DELETE), the
    server is SIGKILLed at a random moment, then restarted on the same file. The file always
    loads; it holds every acknowledged write, and for the one write in flight at the kill either
    the state before it or after it."""
    path = tmp_path / "state.json"
    rng = random.Random(20261129)
    acknowledged: dict[str, str | None] = {}  # user -> last acknowledged nickname (None: deleted)
    seed_nicknames = _users(json.loads(ACME_FILE.read_text()))
    seed_nicknames = {user: seed_nicknames[user]["nickname"] for user in PATCHED + DELETABLE}
    deletable = list(DELETABLE)
    counter = 0
    for round_ in range(5):
        server = Server("--state-file", str(path))
        assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # crash leftovers removed
        for user, nickname in acknowledged.items():  # the restarted server serves the saved state
            status, body = _request(server.port, "GET", user_url(user))
            assert (status, body["nickname"] if status == 200 else None) == ((404, None) if nickname is None else (200, nickname))
        in_flight: list[tuple[str, str | None]] = []
        round_acks: list[str | None] = []
        stop, enough = threading.Event(), threading.Event()
        # Kill at a random moment, once a random number of this round's writes were acknowledged
        # (so a slow machine still gets writes of every kind in before the kill).
        wanted = rng.randint(4, 14)

        def write_loop(server=server, in_flight=in_flight, stop=stop, round_acks=round_acks, enough=enough,
                       wanted=wanted):
            try:
                _writes(server, in_flight, stop, round_acks, enough, wanted)
            finally:
                enough.set()  # the server died, or the loop stopped

        def _writes(server, in_flight, stop, round_acks, enough, wanted):
            nonlocal counter
            while not stop.is_set():
                counter += 1
                if counter % 7 == 0 and deletable:
                    user, value = deletable[0], None
                    method, body = "DELETE", None
                else:
                    user, value = PATCHED[counter % len(PATCHED)], f"w{counter}"
                    method, body = "PATCH", {"nickname": value, "pod": value}
                in_flight[:] = [(user, value)]
                try:
                    status, _ = _request(server.port, method, user_url(user), body)
                except (OSError, http.client.HTTPException):
                    return  # the server died: this write was not acknowledged
                assert status == 200, (method, user, status)
                acknowledged[user] = value
                round_acks.append(value)
                if len(round_acks) >= wanted:
                    enough.set()
                if method == "DELETE":
                    deletable.pop(0)
                in_flight[:] = []

        writer = threading.Thread(target=write_loop)
        writer.start()
        enough.wait(timeout=60)
        time.sleep(rng.uniform(0.0, 0.03))
        server.kill()
        stop.set()
        writer.join(timeout=30)
        assert not writer.is_alive()

        saved = FixtureLoader().load_files([path])  # always loads
        users = _users(saved)
        for user in PATCHED + DELETABLE:
            before = acknowledged.get(user, seed_nicknames[user])
            possible = {before}
            if in_flight and in_flight[0][0] == user:
                possible.add(in_flight[0][1])  # the write in flight at the kill: before or after it
            found = None if user not in users else users[user]["nickname"]
            assert found in possible, (round_, user, found, possible)
            if user in acknowledged and user in users:
                assert users[user]["pod"] == users[user]["nickname"]  # never half-applied
            if found != before:  # the write in flight made it: the next round starts from it
                acknowledged[user] = found
                if found is None:
                    deletable.pop(0)
    assert counter >= 20 and sum(1 for value in acknowledged.values() if value is None) >= 1


_WRITER = """
import os, stat, sys, time
from mockserver.store.persistence import StateFile
state = StateFile(sys.argv[1])
pause = sys.argv[2:] == ["pause"]
real_fsync = os.fsync
n = 0

def fsync(fd):
    # With "pause", the second write stops where it is most fragile (the temporary file written,
    # not yet renamed) and says so: the test kills it there.
    if pause and n == 2 and stat.S_ISREG(os.fstat(fd).st_mode):
        print("mid-write", flush=True)
        time.sleep(60)
    real_fsync(fd)

os.fsync = fsync
padding = ["x" * 100] * 20000  # ~2 MB per write, so a kill often lands in the middle of one
while True:
    n += 1
    state.write({"marker": n, "padding": padding, "end": n})
    print(n, flush=True)
"""


def test_kill_9_in_the_middle_of_a_file_write_leaves_the_old_or_the_new_file(tmp_path):
    """The file level alone, killed 16 times while it rewrites a 2 MB file: half at random moments,
    half paused in the middle of a write (its temporary file written, not yet renamed)."""
    path = tmp_path / "state.json"
    rng = random.Random(7)
    killed_mid_write = 0
    for attempt in range(16):
        mid_write = bool(attempt % 2)
        writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(path), *(["pause"] if mid_write else [])],
                                  stdout=subprocess.PIPE, text=True)
        watchdog = threading.Timer(60, writer.kill)  # a writer that never gets there must not hang the run
        watchdog.start()
        try:
            assert writer.stdout.readline().strip()  # at least one write completed
            lines: list[str] = []
            if mid_write:
                for line in writer.stdout:  # blocks until the writer is paused mid-write
                    lines.append(line)
                    if line.startswith("mid-write"):
                        break
                assert StateFile(path).stale_temporaries(), "the writer paused outside a write"
            else:
                time.sleep(rng.uniform(0.0, 0.15))
            writer.send_signal(signal.SIGKILL)
            lines += writer.stdout.read().splitlines()
            writer.wait()
        finally:
            watchdog.cancel()
        written = [int(line) for line in lines if line.strip().isdigit()]
        document = json.loads(path.read_text())
        assert document["marker"] == document["end"]
        last_acknowledged = written[-1] if written else 1
        assert document["marker"] in (last_acknowledged, last_acknowledged + 1)
        leftovers = StateFile(path).stale_temporaries()
        killed_mid_write += bool(leftovers)
        for stale in leftovers:  # what the next attach does
            stale.unlink()
    assert killed_mid_write >= 8


_SLOW_WRITES = """
import sys, time
from mockserver.store import persistence
original = persistence.StateFile.write
def slow_write(self, document):
    if self.writes >= 1:  # the file written at start-up is not slowed
        time.sleep(3)
    original(self, document)
persistence.StateFile.write = slow_write
from mockserver.cli import main
sys.argv[0] = "mockserver"
sys.exit(main())
"""


def test_reads_are_answered_while_a_slow_write_is_being_saved(tmp_path, monkeypatch):
    """The state file is written off the event loop: while a PATCH waits for its (slowed) write,
    other requests are answered; the PATCH is answered only once the file holds its change."""
    import tests.support as support

    script = tmp_path / "slow_mockserver.py"
    script.write_text(_SLOW_WRITES)
    monkeypatch.setattr(support, "MOCKSERVER", [sys.executable, str(script)])
    path = tmp_path / "state.json"
    server = Server("--state-file", str(path))
    try:
        patched: list = []
        writer = threading.Thread(
            target=lambda: patched.append(_request(server.port, "PATCH", user_url(JANE), {"nickname": "slowsave"})))
        writer.start()
        # The change is made at once (a read shows it), while its write is still being saved.
        deadline = time.monotonic() + 10
        while _request(server.port, "GET", user_url(JANE))[1]["nickname"] != "slowsave":
            assert time.monotonic() < deadline, "the PATCH never reached the store"
            time.sleep(0.01)
        reads = [_request(server.port, "GET", user_url(ROBERT))[0] for _ in range(5)]
        assert reads == [200] * 5
        assert writer.is_alive() and not patched, "the PATCH was answered before its write was saved"
        assert _users(json.loads(path.read_text()))[JANE]["nickname"] != "slowsave"
        writer.join(timeout=30)
        assert patched and patched[0][0] == 200
        assert _users(json.loads(path.read_text()))[JANE]["nickname"] == "slowsave"  # saved before the answer
    finally:
        code, _ = server.stop()
    assert code == 0
