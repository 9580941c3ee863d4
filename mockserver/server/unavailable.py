"""The one place a request meets a state backend that cannot be reached: :class:`StoreUnavailable`
(raised by :mod:`mockserver.store.redis_backend` when Redis is down or restarting) becomes a 503
problem with ``Retry-After``, wherever in the request path it was raised (the session lookup, the
bearer-token lookup, a handler). Sits just inside :class:`mockserver.server.last_resort.LastResort`;
inside Connexion's exception layer, :func:`connexion_handler` gives the same answer. Nothing is logged with a
traceback: the backend's outage is the whole story, and the next request may find it back."""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mockserver.store.backend import StoreUnavailable

log = logging.getLogger("mockserver")


class AnswerUnavailable:
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


async def connexion_handler(_request, exc: StoreUnavailable):
    """Connexion's handler for :class:`StoreUnavailable` raised inside its layers (the same answer)."""
    log.warning("%s", exc)
    return exc.problem.connexion_response()
