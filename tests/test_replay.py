"""mockserver replay end to end: a HAR file of a scripted app session (built from the fake's own
journal, ``GET /__admin/journal``) and one a real Playwright run recorded in Chromium, replayed
against real servers on loopback: the fake behind a relay (no difference; writes only as the
safety policy allows, restored), deployments that behave wrongly (tests/behaviour_variants.py:
each difference on the app's request that shows it, with the shortest sequence), another seed
(ids mapped with --map, or the fake seeded from `mockserver record`), and the reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
import requests

from mockserver.app.build import ServerOptions, create_app
from mockserver.cli import build_store
from tests.behaviour_variants import BEHAVIOUR_VARIANTS, unmodified
from tests.drift_support import ALPHA, fake_on, people_document, run_cli
from tests.replay_support import (
    ACME,
    AISHA,
    DATA,
    MICHAEL,
    ROBERT,
    SESSION,
    journal_har,
    page_entry,
    replay,
    session_har,
)
from tests.support import LiveServer, MethodRecorder, Relay, fresh_fake

pytestmark = pytest.mark.slow

WRITES = {7: "PATCH", 9: "DELETE", 11: "DELETE"}  # the session's writes, by entry number


@pytest.fixture(scope="module")
def har(tmp_path_factory):
    """The scripted session's HAR file, with a page and a script of the frontend's own host."""
    return session_har(tmp_path_factory.mktemp("replay"), extra_entries=[
        page_entry("http://localhost:5173/index.html"), page_entry("http://localhost:5173/assets/app.js")])


def outcomes(report_file) -> dict[int, dict]:
    return {entry["entry"]: entry for entry in json.loads(report_file.read_text())["requests"]}


def test_the_fake_behind_a_relay_answers_every_request_alike_and_gets_no_write(har, tmp_path):
    upstream = LiveServer(fresh_fake()[0]).start()
    try:
        with Relay(upstream.url) as relay:
            code, out, err = replay(relay.url, har, json_file=str(tmp_path / "r.json"), junit=str(tmp_path / "r.xml"))
    finally:
        upstream.stop()
    assert code == 0, out + err
    assert set(relay.seen) <= {"GET", "HEAD", "OPTIONS"}, relay.seen
    found = outcomes(tmp_path / "r.json")
    assert len(found) == len(SESSION) + 2
    for number, method in WRITES.items():
        assert found[number]["outcome"] == "not sent", found[number]
        assert found[number]["reason"].startswith(f"the safety policy: {method} is not allowed (read-only")
        assert f"#{number:<4} {method} /api/v1/customers/{ACME}/users/" in out
    same = [number for number, entry in found.items() if entry["outcome"] == "same"]
    assert same == [number for number in range(1, len(SESSION) + 1) if number not in WRITES]
    assert [found[n]["outcome"] for n in (13, 14)] == ["skipped", "skipped"]
    assert found[13]["reason"].startswith("another host (http://localhost:5173)")
    assert "NO DRIFT: the fake answered all 9 replayed requests of the app like" in out
    assert "; 3 not sent (listed above)." in out
    reports = (tmp_path / "r.json").read_text() + (tmp_path / "r.xml").read_text()
    assert "jane-token" not in out + err + reports and "Bearer ***" in reports
    # JUnit: one testcase per recorded request, the writes and the other host's entries skipped.
    suite = ET.parse(tmp_path / "r.xml").getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(SESSION) + 2 and suite.get("tests") == str(len(cases))
    assert suite.get("skipped") == "5" and suite.get("failures") == "0"
    assert cases[6].get("name").startswith(f"#7 PATCH /api/v1/customers/{ACME}/users/{AISHA}")
    assert cases[6].find("skipped").get("message").startswith("not sent: the safety policy: PATCH")


def test_recorded_writes_go_only_to_user_id_users_and_are_restored(har, tmp_path):
    app, _ = fresh_fake()
    upstream = LiveServer(app).start()
    try:
        with Relay(upstream.url) as relay:
            code, out, err = replay(relay.url, har, allow_writes=True, user_ids=(AISHA,),
                                    json_file=str(tmp_path / "r.json"))
        after = requests.get(f"{upstream.url}/api/v1/customers/{ACME}/users/{AISHA}",
                             headers={"Authorization": "Bearer jane-token"}, timeout=10).json()
    finally:
        upstream.stop()
    assert code == 0, out + err
    found = outcomes(tmp_path / "r.json")
    assert found[7]["outcome"] == "same" and found[8]["outcome"] == "same"  # the edit, and the read after it
    assert [found[n]["outcome"] for n in (9, 11)] == ["not sent", "not sent"]
    assert "DELETE is not allowed" in found[9]["reason"]
    assert relay.seen.count("PATCH") == 2  # the recorded edit, then the restore
    assert "DELETE" not in relay.seen
    assert f"user {AISHA}: restored" in out
    assert after["jobTitle"] != "Partner"


# Each variant, the entries of the session whose answers differ, and the sequence that shows each
# (the app's own requests, by entry number, this one last).
EXPECTED = {
    "search_case_sensitive": {2: [2]},
    "lookup_wrong_user": {3: [3]},
    "stale_reads": {8: [7, 8]},
    "deleted_still_listed": {10: [7, 9, 10]},
    "second_delete_succeeds": {11: [9, 11]},
    "patch_resets_unsent": {7: [7], 8: [7, 8], 10: [7, 9, 10]},
    "tenant_list_leak": {1: [1], 10: [7, 9, 10]},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_difference_is_on_the_apps_request_that_shows_it(har, tmp_path, name):
    code, out, err = replay(BEHAVIOUR_VARIANTS[name].build(), har, json_file=str(tmp_path / "r.json"))
    assert code == 1, out + err
    found = outcomes(tmp_path / "r.json")
    differing = {number: entry["sequence"] for number, entry in found.items() if entry["outcome"] == "differs"}
    assert differing == EXPECTED[name], out
    for number, sequence in differing.items():
        block = out.split(f"\n#{number} ", 1)[1].split("\n\n", 1)[0]
        curls = [line.strip() for line in block.splitlines() if line.strip().startswith("curl ")]
        assert len(curls) == len(sequence), block
        assert all("Bearer ***" in line for line in curls if "Authorization" in line)
    assert "jane-token" not in out + err
    assert out.rstrip().splitlines()[-1].startswith(f"DRIFT: {len(EXPECTED[name])} of the app's 12 replayed requests")


def test_the_unmodified_fake_behind_the_same_proxy_shows_nothing(har):
    code, out, err = replay(unmodified(), har)
    assert code == 0, out + err
    assert "DIFFERS" not in out


def test_a_playwright_har_recorded_in_chromium_replays_cleanly(tmp_path):
    code, out, err = replay(fresh_fake()[0], DATA / "playwright-session.har", json_file=str(tmp_path / "r.json"),
                            junit=str(tmp_path / "r.xml"))
    assert code == 0, out + err
    found = outcomes(tmp_path / "r.json")
    assert [entry["outcome"] for entry in found.values()] == ["skipped"] + ["same"] * 7
    assert [entry.get("operationId") for entry in found.values()][1:] == [
        "list_users", "list_users", "lookup_user_identity", "get_user", "get_user", "update_user_v1", "get_user"]
    assert found[7]["request"]["body"] == '{"jobTitle":"Partner"}'
    assert found[7]["request"]["headers"]["Authorization"] == "Bearer ***"
    assert "Sec-Fetch-Mode" not in found[7]["request"]["headers"]
    assert len(ET.parse(tmp_path / "r.xml").getroot().find("testsuite").findall("testcase")) == 8
    # A deployment whose PATCH blanks the fields it was not sent differs on the browser's edit and the read after it.
    code, out, err = replay(BEHAVIOUR_VARIANTS["patch_resets_unsent"].build(), DATA / "playwright-session.har",
                            json_file=str(tmp_path / "r.json"))
    assert code == 1, out + err
    differing = {n: entry["sequence"] for n, entry in outcomes(tmp_path / "r.json").items() if entry["outcome"] == "differs"}
    assert differing == {7: [7], 8: [7, 8]}, out
    assert "get_user               GET /api/v1/customers/{customerId}/users/{userId}: 3 recorded: 2 same, 1 differs" in out
    assert out.count("[value] $.office: target '', fake 'Chicago'") == 2


def _served_people():
    app, _ = fake_on(people_document())
    recorder = MethodRecorder(app)
    return recorder, LiveServer(recorder).start()


def test_ids_of_another_seed_are_mapped(tmp_path):
    # The app ran against the bundled fixtures; the deployment holds other customers and users.
    session = [SESSION[0], SESSION[3], SESSION[4]]
    har = session_har(tmp_path, session)
    people = {"6600000000000000000001a3": ROBERT}
    recorder, server = _served_people()
    try:
        code, out, err = replay(server.url, har, customer_id=ALPHA, token="zebulon-token",
                                maps=(f"{ACME}={ALPHA}", *(f"{old}={new}" for new, old in people.items())))
        mapped_run = list(recorder.seen)
        unmapped = replay(server.url, har, customer_id=ALPHA, token="zebulon-token")
    finally:
        server.stop()
    assert code == 0, out + err
    assert f"ids mapped: {ACME} -> {ALPHA} (3 requests), {ROBERT} -> 6600000000000000000001a3 (1 requests)" in out
    paths = [path for _method, path in mapped_run]
    assert f"/api/v1/customers/{ALPHA}/users/6600000000000000000001a3" in paths
    assert f"/api/v1/customers/{ALPHA}/users/fffffffffffffffffffffff0" in paths  # no map: sent as recorded
    assert not any(ACME in path or ROBERT in path for path in paths)
    code, out, err = unmapped
    assert f"NOTE: requests name customer(s) {ACME}, not the run's {ALPHA}" in out
    assert f"--map {ACME}={ALPHA}" in out


def test_the_fake_seeded_from_a_recording_of_the_deployment_agrees_on_ids(har, tmp_path):
    upstream = LiveServer(fresh_fake()[0]).start()
    try:
        with Relay(upstream.url) as relay:
            recorded = tmp_path / "staging.json"
            code, out, err = run_cli("record", relay.url, "--customer-id", ACME, "-o", str(recorded))
            assert code == 0, out + err
            code, out, err = run_cli("replay", str(har), relay.url, "--fixture", str(recorded), "--no-color",
                                     "--json", str(tmp_path / "r.json"))
    finally:
        upstream.stop()
    assert code == 0, out + err
    assert f"seeded from --fixture {recorded}" in out
    assert json.loads((tmp_path / "r.json").read_text())["exitCode"] == 0


def test_a_target_that_refuses_the_token_is_one_line_and_exit_2(har, tmp_path):
    with LiveServer(create_app(build_store([]), ServerOptions())) as server:
        code, out, err = run_cli("replay", str(har), server.url, "--token", "not-a-token", "--junit",
                                 str(tmp_path / "r.xml"))
    assert code == 2
    assert err.splitlines() == [f"mockserver replay: could not run: the token was rejected (GET /api/v1/customers/"
                                f"{ACME}/users answered 401): every request would be a 401. Check --token / "
                                "$MOCKSERVER_CONTRACT_TOKEN"], err
    assert "not-a-token" not in out + err + (tmp_path / "r.xml").read_text()
    assert ET.parse(tmp_path / "r.xml").getroot().find("testsuite").get("errors") == "1"


def test_a_recorded_delete_of_a_user_id_user_is_not_restorable_and_says_so(har, tmp_path):
    upstream = LiveServer(fresh_fake()[0]).start()
    try:
        with Relay(upstream.url) as relay:
            code, out, err = replay(relay.url, har, allow_writes=True, allow_delete=True, user_ids=(AISHA, MICHAEL))
    finally:
        upstream.stop()
    assert code == 2, out + err
    assert "WARNING: --allow-delete with --allow-writes: a deleted user cannot be restored" in out
    assert f"user {MICHAEL}: failed: the user was deleted during the run" in out
    assert "RESTORE FAILED" in out.splitlines()[-1]


def test_a_mapped_write_goes_to_the_user_id_user_it_is_mapped_to(har, tmp_path):
    upstream = LiveServer(fresh_fake()[0]).start()
    try:
        with Relay(upstream.url) as relay:
            code, out, err = replay(relay.url, har, allow_writes=True, user_ids=(ROBERT,), maps=(f"{AISHA}={ROBERT}",),
                                    json_file=str(tmp_path / "r.json"))
    finally:
        upstream.stop()
    assert code == 0, out + err
    found = outcomes(tmp_path / "r.json")
    assert found[7]["outcome"] == "same"
    assert found[7]["request"]["url"].endswith(f"/users/{ROBERT}")
    assert relay.seen.count("PATCH") == 1  # the recorded edit; Robert already is a Partner: nothing to restore
    assert f"user {ROBERT}: unchanged" in out
    assert f"{AISHA} -> {ROBERT} (3 requests)" in out


def test_could_not_run_still_writes_both_reports(tmp_path):
    broken = tmp_path / "broken.har"
    broken.write_text('{"log": {"entries": [{"request": {"method": "GET"}}]}}')
    code, out, err = run_cli("replay", str(broken), "http://127.0.0.1:9", "--json", str(tmp_path / "r.json"),
                             "--junit", str(tmp_path / "r.xml"))
    assert code == 2 and out == ""
    assert err.splitlines() == [f"mockserver replay: could not run: {broken}: entry 1: request.url is missing"]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["exitCode"] == 2 and report["verdict"].endswith("entry 1: request.url is missing")
    case = ET.parse(tmp_path / "r.xml").getroot().find("testsuite/testcase")
    assert case.get("name") == "could not run" and "request.url is missing" in case.find("error").get("message")


class GoesDown:
    """The fake, until the app's search (entry 2) has been answered: then every request hangs for
    longer than the run waits."""

    def __init__(self, app):
        self.app, self.down = app, False

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.down:
            import asyncio

            await asyncio.sleep(3)
        if scope["type"] == "http" and b"search=JANE" in scope.get("query_string", b""):
            self.down = True
        await self.app(scope, receive, send)


def test_a_target_that_stops_answering_ends_the_replay_with_exit_2(har, tmp_path):
    code, out, err = replay(GoesDown(fresh_fake()[0]), har, request_timeout=0.5, retries=0,
                            json_file=str(tmp_path / "r.json"))
    assert code == 2, out + err
    found = outcomes(tmp_path / "r.json")
    assert [found[n]["outcome"] for n in (1, 2)] == ["same", "same"]
    assert [found[n]["outcome"] for n in (3, 4, 5)] == ["not compared"] * 3
    assert found[3]["reason"].startswith("the target did not answer")
    assert all(found[n]["reason"] == "the target stopped answering" for n in range(6, len(SESSION) + 1))
    assert out.rstrip().splitlines()[-1].startswith("UNAVAILABLE: ")
    assert "mockserver replay: could not run: UNAVAILABLE" in err


def test_the_installed_command_refuses_a_broken_file_in_one_line(tmp_path):
    from tests.support import run_cli as run_command

    broken = tmp_path / "export.har"
    broken.write_bytes(b'{"log": {"entries": [')
    result = run_command("replay", str(broken), "https://staging.example.com")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"mockserver replay: could not run: {broken} is not a HAR file: invalid JSON at line 1 column 22: "
        "Expecting value"], result.stderr


def test_the_fakes_own_journal_har_replays_cleanly_with_its_write_sent_and_restored(tmp_path):
    """The loop of docs/replay.md end to end: the app's session against the fake, the fake's own
    ``/__admin/journal.har``, replayed against a deployment (the fake behind a relay)."""
    har_file = journal_har(tmp_path)
    entries = json.loads(har_file.read_text(encoding="utf-8"))["log"]["entries"]
    assert [entry["request"]["method"] for entry in entries] == [method for method, *_ in SESSION]
    assert "jane-token" not in har_file.read_text(encoding="utf-8")  # the export masks the tokens
    upstream = LiveServer(fresh_fake()[0]).start()
    try:
        with Relay(upstream.url) as relay:
            code, out, err = replay(relay.url, har_file, json_file=str(tmp_path / "r.json"),
                                    allow_writes=True, user_ids=(AISHA,))
        with requests.get(f"{upstream.url}/api/v1/customers/{ACME}/users/{AISHA}",
                          headers={"Authorization": "Bearer jane-token"}, timeout=10) as after:
            restored = after.json()
    finally:
        upstream.stop()
    assert code == 0, out + err
    found = outcomes(tmp_path / "r.json")
    assert found[7]["outcome"] == "same", found[7]  # the PATCH, with the body the export kept, sent to both
    assert "PATCH" in relay.seen
    assert found[9]["outcome"] == "not sent" and found[11]["outcome"] == "not sent"  # deletes: not allowed
    assert restored["jobTitle"] != "Partner"  # restored at the end
