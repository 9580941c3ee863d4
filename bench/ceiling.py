#!/usr/bin/env python3
"""The bare-Flask ceiling: the most a Flask app can answer on this machine through the mock's own
serving path, with nothing in between.

A Flask app with the three routes the benchmark calls (GET by id, list, PATCH), behind the mock's
:class:`mockserver.server.hotpath.InlineWSGI` bridge on uvicorn with httptools, answering the JSON the
fake itself renders for the seed (rendered once at start). No spec, no validation, no auth, no
middleware, no state: whatever ours costs above this is what the contract, the state and the
front-end features cost.

    python bench/ceiling.py --port 8081 --seed fixtures/acme.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import flask
import uvicorn

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from mockserver.fixtures.document import FixtureLoader  # noqa: E402
from mockserver.server.hotpath import InlineWSGI  # noqa: E402
from mockserver.store.memory import Store  # noqa: E402

BASE = "/api/v1/customers/<customer_id>/users"


def ceiling_app(seed: Path) -> flask.Flask:
    store = Store(FixtureLoader().load_files([seed]), take_ownership=True)
    users = {c["_id"]: {u["_id"]: json.dumps(u, separators=(",", ":"), ensure_ascii=False).encode()
                        for u in store.list_users(c["_id"])} for c in store.customers()}
    lists = {cid: b"[" + b",".join(rendered.values()) + b"]" for cid, rendered in users.items()}
    app = flask.Flask("ceiling")

    def answer(body: bytes) -> flask.Response:
        return flask.Response(body, status=200, mimetype="application/json")

    @app.get(BASE)
    def list_users(customer_id: str):
        return answer(lists[customer_id])

    @app.get(f"{BASE}/<user_id>")
    def get_user(customer_id: str, user_id: str):
        return answer(users[customer_id][user_id])

    @app.patch(f"{BASE}/<user_id>")
    def update_user(customer_id: str, user_id: str):
        flask.request.get_json()  # read the body as a handler would; the answer stays the seed's
        return answer(users[customer_id][user_id])

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seed", type=Path, default=REPO / "fixtures/acme.json")
    args = parser.parse_args(argv)
    app = ceiling_app(args.seed)
    asgi = InlineWSGI(app.wsgi_app, fallback=None)
    uvicorn.run(asgi, host="127.0.0.1", port=args.port, http="httptools", lifespan="off", log_level="warning",
                access_log=False, server_header=False)


if __name__ == "__main__":
    main()
