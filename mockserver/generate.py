"""Generate large, realistic fixture documents: ``mockserver fixtures generate``.

Deterministic: the same arguments give byte-identical output (one ``random.Random(seed)``, fixed
reference dates, no clock, no environment). Realistic enough to exercise search, delegation and
rendering the way a law firm's directory would: names drawn from built-in lists (a long tail of
double-barrelled surnames makes some last names rare), emails ``first.last@firm.example`` unique
per customer case-insensitively, departments with their subdepartments, offices, pods, job titles
with matching seniorities and roles, practice groups, delegations from lawyers to support staff
(never to oneself), one super delegate and a few inactive users per customer, and an ``aderant``
identity for nearly everyone.

ObjectIds look like MongoDB's: a 4-byte creation time (the record's ``createdAt``), a 5-byte
value per document and a 3-byte counter, so ascending ``_id`` is creation order, as the contract
says. Every id in a document is distinct (the counter never repeats within a document).

Tokens: ``<firm>-admin-token`` per customer, plus two user-bound tokens per customer (the
managing partner's and the super delegate's), plus ``all-customers-admin-token`` when there is
more than one customer.

Standard library only; valid under :class:`mockserver.fixtures.FixtureLoader` (the tests check).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
import random
import time
import unicodedata
from collections.abc import Sequence
from typing import Any

__all__ = ["generate", "dumps", "MAX_OBJECTS"]

MAX_OBJECTS = 1 << 24  # the ObjectId counter is 3 bytes: more objects would repeat an id

# Fixed reference window: no clock, so the output depends on the arguments only.
_FIRM_EPOCH_FROM = 1420070400  # 2015-01-01T00:00:00Z
_FIRM_EPOCH_TO = 1577836800  # 2020-01-01T00:00:00Z
_NOW = 1751241600  # 2025-06-30T00:00:00Z

FIRST_NAMES = tuple("""
    James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan
    Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty Anthony
    Margaret Mark Sandra Donald Ashley Steven Kimberly Paul Emily Andrew Donna Joshua Michelle Kenneth
    Carol Kevin Amanda Brian Melissa George Deborah Timothy Stephanie Ronald Rebecca Edward Sharon Jason
    Laura Jeffrey Cynthia Ryan Kathleen Jacob Amy Gary Angela Nicholas Shirley Eric Anna Jonathan Brenda
    Stephen Pamela Larry Emma Justin Nicole Scott Helen Brandon Samantha Benjamin Katherine Samuel
    Christine Gregory Debra Alexander Rachel Frank Carolyn Patrick Janet Raymond Catherine Jack Maria
    Dennis Heather Jerry Diane Tyler Ruth Aaron Julie Jose Olivia Adam Joyce Nathan Virginia Henry
    Victoria Douglas Kelly Zachary Lauren Peter Christina Kyle Joan Priya Arjun Wei Mei Hiroshi Yuki
    Amara Chidi Fatima Omar Mohammed Aisha Ingrid Lars Sofia Mateo Lucia Diego Chloé Zoë José Renée
    Siobhan Niamh Tomasz Agnieszka Dmitri Anya Kwame Abena Ravi Ananya Eleanor Marcus Sophie Isaac Naomi
    Elliot Freya Hugo Imogen Felix
""".split())
LAST_NAMES = tuple("""
    Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez
    Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark
    Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams
    Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker
    Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper
    Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James
    Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster Jimenez
    Chen Wang Li Zhang Liu Tanaka Suzuki Sato Yamamoto Park Choi Singh Kumar Shah Gupta Okafor Nwosu
    Mensah Haddad Khalil Larsen Johansson Nielsen Kowalski Nowak Novak Ivanov Petrov Dubois Moreau
    Laurent Rossi Russo Bianchi Schmidt Müller Schneider Fischer Weber Becker O'Brien O'Connor McCarthy
    Sullivan Walsh Byrne Doyle Fitzgerald MacLeod Murray Tremblay Gagnon Bouchard Fontaine Birch Stone
    Harlow Vance Whitaker Ashford
