"""A state backend that cannot be reached, inside Connexion's exception layer: :class:`StoreUnavailable`
(raised by :mod:`mockserver.store.redis_backend` when Redis is down or restarting) becomes the same 503
problem with ``Retry-After`` that :class:`mockserver.server.last_resort.LastResort` answers for the layers
outside Connexion's. Nothing is logged with a traceback: the backend's outage is the whole story."""

from __future__ import annotations

import logging

from mockserver.store.backend import StoreUnavailable

log = logging.getLogger("mockserver")


async def connexion_handler(_request, exc: StoreUnavailable):
    """Connexion's handler for :class:`StoreUnavailable` raised inside its layers (the same answer)."""
    log.warning("%s", exc)
    return exc.problem.connexion_response()
