"""drift's comparisons as strict as the documents and no stricter (meaning vs form, the updatedAt
timeline, createdAt as an instant), its model's rules and principals, and the restore after an
allowed delete. The comparer and the timeline are plain functions; the model and the restore run
against real fakes on loopback sockets."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mockserver.contract.results import WireResponse
from mockserver.drift.compare import Comparer, Difference, Timeline, meaning_only
from mockserver.drift.inputs import Principal
from mockserver.drift.model import MODEL_RULES, run_model
from mockserver.drift.side import Side
from mockserver.remote.client import Client
from mockserver.remote.restore import restore_users, snapshot_users
from tests.support import LiveServer, fresh_fake

ACME = "6500000000000000000000a1"
JANE = "6500000000000000000001a1"
MARIA = "6500000000000000000001a3"  # Jane and Robert delegate to her
AISHA = "6500000000000000000001a5"
ROBERT = "6500000000000000000001a2"  # robert-token is bound to him; he has an identity
WRITABLE = [ROBERT, AISHA, "6500000000000000000001a8"]


def answer(body, status=200, content_type="application/json") -> WireResponse:
    return WireResponse(status=status, content_type=content_type, body=json.dumps(body).encode())


USER = {"_id": JANE, "firstName": "Jane", "createdAt": "2024-01-15T09:30:00Z", "updatedAt": "2024-01-15T09:30:00Z",
        "roles": [{"_id": "r1" * 12}, {"_id": "r2" * 12}]}


# -- meaning or form ----------------------------------------------------------------------------


@pytest.mark.parametrize("target, fake, kind, form", [
    ({**USER, "employeeNumber": "E1"}, USER, "field", True),  # an extra field: responses are open
    ({k: v for k, v in USER.items() if k != "firstName"}, USER, "field", False),  # a documented field missing
    ({**USER, "updatedAt": "2024-01-15T09:30:00.000Z"}, USER, "format", True),  # another precision
    ({**USER, "createdAt": "2024-01-15T09:30:00.000Z"}, USER, "format", True),  # the same instant, other precision
    ({**USER, "createdAt": "2024-01-16T09:30:00Z"}, USER, "value", False),  # createdAt never changes
    ({**USER, "roles": USER["roles"][::-1]}, USER, "order", True),  # no order is documented inside a user
    ({**USER, "firstName": "Janet"}, USER, "value", False),
    ({**USER, "updatedAt": "yesterday"}, USER, "format", False),
])
def test_each_difference_is_meaning_or_form(target, fake, kind, form):
    differences = Comparer().compare(answer(target), answer(fake))
    assert [(d.kind, d.form) for d in differences] == [(kind, form)], differences


def test_the_lists_order_is_meaning():
    users = [{"_id": f"{n:024x}"} for n in range(3)]
    differences = Comparer().compare(answer(users[::-1]), answer(users))
    assert differences == [Difference("order", "$", "another order", "another order")]
    assert meaning_only(differences) == differences


def test_error_wording_and_added_members_are_form_missing_members_meaning():
    problem = {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "no user"}
    comparer = Comparer()
    assert comparer.compare(answer({**problem, "detail": "gone"}, 404), answer(problem, 404)) == []
    added = comparer.compare(answer({**problem, "traceId": "t"}, 404), answer(problem, 404))
    assert [(d.kind, d.form) for d in added] == [("error-format", True)]
    missing = comparer.compare(answer({"title": "Not Found", "status": 404}, 404), answer(problem, 404))
    assert [(d.kind, d.form) for d in missing] == [("error-format", False)]


def test_ignored_fields_are_not_compared_as_instants():
    later = {**USER, "createdAt": "2030-01-01T00:00:00Z"}
    assert Comparer(["createdAt"]).compare(answer(later), answer(USER)) == []


# -- updatedAt across a sequence ----------------------------------------------------------------


def test_updated_at_must_move_on_both_sides_or_neither():
    timeline = Timeline()
    moved = {**USER, "updatedAt": "2025-01-01T00:00:00.001Z"}
    assert timeline.observe(USER, USER) == []
    assert timeline.observe(moved, {**USER, "updatedAt": "2025-02-01T00:00:00.002Z"}) == []  # both moved
    stuck = timeline.observe(moved, {**USER, "updatedAt": "2025-03-01T00:00:00.000Z"})
    assert [(d.kind, d.fake) for d in stuck] == [("value", "moved")]
    assert not stuck[0].form


def test_updated_at_must_not_go_back_and_lists_count():
    timeline = Timeline()
    assert timeline.observe([USER], [USER]) == []
    back = {**USER, "updatedAt": "2020-01-01T00:00:00Z"}
    differences = timeline.observe([back], [{**USER, "updatedAt": "2025-01-01T00:00:00.000Z"}])
    assert [d.kind for d in differences] == ["value"] and "went from" in differences[0].target


def _updates(timeline: Timeline, pairs: list[tuple[int, int]], *, apart: float = 1.0) -> list[Difference]:
    """Successive updates of one user: (target millisecond, fake millisecond) each, ``apart`` seconds apart
    (each millisecond is taken as the part of the second at that time)."""
    found = timeline.observe(USER, USER)
    for number, (mine, theirs) in enumerate(pairs, start=1):
        second = int(number * apart)
        found += timeline.observe({**USER, "updatedAt": f"2025-01-01T00:{second // 60:02d}:{second % 60:02d}.{mine:03d}Z"},
                                  {**USER, "updatedAt": f"2025-01-01T00:{second // 60:02d}:{second % 60:02d}.{theirs:03d}Z"})
    return found


def test_updates_kept_to_whole_seconds_are_one_difference_in_form():
    pairs = [(0, 123), (1, 456), (0, 789), (2, 12), (0, 345), (0, 678), (0, 901), (0, 234), (0, 567), (0, 890)]
    found = _updates(Timeline(), pairs)
    assert [(d.kind, d.form) for d in found] == [("format", True)]
    assert "whole seconds (8 of 8 updates within 10 ms of a second, in 3+ different seconds)" in found[0].target
    assert meaning_only(found) == []


def _timed(timeline: Timeline, updates: list[tuple[int, int, int]]) -> list[Difference]:
    """Successive updates of one user: (second, target millisecond, fake millisecond) each."""
    found = timeline.observe(USER, USER)
    for second, mine, theirs in updates:
        found += timeline.observe({**USER, "updatedAt": f"2025-01-01T00:00:{second:02d}.{mine:03d}Z"},
                                  {**USER, "updatedAt": f"2025-01-01T00:00:{second:02d}.{theirs:03d}Z"})
    return found


def test_a_burst_of_updates_near_a_second_or_whole_second_waits_are_no_evidence():
    # Updates a millisecond or two apart just after a second (a coverage phase's burst): not whole seconds.
    burst = [(1, mine, mine + 4) for mine in (0, 1, 3, 4, 6, 7, 8, 9)]
    assert _timed(Timeline(), burst) == []
    # A rate limit's waits of whole seconds keep the updates' phase: some near a second, most not.
    assert _updates(Timeline(), [(3, 5), (6, 8), (250, 252), (500, 503)] * 6) == []
    # Updated again within its second, a whole-second target shows 1 ms past the previous value, also
    # past .010: those count as whole seconds too.
    bumped = [(1, mine, 100 + 10 * mine) for mine in range(12)] + [(2, 0, 300), (3, 0, 400)]
    found = _timed(Timeline(), bumped)
    assert [d.kind for d in found] == ["format"], found
    assert "14 of 14 updates" in found[0].target


@settings(max_examples=200, derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 999), st.integers(0, 999)), max_size=16))
def test_precision_is_reported_only_when_nine_in_ten_updates_sit_on_whole_seconds(pairs):
    found = _updates(Timeline(), pairs)
    near = lambda ms: ms < 10  # noqa: E731  (a second apart: no update is 1 ms past the previous one)

    def reported(count: int) -> bool:
        shown = pairs[:count]
        seconds = {number for number, (mine, _) in enumerate(shown) if near(mine)}
        return (count >= 8 and sum(near(m) for m, _ in shown) >= 0.9 * count
                and sum(near(t) for _, t in shown) < 0.9 * count and len(seconds) >= 3)

    assert [d.kind for d in found] == (["format"] if any(reported(n) for n in range(1, len(pairs) + 1)) else [])
    assert all(d.form for d in found)


# -- the model ----------------------------------------------------------------------------------


def _model_run(steps: int, seed: int, *, fail_on: str = "meaning"):
    """run_model between two fresh fakes on loopback (the same state: no difference expected)."""
    target_app, _ = fresh_fake()
    fake_app, fake_store = fresh_fake()
    users = sorted(fake_store.snapshot()["customers"][0]["users"], key=lambda u: u["_id"])
    roles = [role["_id"] for role in fake_store.snapshot()["customers"][0]["roles"]]
    seen = []
    with LiveServer(target_app) as target_server, LiveServer(fake_app) as fake_server:
        target, fake = Side("target", target_server.url, 10, None), Side("the fake", fake_server.url, 10, None)
        client = Client(target_server.url, "acme-admin-token")
        snapshots = snapshot_users(client, ACME, tuple(WRITABLE))
        outcome = run_model(
            steps=steps, seed=seed, customer_id=ACME, users=users, roles=roles, token="acme-admin-token",
            target=target, fake=fake, comparer=Comparer(), patchable=WRITABLE, deletable=WRITABLE[:2],
            snapshots=snapshots, on_answer=lambda step, *_: seen.append(step), fail_on=fail_on,
            principals=[Principal("another customer's token", "birch-admin-token", other_customer=True),
                        Principal("the lookup token", "robert-token", ROBERT)],
        )
        target.close(), fake.close(), client.close()
    return outcome, seen


@pytest.mark.slow
def test_the_model_runs_every_rule_as_every_principal_without_a_false_alarm():
    outcome, seen = _model_run(steps=400, seed=4)  # one fixed run that reaches every rule and note
    assert outcome.stopped is None and not outcome.differences, outcome.differences[:1]
    assert set(MODEL_RULES) <= outcome.rules_run, set(MODEL_RULES) - outcome.rules_run
    tokens = {step.headers.get("Authorization") for step in seen}
    assert {"Bearer acme-admin-token", "Bearer birch-admin-token", "Bearer robert-token"} <= tokens
    written = {step.headers.get("Authorization") for step in seen if step.method in ("PATCH", "DELETE")}
    assert "Bearer birch-admin-token" in written and "Bearer robert-token" in written
    notes = " | ".join(step.note for step in seen)
    for expected in ("rejected: ", "after a rejected write", "the deleted user", "lookup after a delete",
                     "an edge value", "delete the deleted user again", "a delegation to the deleted user"):
        assert expected in notes, expected


# -- the restore after an allowed delete --------------------------------------------------------


@pytest.mark.slow
def test_an_allowed_delete_is_listed_not_a_failed_restore():
    app, _ = fresh_fake()
    with LiveServer(app) as server:
        client = Client(server.url, "acme-admin-token")
        snapshots = snapshot_users(client, ACME, (JANE, MARIA, AISHA))
        client.request("PATCH", f"/api/v1/customers/{ACME}/users/{AISHA}", json={"jobTitle": "Changed"})
        assert client.request("DELETE", f"/api/v1/customers/{ACME}/users/{MARIA}").status_code == 200
        # Jane delegated to Maria: the delete removed that delegation, as documented.
        jane = client.request("GET", f"/api/v1/customers/{ACME}/users/{JANE}").json()
        assert MARIA not in [d["_id"] for d in jane["delegates"]]
        refused = restore_users(client, ACME, snapshots)
        assert not refused.ok and "cannot re-create" in " ".join(refused.lines())
        report = restore_users(client, ACME, snapshots, deletes_allowed=True)
        client.close()
    assert report.ok, report.lines()
    assert report.deleted == [MARIA]
    assert {r.user_id: r.status for r in report.results} == {JANE: "unchanged", MARIA: "deleted", AISHA: "unchanged"}
