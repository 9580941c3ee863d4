"""The fixture generator (``mockserver fixtures generate``): valid, deterministic, realistic. No HTTP."""

from __future__ import annotations

import json
import os
import re
from collections import Counter

import pytest

from mockserver.cli import main
from mockserver.core.files import write_atomic
from mockserver.fixtures.document import FixtureLoader
from mockserver.fixtures.generate import dumps, generate
from mockserver.store.memory import Store

OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")


@pytest.fixture(scope="module")
def document() -> dict:
    return generate(customers=3, users=60, seed=11)


def all_ids(document: dict) -> list[str]:
    ids = []
    for customer in document["customers"]:
        ids.append(customer["_id"])
        for role in customer["roles"]:
            ids.append(role["_id"])
            ids += [permission["_id"] for permission in role["permissions"]]
        ids += [group["_id"] for group in customer["groups"]]
        ids += [user["_id"] for user in customer["users"]]
    return ids


@pytest.mark.parametrize("compact", [False, True])
def test_output_passes_fixture_validation(tmp_path, compact):
    path = tmp_path / "generated.json"
    path.write_bytes(dumps(generate(customers=2, users=40, seed=5), compact=compact))
    loaded = FixtureLoader().load_files([path])
    assert [len(c["users"]) for c in loaded["customers"]] == [40, 40]


