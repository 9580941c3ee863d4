"""``mockserver record URL``: GET requests only, a fixture file that loads like a hand-written one
and serves the same answers, fresh local tokens (never the real one), deterministic anonymisation
that keeps every relation, progress, the rate limit, and no half-written file on Ctrl-C.

Every target is a fake served on a real loopback socket (tests/support.py); variants wrap
it (tests/contract_variants.py).
"""

from __future__ import annotations

import _thread
import json
import threading

import pytest

from mockserver.fixtures.document import FixtureLoader
from mockserver.record import ADMIN_TOKEN, USER_TOKEN, Anonymizer, RecordOptions, run_record
from mockserver.remote.target import resolve_rate_limit
from mockserver.store.memory import Store
from tests.conftest import ACME, JANE
from tests.contract_variants import USER_PATH, Answer, Breaker
from tests.drift_support import ALPHA, BETA, REAL_NAMES, CountingLimiter, fake_on, people_document, run_cli
from tests.support import LiveServer, MethodRecorder, fresh_fake, non_loopback_address

pytestmark = pytest.mark.slow  # starts servers or runs whole contract, drift, kill or browser runs


def record(url: str, output, *args: str) -> tuple[int, str, str]:
    return run_cli("record", url, "-o", str(output), *args)


def load(path) -> dict:
    return FixtureLoader().load_files([path])


# -- what is written ------------------------------------------------------------------------------


def test_the_recording_loads_as_a_fixture_and_serves_what_the_source_serves(tmp_path):
    app, source = fresh_fake()
    recorder = MethodRecorder(app)
    output = tmp_path / "acme.json"
    with LiveServer(recorder) as server:
        code, out, err = record(server.url, output, "--customer-id", ACME, "--token", "jane-token")
    assert code == 0, err
    assert recorder.methods() == {"GET"}, recorder.seen
    # The identity handshake, the list, each of the 30 users, the lookup (and the runner's pre-flight list).
    assert len(recorder.seen) == 1 + 1 + 1 + 30 + 1
    document = json.loads(output.read_text(encoding="utf-8"))
    loaded = load(output)  # the same validation as a hand-written file
    recorded = Store(loaded)
    # Served, the recording answers every read as the source does (group names are not shown by the API).
    assert recorded.list_users(ACME) == source.list_users(ACME)
    assert recorded.get_user(ACME, JANE) == source.get_user(ACME, JANE)
    customer = document["customers"][0]
    assert customer["fullName"] == "Acme Legal LLP"
    assert {group["name"] for group in customer["groups"]} == {f"Group {g['_id'][-6:]}" for g in customer["groups"]}
    user = next(user for user in customer["users"] if user["_id"] == JANE)
    assert not {"roles", "delegates", "delegators", "customer"} & set(user)
    assert user["identities"] == [{"type": "aderant", "value": "AD-1042"}]
    # Fresh local tokens: the admin one, and one bound to the user the recording token speaks for.
    assert document["tokens"] == [
        {"token": ADMIN_TOKEN, "customerIds": [ACME]},
        {"token": USER_TOKEN, "customerIds": [ACME], "userId": JANE},
    ]
    assert recorded.identity(ACME, JANE) == source.identity(ACME, JANE)
    assert f"wrote {output}: customer {ACME} (Acme Legal LLP), 30 users" in err
    assert out == ""


def test_the_real_token_is_never_written_or_printed(tmp_path, monkeypatch):
    token = "tok-51c0ffee-DISTINCTIVE-9a7e"
    from mockserver.app.build import ServerOptions, create_app
    from mockserver.cli import build_store

    app = create_app(build_store([]), ServerOptions(any_token=True))  # accepts the distinctive token
    output = tmp_path / "out.json"
    monkeypatch.setenv("MOCKSERVER_CONTRACT_TOKEN", token)
    with LiveServer(app) as server:
        code, out, err = record(server.url, output, "--customer-id", ACME)
    assert code == 0, err
    text = output.read_text(encoding="utf-8")
    for shown in (text, out, err):
        assert token not in shown and "51c0ffee" not in shown
    tokens = json.loads(text)["tokens"]
    assert [entry["token"] for entry in tokens] == [ADMIN_TOKEN, USER_TOKEN]
    # This token is bound to no user (lookup 404): the user token goes to the first user with an identity.
    assert tokens[1]["userId"] == JANE


