"""The long run of the hostile-input properties of tests/test_hostile_input.py (same generators from tests/hostile.py,
same checks, many more cases): fixture files mutated through the loader; arbitrary JSON bodies to
both PATCHes and the admin API's document endpoints; arbitrary bytes as query and header values.

    PYTHONPATH=. python bench/hostile_fuzz.py                       # 105,000 cases, at most 30 min
    PYTHONPATH=. python bench/hostile_fuzz.py --scale 0.1 --seed 7  # a tenth, another seed

Each surface runs in batches of Hypothesis examples (generation only, no shrinking: a failure is
printed as found); the run stops a surface when its share of ``--budget`` seconds is used up, and
says so. Exit 0: nothing found; 1: a failure (printed).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mockserver.app.build import ServerOptions, create_app  # noqa: E402
from mockserver.fixtures.document import FixtureLoader  # noqa: E402
from mockserver.store.memory import Store  # noqa: E402
from tests import hostile as t  # noqa: E402
from tests.conftest import JANE, user_url  # noqa: E402
from tests.hostile import AsgiCaller, assert_json_answer, check_fixture_bytes, json_text, mutated_fixture  # noqa: E402

SURFACES = {"fixtures": 10_000, "patch": 30_000, "admin": 30_000, "query_headers": 35_000}
BATCH = 1000


def _counting(case, counter):
    """``case``, counting its calls in ``counter[0]``."""

    def counted(**kwargs):
        counter[0] += 1
        case(**kwargs)

    return counted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the default case counts")
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--budget", type=float, default=1800.0, help="seconds for the whole run")
    options = parser.parse_args()

    loader = FixtureLoader()
    seed_document = loader.load_files([Path(__file__).resolve().parent.parent / "fixtures" / "acme.json"])
    store = Store(copy.deepcopy(seed_document))
    caller = AsgiCaller(create_app(store, ServerOptions(admin_token=t.ADMIN_TOKEN)))
    workdir = Path(tempfile.mkdtemp(prefix="hostile-fuzz-"))
    outcomes: dict[str, int] = {}
    statuses: dict[str, dict[int, int]] = {}

    def note(surface: str, status: int) -> None:
        counts = statuses.setdefault(surface, {})
        counts[status] = counts.get(status, 0) + 1

    def fixtures_case(raw: bytes) -> None:
        outcome = check_fixture_bytes(loader, raw, workdir / "mutated.json")
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    def patch_case(version: str, body: bytes) -> None:
        status, headers, answer = caller.request("PATCH", user_url(JANE, version=version),
                                                 headers=[t.USER_AUTH, t.JSON_TYPE], body=body)
        assert_json_answer(status, headers, answer, f"PATCH {version} {body[:200]!r}")
        note("patch", status)
        if status == 200:
            store.reset()

    def admin_case(method: str, body: bytes) -> None:
        status, headers, answer = caller.request(method, "/__admin/fixtures", headers=[t.ADMIN_AUTH, t.JSON_TYPE], body=body)
        assert_json_answer(status, headers, answer, f"{method} /__admin/fixtures {body[:200]!r}")
        note("admin", status)
        if status == 200:
            t.restore(caller, store)

    def query_case(target, query, extra, authorized) -> None:
        method, path = target
        auth = [t.ADMIN_AUTH if path.startswith("/__admin") else t.USER_AUTH] if authorized else []
        body = b'{"nickname": "n"}' if method == "PATCH" else b""
        status, headers, answer = caller.request(method, path, query=query,
                                                 headers=[*auth, *extra, *([t.JSON_TYPE] if body else [])], body=body)
        assert_json_answer(status, headers, answer, f"{method} {path}?{query!r} {extra!r}")
        note("query_headers", status)
        if status < 300 and method != "GET":
            store.reset()

    strategies = {
        "fixtures": (fixtures_case, {"raw": mutated_fixture()}),
        "patch": (patch_case, {"version": st.sampled_from(["v1", "v2"]), "body": json_text()}),
        "admin": (admin_case, {"method": st.sampled_from(["PUT", "POST"]), "body": json_text()}),
        "query_headers": (query_case, {
            "target": st.sampled_from(t.TARGETS), "query": t.query_strings(),
            "extra": st.lists(st.tuples(st.sampled_from(t.HEADER_NAMES), t.any_bytes), max_size=3),
            "authorized": st.booleans()}),
    }
    started = time.perf_counter()
    total = 0
    failed = False
    for index, (surface, default_count) in enumerate(SURFACES.items()):
        wanted = int(default_count * options.scale)
        share = sum(list(SURFACES.values())[: index + 1]) / sum(SURFACES.values())
        deadline = started + options.budget * share  # each surface's share of the time, by its case count
        case, given_kwargs = strategies[surface]
        done, batch_number, surface_start = 0, 0, time.perf_counter()
        while done < wanted and time.perf_counter() < deadline:
            size = min(BATCH, wanted - done)
            counter = [0]

            counted = _counting(case, counter)

            runner = settings(max_examples=size, database=None, deadline=None, phases=[Phase.generate],
                              suppress_health_check=list(HealthCheck))(
                given(**given_kwargs)(counted))
            from hypothesis import seed as hypothesis_seed

            try:
                hypothesis_seed(options.seed + 7919 * index + batch_number)(runner)()
            except Exception as err:  # noqa: BLE001 - report what was found, keep the figures
                print(f"FAILURE in {surface}: {type(err).__name__}: {str(err)[:2000]}")
                failed = True
            done += counter[0]
            batch_number += 1
            t.healthy(caller)  # healthy after every batch
        elapsed = time.perf_counter() - surface_start
        stopped = "" if done >= wanted else f" (stopped by the time budget, {wanted - done:,} not run)"
        print(f"{surface:14s} {done:>8,} cases in {elapsed:7.1f} s ({done / max(elapsed, 1e-9):6.0f}/s){stopped}")
        total += done
    print(f"{'total':14s} {total:>8,} cases in {time.perf_counter() - started:7.1f} s; "
          f"{'FAILURES found' if failed else 'nothing found'}")
    print(f"fixture outcomes: {json.dumps(outcomes, sort_keys=True)}")
    for surface, counts in statuses.items():
        print(f"{surface} statuses: {json.dumps(dict(sorted(counts.items())))}")
    caller.close()
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