""".split())
NICKNAMES = {
    "William": "Bill", "Robert": "Bob", "Richard": "Rick", "Katherine": "Kate", "Elizabeth": "Liz",
    "Patricia": "Pat", "Patrick": "Pat", "Michael": "Mike", "Jennifer": "Jen", "Christopher": "Chris",
    "Margaret": "Maggie", "Anthony": "Tony", "Joseph": "Joe", "Thomas": "Tom", "Daniel": "Dan",
    "Matthew": "Matt", "Nicholas": "Nick", "Samuel": "Sam", "Samantha": "Sam", "Benjamin": "Ben",
    "Alexander": "Alex", "Eleanor": "Nell", "Victoria": "Vicky", "Jonathan": "Jon", "Rebecca": "Becky",
    "Zachary": "Zach", "Stephanie": "Steph", "Timothy": "Tim", "Kimberly": "Kim", "Gregory": "Greg",
}
# department -> subdepartments; the first set are practice areas (lawyers), the rest business services.
PRACTICE_AREAS = {
    "Litigation": ("Commercial", "White Collar", "Insurance Defense", "Appellate"),
    "Corporate": ("M&A", "Capital Markets", "Private Equity", "Venture Capital"),
    "Intellectual Property": ("Patents", "Trademarks", "Copyright"),
    "Real Estate": ("Commercial Leasing", "Land Use", "Construction"),
    "Employment": ("Labor Relations", "Benefits", "Immigration"),
    "Private Client": ("Trusts & Estates", "Estate Administration", "Tax"),
    "Banking & Finance": ("Lending", "Restructuring", "Regulatory"),
}
BUSINESS_SERVICES = {
    "Finance": ("Billing", "Collections", "Accounts Payable"),
    "Operations": ("Administration", "Facilities", "Records"),
    "IT": ("Service Desk", "Infrastructure", "Litigation Support"),
}
OFFICES = (
    "New York", "London", "Chicago", "San Francisco", "Boston", "Washington", "Los Angeles", "Denver",
    "Houston", "Seattle", "Toronto", "Paris", "Frankfurt", "Singapore", "Hong Kong", "Sydney", "Dublin",
    "Atlanta", "Miami", "Dallas",
)
FIRM_SUFFIXES = ("LLP", "LLP", "LLP", "& Partners", "Law Group", "PC", "Legal")
# (job title, seniority, weight, kind): kind says which departments, roles and delegations apply.
JOBS = (
    ("Partner", "Partner", 9, "lawyer"),
    ("Of Counsel", "Senior", 3, "lawyer"),
    ("Counsel", "Senior", 3, "lawyer"),
    ("Senior Associate", "Senior", 10, "lawyer"),
    ("Associate", "Mid-level", 10, "lawyer"),
    ("Associate", "Junior", 12, "lawyer"),
    ("Trainee Solicitor", "Trainee", 2, "lawyer"),
    ("Senior Paralegal", "Senior", 4, "support"),
    ("Paralegal", "Staff", 12, "support"),
    ("Legal Assistant", "Staff", 11, "support"),
    ("Legal Secretary", "Staff", 5, "support"),
    ("Docketing Specialist", "Staff", 2, "business"),
    ("Billing Specialist", "Staff", 4, "business"),
    ("Billing Manager", "Senior", 1, "business"),
    ("Office Manager", "Staff", 1, "business"),
    ("IT Support Analyst", "Staff", 2, "business"),
    ("Records Clerk", "Staff", 2, "business"),
)
ROLES = (  # name, permissions (claim, description)
    ("Timekeeper", (("time:write", "Record and edit own time entries"), ("time:read", "Read own time entries"))),
    ("Approver", (("time:approve", "Approve the time entries of the users who delegate to them"),)),
    ("Billing", (("billing:write", "Prepare and edit pre-bills"), ("invoices:read", "Read issued invoices"))),
    ("Reporting", (("reports:read", "Run firm-wide utilisation and realisation reports"),)),
    ("Administrator", (("users:admin", "Create, update and deactivate users"),)),
)
EXTRA_GROUPS = ("Partners", "Pro Bono Committee", "Billing Reviewers", "Knowledge Management", "Diversity Network")


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


@functools.cache
def _email_part(text: str) -> str:
    return "".join(ch for ch in _ascii(text).lower() if ch.isalnum() or ch in "-.")


def _timestamp(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class _Picker:
    """Weighted choice by bisect on cumulative weights (``random.choices`` minus its overhead)."""

    def __init__(self, items: Sequence[Any], weights: Sequence[float]):
        self.items = list(items)
        self.cumulative = list(itertools.accumulate(weights))
        self.total = self.cumulative[-1]

    def __call__(self, rng: random.Random) -> Any:
        return self.items[bisect.bisect_right(self.cumulative, rng.random() * self.total)]


class _Ids:
    """MongoDB-style ObjectIds: time (4 bytes) + per-document value (5) + counter (3), all distinct."""

    def __init__(self, rng: random.Random):
        self.middle = f"{rng.getrandbits(40):010x}"
        self.counter = rng.getrandbits(24)
        self.issued = 0

    def __call__(self, seconds: int) -> str:
        self.issued += 1
        if self.issued > MAX_OBJECTS:
            raise ValueError(f"a document cannot hold more than {MAX_OBJECTS} objects with distinct ids")
        self.counter = (self.counter + 1) & 0xFFFFFF
        return f"{seconds:08x}{self.middle}{self.counter:06x}"


def generate(customers: int = 1, users: int = 100, seed: int = 0) -> dict[str, Any]:
    """A fixture document with ``customers`` customers of ``users`` users each."""
    if customers < 1:
        raise ValueError("customers must be at least 1")
    if users < 3:
        raise ValueError("users must be at least 3 per customer (a managing partner, a super delegate, an inactive user)")
    # roles+permissions (~12) + groups (~12) + 1 customer + users, per customer
    if customers * (users + 32) > MAX_OBJECTS:
        raise ValueError(f"too many objects for distinct ObjectIds: at most {MAX_OBJECTS} in one document")
    rng = random.Random(seed)
    ids = _Ids(rng)
    firm_names: set[str] = set()
    slugs: set[str] = set()
    document_customers = []
    tokens: list[dict[str, Any]] = []
    for _ in range(customers):
        customer, customer_tokens = _customer(rng, ids, users, firm_names, slugs)
        document_customers.append(customer)
        tokens += customer_tokens
    if customers > 1:
        tokens.append({"token": "all-customers-admin-token", "customerIds": [c["_id"] for c in document_customers]})
    return {"customers": document_customers, "tokens": tokens}


def _firm_name(rng: random.Random, taken: set[str]) -> tuple[str, str]:
    for attempt in itertools.count():
        first, second = rng.sample(LAST_NAMES, 2)
        name = f"{first} & {second} {rng.choice(FIRM_SUFFIXES)}"
        if attempt > 50:
            name = f"{first} & {second} {attempt} LLP"
        if name not in taken:
            taken.add(name)
            return name, _email_part(first + second).replace(".", "").replace("-", "")
    raise AssertionError("unreachable")


def _customer(rng, ids: _Ids, n_users: int, firm_names: set[str], slugs: set[str]):
    name, slug = _firm_name(rng, firm_names)
    base_slug, number = slug, 1
    while slug in slugs:
        number += 1
        slug = f"{base_slug}{number}"
    slugs.add(slug)
    domain = f"{slug}.example"
    founded = rng.randrange(_FIRM_EPOCH_FROM, _FIRM_EPOCH_TO)
    customer_id = ids(founded)

    roles = []
    role_ids: dict[str, str] = {}
    for role_name, permissions in ROLES:
        role_id = ids(founded)
        role_ids[role_name] = role_id
        roles.append(
            {
                "_id": role_id,
                "name": role_name,
                "permissions": [
                    {"_id": ids(founded), "claim": claim, "description": description}
                    for claim, description in permissions
                ],
            }
        )
    departments = {**PRACTICE_AREAS, **BUSINESS_SERVICES}
    practice_names = rng.sample(sorted(PRACTICE_AREAS), rng.randint(3, len(PRACTICE_AREAS)))
    business_names = sorted(BUSINESS_SERVICES)
    groups = []
    group_ids: dict[str, str] = {}
    for group_name in (*practice_names, *EXTRA_GROUPS):
        group_ids[group_name] = ids(founded)
        groups.append({"_id": group_ids[group_name], "name": group_name})

    offices = rng.sample(OFFICES, rng.randint(2, min(6, len(OFFICES))))
    office_pick = _Picker(offices, [1 / (rank + 1) for rank in range(len(offices))])  # a head office, then smaller
    pods = {dept: [f"Pod {n}" for n in range(1, rng.randint(2, 8) + 1)] for dept in departments}
    job_pick = _Picker(JOBS, [job[2] for job in JOBS])
    first_pick = _Picker(FIRST_NAMES, [1.0] * len(FIRST_NAMES))
    last_pick = _Picker(LAST_NAMES, [1 / (rank + 10) for rank in range(len(LAST_NAMES))])  # a Zipf-like tail
    business_dept = {
        "Docketing Specialist": "Operations",
        "Billing Specialist": "Finance",
        "Billing Manager": "Finance",
        "Office Manager": "Operations",
        "IT Support Analyst": "IT",
        "Records Clerk": "Operations",
    }

    # Creation times first: ids are time-ordered, so the list order is creation order.
    created = sorted(rng.randrange(founded, _NOW) for _ in range(n_users - 1))
    created.insert(0, founded)  # the managing partner opened the account
    emails: set[str] = set()
    identity_numbers = rng.sample(range(1000, 1000 + 10 * n_users), n_users)
    users = []
    lawyers: list[int] = []
    support: list[int] = []
    for index, created_at in enumerate(created):
        if index == 0:
            job = ("Managing Partner", "Partner", 0, "lawyer")
        else:
            job = job_pick(rng)
        title, seniority, _, kind = job
        first = first_pick(rng)
        if rng.random() < 0.08:  # double-barrelled surnames: the long tail of rare last names
            last = f"{last_pick(rng)}-{last_pick(rng)}"
        else:
            last = last_pick(rng)
        if kind == "business":
            department = business_dept.get(title) or rng.choice(business_names)
        else:
            department = practice_names[int(rng.random() ** 1.5 * len(practice_names))]
        local = f"{_email_part(first)}.{_email_part(last)}"
        email_local, number = local, 1
        while email_local in emails:
            number += 1
            email_local = f"{local}{number}"
        emails.add(email_local)
        updated_at = created_at if rng.random() < 0.25 else rng.randrange(created_at, _NOW)

        role_list = []
        if kind != "business" or title in ("Docketing Specialist", "IT Support Analyst", "Records Clerk"):
            role_list.append(role_ids["Timekeeper"])  # business staff record time too, except billing
        if seniority == "Partner" or title in ("Of Counsel", "Billing Manager"):
            role_list.append(role_ids["Approver"])
        if department == "Finance":
            role_list.append(role_ids["Billing"])
        if seniority == "Partner" and rng.random() < 0.3 or title == "Billing Manager":
            role_list.append(role_ids["Reporting"])
        if title in ("Managing Partner", "Office Manager") or department == "IT" and rng.random() < 0.3:
            role_list.append(role_ids["Administrator"])

        group_list = [group_ids[department]] if department in group_ids else []
        if seniority == "Partner":
            group_list.append(group_ids["Partners"])
        if title in ("Billing Specialist", "Billing Manager") or seniority == "Partner" and rng.random() < 0.2:
            group_list.append(group_ids["Billing Reviewers"])
        if rng.random() < 0.06:
            group_list.append(group_ids[rng.choice(("Pro Bono Committee", "Knowledge Management", "Diversity Network"))])

        user = {
            "_id": ids(created_at),
            "createdAt": _timestamp(created_at),
            "updatedAt": _timestamp(updated_at),
            "email": f"{email_local}@{domain}",
            "firstName": first,
            "lastName": last,
            "jobTitle": title,
            "nickname": NICKNAMES[first] if first in NICKNAMES and rng.random() < 0.4 else "",
            "status": "active",
            "isSuperDelegate": False,
            "seniority": seniority,
            "department": department,
            "office": office_pick(rng),
            "subdepartment": rng.choice(departments[department]),
            "pod": rng.choice(pods[department]),
            "groupIds": group_list,
            "roleIds": role_list,
            "delegateIds": [],
            "identities": (
                [] if kind == "business" and rng.random() < 0.3 else [{"type": "aderant", "value": f"AD-{identity_numbers[index]}"}]
            ),
        }
        users.append(user)
        (support if kind == "support" else lawyers if kind == "lawyer" else []).append(index)

    if not support:  # tiny customers: make the last user an assistant so delegation has someone to go to
        last_user = users[-1]
        last_user.update(jobTitle="Legal Assistant", seniority="Staff", roleIds=[role_ids["Timekeeper"]])
        support.append(len(users) - 1)
        lawyers = [i for i in lawyers if i != len(users) - 1]
    if not users[support[0]]["identities"]:
        users[support[0]]["identities"] = [{"type": "aderant", "value": f"AD-{identity_numbers[support[0]]}"}]

    # Delegations: lawyers hand work to support staff (never to themselves; support is not a lawyer).
    for index in lawyers:
        user = users[index]
        if index == 0 or user["seniority"] in ("Partner", "Senior") and rng.random() < 0.6 or rng.random() < 0.1:
            count = min(len(support), 1 + int(rng.random() ** 2 * 3))
            user["delegateIds"] = [users[i]["_id"] for i in sorted(rng.sample(support, count))]

    # One super delegate (the first assistant), a few inactive users (never the token holders).
    super_index = support[0]
    users[super_index]["isSuperDelegate"] = True
    candidates = [i for i in range(1, len(users)) if i != super_index]
    for index in rng.sample(candidates, min(len(candidates), max(1, len(users) // 50))):
        users[index]["status"] = "inactive"

    customer = {"_id": customer_id, "fullName": name, "roles": roles, "groups": groups, "users": users}
    tokens = [
        {"token": f"{slug}-admin-token", "customerIds": [customer_id]},
        {"token": f"{slug}-{users[0]['email'].split('@')[0]}-token", "customerIds": [customer_id], "userId": users[0]["_id"]},
        {
            "token": f"{slug}-{users[super_index]['email'].split('@')[0]}-token",
            "customerIds": [customer_id],
            "userId": users[super_index]["_id"],
        },
    ]
    return customer, tokens


def dumps(document: dict[str, Any], *, compact: bool = False) -> bytes:
    """The document as UTF-8 JSON. Readable by default: indented, one user per line (a file of
    100,000 users stays diffable and fast to write); ``compact``: no whitespace at all."""
    if compact:
        return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
    placeholders: dict[str, list] = {}
    skeleton_customers = []
    for index, customer in enumerate(document.get("customers", [])):
        marker = f"\x00users-{index}\x00"
        placeholders[json.dumps(marker)] = customer.get("users", [])
        skeleton_customers.append({**customer, "users": marker})
    text = json.dumps({**document, "customers": skeleton_customers}, ensure_ascii=False, indent=2)
    for marker, users in placeholders.items():
        if users:
            body = ",\n        ".join(json.dumps(user, ensure_ascii=False) for user in users)
            text = text.replace(marker, f"[\n        {body}\n      ]", 1)
        else:
            text = text.replace(marker, "[]", 1)
    return text.encode("utf-8") + b"\n"