def test_a_real_token_that_is_a_local_token_name_is_not_reused(tmp_path):
    document = people_document()
    document["tokens"].append({"token": ADMIN_TOKEN, "customerIds": [ALPHA]})
    app, _store = fake_on(document)
    output = tmp_path / "out.json"
    with LiveServer(app) as server:
        code, out, err = record(server.url, output, "--customer-id", ALPHA, "--token", ADMIN_TOKEN)
    assert code == 0, err
    written = [entry["token"] for entry in json.loads(output.read_text(encoding="utf-8"))["tokens"]]
    assert ADMIN_TOKEN not in written and "local-admin-token" in written


def test_fields_the_contract_does_not_define_are_dropped_and_counted(tmp_path):
    app, _store = fresh_fake()

    def after(exchange, answer):
        if exchange.method == "GET" and USER_PATH.match(exchange.path) and answer.status == 200:
            user = answer.json()
            user["employeeNumber"] = "E-1"
            answer.set_json(user)

    output = tmp_path / "out.json"
    with LiveServer(Breaker(app, after=after)) as server:
        code, out, err = record(server.url, output, "--customer-id", ACME, "--token", "acme-admin-token")
    assert code == 0, err
    assert "fields the contract does not define were dropped: employeeNumber (30 users)" in err
    assert "employeeNumber" not in output.read_text(encoding="utf-8")
    load(output)


def test_answers_that_make_no_valid_fixture_are_refused_and_nothing_is_written(tmp_path):
    app, _store = fresh_fake()

    def after(exchange, answer):
        if exchange.method == "GET" and USER_PATH.match(exchange.path) and answer.status == 200:
            user = answer.json()
            user["nickname"] = None
            answer.set_json(user)

    output = tmp_path / "out.json"
    with LiveServer(Breaker(app, after=after)) as server:
        code, out, err = record(server.url, output, "--customer-id", ACME, "--token", "acme-admin-token")
    assert code == 2
    assert "do not make a valid fixture file" in err and ".nickname: expected string, got null" in err
    assert not output.exists()


# -- anonymisation ---------------------------------------------------------------------------------


def _record_people(tmp_path, customer: str, name: str, *extra: str) -> dict:
    app, _store = fake_on(people_document())
    output = tmp_path / name
    token = "alpha-admin" if customer == ALPHA else "beta-admin"
    with LiveServer(app) as server:
        code, out, err = record(server.url, output, "--customer-id", customer, "--token", token, "--anonymize", *extra)
    assert code == 0, err
    return json.loads(output.read_text(encoding="utf-8"))


def test_anonymize_replaces_names_and_emails_and_keeps_every_relation(tmp_path):
    original = {user["_id"]: user for customer in people_document()["customers"] for user in customer["users"]}
    alpha = _record_people(tmp_path, ALPHA, "alpha.json")
    again = _record_people(tmp_path, ALPHA, "again.json")
    beta = _record_people(tmp_path, BETA, "beta.json")
    assert again == alpha  # deterministic: the same file every run
    text = json.dumps([alpha, beta]).lower()
    for real in REAL_NAMES + ("alpha-law", "beta-partners"):
        assert real.lower() not in text, real
    users = {user["_id"]: user for doc in (alpha, beta) for user in doc["customers"][0]["users"]}
    assert set(users) == set(original)
    for uid, user in users.items():
        before = original[uid]
        for relation in ("roleIds", "delegateIds", "groupIds", "identities", "createdAt", "jobTitle", "department"):
            assert user[relation] == before[relation], (uid, relation)
        assert user["email"].casefold() != before["email"].casefold()
    # The same real value becomes the same fake value, across users and across customers.
    by_real: dict[tuple[str, str], set[str]] = {}
    for uid, user in users.items():
        for name in ("firstName", "lastName", "nickname"):
            by_real.setdefault((name, original[uid][name]), set()).add(user[name])
    assert all(len(fakes) == 1 for fakes in by_real.values()), by_real
    assert users["6600000000000000000001a1"]["firstName"] == users["6600000000000000000001b1"]["firstName"]
    assert users["6600000000000000000001a1"]["lastName"] == users["6600000000000000000001a3"]["lastName"]
    # An address is made of the fake names its words spell.
    zebulon = users["6600000000000000000001a1"]
    assert zebulon["email"].startswith(f"{zebulon['firstName'].lower()}.{zebulon['lastName'].lower()}.")
    assert alpha["customers"][0]["fullName"] != "Quarterfield Marchbanks LLP"
    # The roles, groups and tokens still fit together: the file loads, the user token still looks up.
    assert Store(FixtureLoader().load_document(alpha)).identity(ALPHA, alpha["tokens"][1]["userId"])


