"""Opt-in durability: ``mockserver --state-file FILE``.

The state file is a fixture document (the store's ``snapshot()``), so it is read and validated
exactly like a ``--seed`` file. The rules:

- At start-up, if FILE exists it becomes the current state (it takes precedence over ``--seed``);
  the ``--seed`` files stay the seed, so a reset still goes back to them. An invalid FILE stops the
  server (exit 2) with every problem listed, like a bad fixture. If FILE does not exist, it is
  written at once with the seed, so an unwritable location fails at start-up, not on the first write.
- Every change of the state (a PATCH, a DELETE, a reset, a reload) is written before the request is
  answered. The server attaches the file ``deferred``: under its lock the store only takes a view
  of the new state (records are shared, not copied); encoding and ``fsync`` happen on a worker
  thread while the event loop goes on answering other requests, and :class:`DurableAnswers` holds
  the answer of a request that changed the state until the file holds that state (or a newer one).
  Writes are serialised and always write the newest state, so the file never goes back in time.
  Without ``deferred`` (tests, scripts) every change is written synchronously under the lock.
- Each write is atomic: a temporary file in the same directory, ``fsync``, ``rename`` over FILE,
  ``fsync`` of the directory. A crash (even ``kill -9``) at any moment leaves FILE holding either
  the state before or the state after the write in progress, never a mix. A temporary file a crash
  left behind is removed at the next start.

Each write rewrites the whole state: the cost of a write grows with the size of the fixtures
(fine for hand-written fixtures; slow for files of tens of megabytes). Standard library only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from mockserver.core.files import stale_temporaries, write_atomic
from mockserver.core.problems import send_problem
from mockserver.fixtures.document import FixtureLoader
from mockserver.store.memory import Store

log = logging.getLogger("mockserver.store.persistence")


class StateFileError(Exception):
    """The state file cannot be written; ``str(err)`` is one readable line."""


class StateFile:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).absolute()
        self.directory = self.path.parent
        self.writes = 0
        # Deferred mode: the newest state not yet written, its change number, and the last written.
        self._pending: dict[str, Any] | None = None
        self._changes = 0
        self._durable = 0
        self._pending_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._last_error: StateFileError | None = None

    # -- reading -----------------------------------------------------------------------------

    def load(self, loader: FixtureLoader | None = None) -> dict[str, Any] | None:
        """The saved state, validated like a fixture file; None when there is no file yet.
        Raises :class:`mockserver.fixtures.document.FixtureError` when it is invalid."""
        if not self.path.exists():
            return None
        return (loader or FixtureLoader()).load_files([self.path])

    def stale_temporaries(self) -> list[Path]:
        """Temporary files of this state file that a crash left behind."""
        return stale_temporaries(self.path)

    # -- writing -----------------------------------------------------------------------------

    def write(self, document: dict[str, Any]) -> None:
        """Replace the file's content with ``document``, atomically and durably."""
        data = json.dumps(document, separators=(",", ":")).encode("utf-8") + b"\n"  # compact: the C encoder
        try:
            write_atomic(self.path, data, mode=0o600)  # the file holds the tokens
        except OSError as err:
            raise StateFileError(f"cannot write the state file {self.path}: {err.strerror or err}") from None
        self.writes += 1

    def save(self, store: Store) -> None:
        """Write the store's current state (the store's ``on_change`` hook)."""
        self.write(store.snapshot())

    # -- wiring ------------------------------------------------------------------------------

    # -- deferred writes ---------------------------------------------------------------------

    def _capture(self, store: Store) -> None:
        """The store's ``on_change`` hook in deferred mode: cheap, under the store's lock."""
        view = store.state_view()
        with self._pending_lock:
            self._changes += 1
            self._pending = view
        self._wake.set()

    @property
    def changes(self) -> int:
        """How many changes the store has made since attach."""
        return self._changes

    def unsaved_since(self, changes: int) -> bool:
        """True when a change made after the ``changes``-th has not reached the file yet."""
        return self._changes > changes and self._durable < self._changes

    def flush(self) -> None:
        """Block until every change made before this call is in the file. Raises
        :class:`StateFileError` when the newest state could not be written (it stays pending, so
        the next flush tries again)."""
        with self._pending_lock:
            wanted = self._changes
        with self._write_lock:
            if self._durable >= wanted:
                return
            with self._pending_lock:
                document, number, self._pending = self._pending, self._changes, None
            if document is None:  # a failed write left nothing newer: report it
                raise self._last_error or StateFileError(f"cannot write the state file {self.path}")
            try:
                self.write(document)
            except StateFileError as err:
                with self._pending_lock:
                    if self._pending is None:
                        self._pending = document
                self._last_error = err
                raise
            self._durable = number

    def _flush_in_background(self) -> None:
        """Writes changes nobody waits for (a ``--watch`` reload) soon after they happen."""
        while True:
            self._wake.wait()
            self._wake.clear()
            try:
                self.flush()
            except StateFileError as err:
                log.error("%s", err)

    def attach(self, store: Store, loader: FixtureLoader | None = None, *, deferred: bool = False) -> bool:
        """Resume ``store`` from the file (if there is one), then save every change it makes.

        Returns True when the state was resumed from the file, False when the file was created
        from the store's current state. Raises ``FixtureError`` (invalid file) or
        :class:`StateFileError` (cannot write), before anything is changed in the store."""
        for stale in self.stale_temporaries():
            try:
                stale.unlink()
            except OSError:
                pass
        document = self.load(loader)
        if document is None:
            self.save(store)
        else:
            store.restore(document)
        if deferred:
            store.on_change = self._capture
            threading.Thread(target=self._flush_in_background, name="state-file", daemon=True).start()
        else:
            store.on_change = self.save
        return document is not None


class DurableAnswers:
    """ASGI wrapper of the whole server for a deferred :class:`StateFile`: an answer that follows a
    change of the state is sent only once the file holds it, and the wait happens on a worker
    thread, so the event loop keeps answering other requests meanwhile. A request during which
    the state did not change does not wait; so a read may show a change a moment before that
    change's own answer is sent (a change killed in that moment was never acknowledged). If the state cannot be
    written, the client gets a 500 problem saying so instead of the answer (the change is kept in
    memory and written with the next one)."""

    def __init__(self, app, state: StateFile):
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replaced = False
        before = self.state.changes  # a request that changed nothing does not wait for other writers

        async def durable_send(message) -> None:
            nonlocal replaced
            if replaced:
                return
            if message["type"] == "http.response.start" and self.state.unsaved_since(before):
                try:
                    await asyncio.to_thread(self.state.flush)
                except StateFileError as err:
                    log.error("%s", err)
                    replaced = True
                    await send_problem(send, 500, "the change was made but could not be saved to the state file; "
                                                  "see the server's log")
                    return
            await send(message)

        await self.app(scope, receive, durable_send)
