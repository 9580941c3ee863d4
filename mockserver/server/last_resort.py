"""The last resort: an exception nothing else handled is a logged 500 problem.

Connexion's own last handler cannot answer with this Starlette (it calls an async function as a
sync one and fails with a second error, ``'coroutine' object is not callable``, answering plain
text or nothing), and the middleware in front of Connexion's exception handling (journal, CORS,
admin API, delays) is not covered by Connexion's handlers at all. This layer sits outside all of
them (only Connexion's own last handler and the wrappers of the server are further out: see the one
pipeline, mockserver.app.pipeline), so every request gets a problem+json answer and the log gets one
error, with the traceback. A state backend out of reach (:class:`StoreUnavailable`, raised when a shared
Redis is down or restarting, wherever in the request path) is the one exception that is not a 500: it is
a 503 problem with ``Retry-After`` and one warning line, since the next request may find the backend back.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver.core.problems import send_problem
from mockserver.store.backend import StoreUnavailable

log = logging.getLogger("mockserver")
DETAIL = "the server failed to handle this request; the error is in its log"


class LastResort:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except StoreUnavailable as err:
            log.warning("%s %s: %s", scope.get("method"), scope.get("path"), err)
            if not started:
                await err.problem.send(send, head=scope.get("method") == "HEAD")
        except Exception:  # noqa: BLE001 - the point of this layer
            log.exception("unexpected error while handling %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await send_problem(send, 500, DETAIL)
            # Started: the status line is out; the connection ends with what was sent.