def test_anonymize_is_keyed(tmp_path):
    plain = _record_people(tmp_path, ALPHA, "default.json")
    keyed = _record_people(tmp_path, ALPHA, "keyed.json", "--anonymize-key", "team-secret")
    assert [u["email"] for u in plain["customers"][0]["users"]] != [u["email"] for u in keyed["customers"][0]["users"]]


def test_the_same_email_in_any_case_gets_the_same_fake_and_fakes_never_collide():
    anonymizer = Anonymizer()
    assert anonymizer.email("Jane.Doe@Acme.example", "c1") == anonymizer.email("jane.doe@acme.example", "c1")
    fakes = {anonymizer.email(f"user{n}@acme.example", "c1").casefold() for n in range(2000)}
    assert len(fakes) == 2000


def test_a_large_customer_shows_progress_and_anonymised_emails_stay_unique(tmp_path):
    from mockserver.fixtures.generate import generate

    document = generate(customers=1, users=300, seed=4)
    customer = document["customers"][0]["_id"]
    admin = next(t["token"] for t in document["tokens"] if "userId" not in t)
    app, _store = fake_on(document)
    output = tmp_path / "big.json"
    with LiveServer(app) as server:
        code, out, err = record(server.url, output, "--customer-id", customer, "--token", admin, "--anonymize")
    assert code == 0, err
    progress = [line for line in err.splitlines() if line.startswith("record: ")]
    assert progress[0] == "record: 0/300 users" and progress[-1] == "record: 300/300 users"
    assert len(progress) == 11
    users = json.loads(output.read_text(encoding="utf-8"))["customers"][0]["users"]
    emails = [user["email"].casefold() for user in users]
    assert len(set(emails)) == 300
    real = {user["_id"]: user for user in document["customers"][0]["users"]}
    mapping: dict[str, set[str]] = {}
    for user in users:
        mapping.setdefault(real[user["_id"]]["firstName"], set()).add(user["firstName"])
    assert all(len(fakes) == 1 for fakes in mapping.values())
    assert len(mapping) < 300  # names repeat in a customer this size: the mapping was really exercised


# -- read-only, rate limit, interruption ------------------------------------------------------------


@pytest.mark.parametrize("where", ["loopback", "non-loopback"])
def test_record_sends_only_get_requests(where, tmp_path):
    """Even on loopback, where ``contract`` would send anything, record only reads."""
    host = "127.0.0.1" if where == "loopback" else non_loopback_address()
    if host is None:
        pytest.skip("this machine has no non-loopback address to serve on")
    app, store = fresh_fake()
    recorder = MethodRecorder(app)
    with LiveServer(recorder, host=host) as server:
        code, out, err = record(server.url, tmp_path / "out.json", "--customer-id", ACME, "--token",
                                "acme-admin-token", "--rate-limit", "off")
    assert code == 0, err
    assert recorder.methods() == {"GET"}
    assert len(store.list_users(ACME)) == 30


def test_every_request_of_the_recording_asks_the_rate_limiter(tmp_path):
    app, _store = fresh_fake()
    recorder = MethodRecorder(app)
    limiter = CountingLimiter()
    with LiveServer(recorder) as server:
        code = run_record(server.url, RecordOptions(customer_id=ACME, output=str(tmp_path / "out.json"),
                                                    token="acme-admin-token"), limiter=limiter)
    assert code == 0
    assert limiter.acquired == len(recorder.seen) - 2  # all but the identity handshake and the pre-flight


def test_the_rate_limit_defaults_like_the_contract_runner():
    assert resolve_rate_limit(None, loopback=False) == "10/s"
    assert resolve_rate_limit(None, loopback=True) is None
    assert resolve_rate_limit("off", loopback=False) is None
    assert resolve_rate_limit("600/m", loopback=False) == "600/m"