def test_smallest_customer_is_valid(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_bytes(dumps(generate(customers=1, users=3, seed=0)))
    users = FixtureLoader().load_files([path])["customers"][0]["users"]
    assert sum(u["status"] == "inactive" for u in users) == 1
    assert sum(u["isSuperDelegate"] for u in users) == 1


def test_many_seeds_are_valid():
    loader = FixtureLoader()
    for seed in range(20):
        loader.load_document(json.loads(dumps(generate(customers=2, users=25, seed=seed))), f"seed {seed}")


def test_same_seed_gives_byte_identical_output():
    assert dumps(generate(customers=2, users=50, seed=42)) == dumps(generate(customers=2, users=50, seed=42))
    assert dumps(generate(2, 50, 42), compact=True) == dumps(generate(2, 50, 42), compact=True)
    assert dumps(generate(2, 50, 42)) != dumps(generate(2, 50, 43))


def test_readable_and_compact_forms_hold_the_same_document(document):
    assert json.loads(dumps(document)) == json.loads(dumps(document, compact=True)) == document
    lines = dumps(document).decode().splitlines()
    assert sum(line.lstrip().startswith('{"_id"') for line in lines) == 3 * 60  # one user per line


def test_object_ids_are_lowercase_hex_and_unique(document):
    ids = all_ids(document)
    assert all(OBJECT_ID.match(i) for i in ids)
    assert len(ids) == len(set(ids))


def test_user_ids_ascend_in_creation_order(document):
    for customer in document["customers"]:
        users = customer["users"]
        assert [u["_id"] for u in users] == sorted(u["_id"] for u in users)
        assert [u["createdAt"] for u in users] == sorted(u["createdAt"] for u in users)
        assert all(u["updatedAt"] >= u["createdAt"] for u in users)
        assert all(int(u["_id"][:8], 16) >= int(customer["_id"][:8], 16) for u in users)


def test_emails_unique_per_customer_case_insensitively_and_at_the_firm():
    document = generate(customers=1, users=3000, seed=1)  # enough users for name collisions
    users = document["customers"][0]["users"]
    emails = [u["email"].casefold() for u in users]
    assert len(emails) == len(set(emails))
    assert len({e.split("@")[1] for e in emails}) == 1
    assert any(re.search(r"\d@", e) for e in emails)  # collisions were numbered, not dropped


def test_customers_are_distinct_firms(document):
    names = [c["fullName"] for c in document["customers"]]
    domains = [c["users"][0]["email"].split("@")[1] for c in document["customers"]]
    assert len(set(names)) == len(names) and len(set(domains)) == len(domains)


def test_users_look_like_a_law_firm():
    customer = generate(customers=1, users=500, seed=2)["customers"][0]
    users = customer["users"]
    for field, at_least in (("department", 4), ("office", 2), ("pod", 3), ("seniority", 4), ("jobTitle", 8),
                            ("subdepartment", 8), ("firstName", 50), ("lastName", 50)):
        assert len({u[field] for u in users}) >= at_least, field
    assert users[0]["jobTitle"] == "Managing Partner"
    assert any(u["nickname"] for u in users) and any(not u["nickname"] for u in users)
    assert any("-" in u["lastName"] for u in users)  # double-barrelled: a long tail of rare names
    assert all(u["firstName"] and u["lastName"] and u["jobTitle"] for u in users)
    partners = [u for u in users if u["seniority"] == "Partner"]
    assert partners and all(u["jobTitle"] in ("Partner", "Managing Partner") for u in partners)


def test_relations_reference_the_customer_and_make_sense():
    customer = generate(customers=1, users=400, seed=3)["customers"][0]
    users = {u["_id"]: u for u in customer["users"]}
    role_ids = {r["_id"] for r in customer["roles"]}
    group_ids = {g["_id"] for g in customer["groups"]}
    delegating = [u for u in users.values() if u["delegateIds"]]
    assert len(delegating) >= 20
    for user in users.values():
        assert set(user["roleIds"]) <= role_ids and set(user["groupIds"]) <= group_ids
        assert user["_id"] not in user["delegateIds"]
        assert len(user["delegateIds"]) == len(set(user["delegateIds"]))
        assert set(user["delegateIds"]) <= set(users)
        for identity in user["identities"]:
            assert identity["type"] == "aderant" and identity["value"].startswith("AD-")
    delegates = {d for u in delegating for d in u["delegateIds"]}
    assert {users[d]["jobTitle"] for d in delegates} <= {"Senior Paralegal", "Paralegal", "Legal Assistant", "Legal Secretary"}
    values = [i["value"] for u in users.values() for i in u["identities"]]
    assert len(values) == len(set(values)) and len(values) >= 0.9 * len(users)
    assert sum(bool(u["roleIds"]) for u in users.values()) == len(users)


def test_each_customer_has_inactive_users_and_one_super_delegate(document):
    for customer in document["customers"]:
        users = customer["users"]
        assert sum(u["status"] == "inactive" for u in users) >= 1
        assert all(u["status"] in ("active", "inactive") for u in users)
        supers = [u for u in users if u["isSuperDelegate"]]
        assert len(supers) == 1 and supers[0]["status"] == "active"


def test_tokens_admin_per_customer_and_user_bound(document):
    tokens = document["tokens"]
    assert len({t["token"] for t in tokens}) == len(tokens)
    for customer in document["customers"]:
        users = {u["_id"]: u for u in customer["users"]}
        mine = [t for t in tokens if t["customerIds"] == [customer["_id"]]]
        admins = [t for t in mine if "userId" not in t]
        bound = [t for t in mine if "userId" in t]
        assert len(admins) == 1 and admins[0]["token"].endswith("-admin-token")
        assert len(bound) >= 2
        for token in bound:
            user = users[token["userId"]]
            assert user["status"] == "active" and user["identities"]
    everyone = [t for t in tokens if len(t["customerIds"]) == 3]
    assert len(everyone) == 1


def test_a_store_serves_the_generated_users():
    document = generate(customers=1, users=300, seed=4)
    store = Store(document)
    customer = document["customers"][0]
    assert len(store.list_users(customer["_id"])) == 300
    counts = Counter(u["lastName"] for u in customer["users"])
    rare = min(counts, key=lambda name: (counts[name], name))
    found = store.list_users(customer["_id"], rare)
    assert found and all(rare.casefold() in (u["lastName"] + u["email"] + u["firstName"] + u["nickname"]).casefold() for u in found)
    token = next(t for t in document["tokens"] if t.get("userId"))
    assert store.principal(token["token"]).user_id == token["userId"]


def test_cli_writes_a_file_that_loads(tmp_path, capsys):
    out = tmp_path / "big.json"
    assert main(["fixtures", "generate", "--customers", "2", "--users", "30", "--seed", "9", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().err
    assert out.read_bytes() == dumps(generate(customers=2, users=30, seed=9))
    FixtureLoader().load_files([out])
    assert os.listdir(tmp_path) == ["big.json"]  # no temporary file left behind
    compact = tmp_path / "compact.json"
    assert main(["fixtures", "generate", "--users", "10", "--compact", "-o", str(compact)]) == 0
    assert compact.read_bytes() == dumps(generate(users=10), compact=True)


def test_cli_rejects_too_few_users(tmp_path):
    assert main(["fixtures", "generate", "--users", "2", "-o", str(tmp_path / "x.json")]) == 2
    assert not (tmp_path / "x.json").exists()


def test_generate_rejects_impossible_sizes():
    with pytest.raises(ValueError):
        generate(customers=0)
    with pytest.raises(ValueError):
        generate(users=2)
    with pytest.raises(ValueError, match="ObjectIds"):
        generate(customers=1, users=1 << 24)


def test_write_atomic_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "fixture.json"
    target.write_bytes(b"old")

    def fail(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["fixture.json"]
    monkeypatch.undo()
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"


def test_a_generated_file_is_written_durably_and_readable_by_others(tmp_path, monkeypatch):
    """The same durable write as the state file (temp, fsync, rename, fsync of the folder), but 0644."""
    events = []
    real_fsync = os.fsync

    def fsync(fd):
        events.append("fsync dir" if os.path.isdir(f"/proc/self/fd/{fd}") else "fsync file")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    target = tmp_path / "fixture.json"
    write_atomic(target, b"{}")
    assert events == ["fsync file", "fsync dir"]
    assert target.stat().st_mode & 0o777 == 0o644