def _interrupting(after_users: int):
    """The fake; after it has answered ``after_users`` user reads, Ctrl-C reaches the recorder."""
    app, _store = fresh_fake()
    seen = {"users": 0}
    lock = threading.Lock()

    def after(exchange, answer):
        if exchange.method == "GET" and USER_PATH.match(exchange.path):
            with lock:
                seen["users"] += 1
                if seen["users"] == after_users:
                    _thread.interrupt_main()  # as if Ctrl-C was pressed in the middle of the run

    return Breaker(app, after=after)


def test_ctrl_c_leaves_no_file_and_no_temporary_file(tmp_path):
    output = tmp_path / "acme.json"
    with LiveServer(_interrupting(10)) as server:
        code, out, err = record(server.url, output, "--customer-id", ACME, "--token", "acme-admin-token")
    assert code == 2
    assert f"interrupted; nothing was written to {output}" in err
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_keeps_an_earlier_file_whole(tmp_path):
    output = tmp_path / "acme.json"
    output.write_text('{"customers": []}\n', encoding="utf-8")
    with LiveServer(_interrupting(5)) as server:
        code, out, err = record(server.url, output, "--customer-id", ACME, "--token", "acme-admin-token")
    assert code == 2
    assert output.read_text(encoding="utf-8") == '{"customers": []}\n'
    assert [path.name for path in tmp_path.iterdir()] == ["acme.json"]


# -- could not record: exit 2, one clear line -------------------------------------------------------


def test_a_rejected_token_exits_2_before_reading_anything(tmp_path):
    app, _store = fresh_fake()
    with LiveServer(app) as server:
        code, out, err = record(server.url, tmp_path / "out.json", "--customer-id", ACME, "--token", "nope-token")
    assert code == 2
    assert err.startswith("mockserver record: could not record: the token was rejected")
    assert "nope-token" not in err
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["https://staging.example.com", "--customer-id", ACME], "no token: pass --token or set MOCKSERVER_CONTRACT_TOKEN"),
        (["http://127.0.0.1:9", "--customer-id", "acme"], "is not an ObjectId"),
        (["http://127.0.0.1:9", "--customer-id", ACME, "--rate-limit", "fast"], "--rate-limit 'fast'"),
    ],
)
def test_bad_options_exit_2_with_one_line(args, message, tmp_path, monkeypatch):
    monkeypatch.delenv("MOCKSERVER_CONTRACT_TOKEN", raising=False)
    code, out, err = record(*args[:1], tmp_path / "out.json", *args[1:])
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_a_missing_folder_or_an_unreachable_target_exits_2(tmp_path):
    code, out, err = record("http://127.0.0.1:9", tmp_path / "no" / "such" / "out.json", "--customer-id", ACME)
    assert code == 2 and "does not exist" in err
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        code, out, err = record(f"http://127.0.0.1:{port}", tmp_path / "out.json", "--customer-id", ACME)
    assert code == 2 and "connection refused" in err


def test_a_user_deleted_between_the_list_and_its_read_is_left_out(tmp_path):
    app, _store = fresh_fake()

    def before(exchange):
        if exchange.method == "GET" and exchange.path.endswith("/users/6500000000000000000001a5"):
            return Answer(404, [(b"content-type", b"application/problem+json")],
                          b'{"type": "about:blank", "title": "Not Found", "status": 404, "detail": "gone"}')
        return None

    output = tmp_path / "out.json"
    with LiveServer(Breaker(app, before=before)) as server:
        code, out, err = record(server.url, output, "--customer-id", ACME, "--token", "acme-admin-token")
    assert code == 0, err
    assert "1 listed user(s) were gone when read (404)" in err
    assert len(load(output)["customers"][0]["users"]) == 29


def test_answers_that_carry_the_token_itself_are_not_written(tmp_path):
    token = "tok-echo-5e1f-DISTINCTIVE"
    from mockserver.app.build import ServerOptions, create_app
    from mockserver.cli import build_store

    def echo(exchange, answer):
        if exchange.method == "GET" and USER_PATH.match(exchange.path) and answer.status == 200:
            user = answer.json()
            user["jobTitle"] = f"last seen with {(exchange.header(b'authorization') or b'').decode()}"
            answer.set_json(user)

    app = create_app(build_store([]), ServerOptions(any_token=True))
    output = tmp_path / "out.json"
    with LiveServer(Breaker(app, after=echo)) as server:
        code, out, err = record(server.url, output, "--customer-id", ACME, "--token", token)
    assert code == 2
    assert "contain the token itself; refusing to write it" in err
    assert token not in out + err
    assert not output.exists()
