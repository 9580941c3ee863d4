"""Opt-in durability: ``mockserver --state-file FILE``.

The state file is a fixture document (the store's ``snapshot()``), so it is read and validated
exactly like a ``--seed`` file. The rules:

- At start-up, if FILE exists it becomes the current state (it takes precedence over ``--seed``);
  the ``--seed`` files stay the seed, so a reset still goes back to them. An invalid FILE stops the
  server (exit 2) with every problem listed, like a bad fixture. If FILE does not exist, it is
  written at once with the seed, so an unwritable location fails at start-up, not on the first write.
- Every change of the state (a PATCH, a DELETE, a reset, a reload) is written before the request is
  answered: the store calls :meth:`StateFile.save` under its lock, so the file's writes happen in
  the order the changes were acknowledged.
- Each write is atomic: a temporary file in the same directory, ``fsync``, ``rename`` over FILE,
  ``fsync`` of the directory. A crash (even ``kill -9``) at any moment leaves FILE holding either
  the state before or the state after the write in progress, never a mix. A temporary file a crash
  left behind is removed at the next start.

Each write rewrites the whole state: the cost of a write grows with the size of the fixtures
(fine for hand-written fixtures; slow for files of tens of megabytes). Standard library only.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from mockserver.fixtures import FixtureLoader
from mockserver.store import Store

TEMP_SUFFIX = ".tmp"


class StateFileError(Exception):
    """The state file cannot be written; ``str(err)`` is one readable line."""


class StateFile:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).absolute()
        self.directory = self.path.parent
        self._temp_prefix = f".{self.path.name}."
        self.writes = 0

    # -- reading -----------------------------------------------------------------------------

    def load(self, loader: FixtureLoader | None = None) -> dict[str, Any] | None:
        """The saved state, validated like a fixture file; None when there is no file yet.
        Raises :class:`mockserver.fixtures.FixtureError` when it is invalid."""
        if not self.path.exists():
            return None
        return (loader or FixtureLoader()).load_files([self.path])

    def stale_temporaries(self) -> list[Path]:
        """Temporary files of this state file that a crash left behind."""
        if not self.directory.is_dir():
            return []
        return sorted(
            entry
            for entry in self.directory.iterdir()
            if entry.name.startswith(self._temp_prefix) and entry.name.endswith(TEMP_SUFFIX)
        )

    # -- writing -----------------------------------------------------------------------------

    def write(self, document: dict[str, Any]) -> None:
        """Replace the file's content with ``document``, atomically and durably."""
        data = json.dumps(document, separators=(",", ":")).encode("utf-8") + b"\n"  # compact: the C encoder
        try:
            fd, temp_name = tempfile.mkstemp(prefix=self._temp_prefix, suffix=TEMP_SUFFIX, dir=self.directory)
        except OSError as err:
            raise StateFileError(f"cannot write the state file {self.path}: {err.strerror or err}") from None
        try:
            with os.fdopen(fd, "wb") as temp:
                temp.write(data)
                temp.flush()
                os.fsync(temp.fileno())
            os.replace(temp_name, self.path)
        except OSError as err:
            try:
                os.unlink(temp_name)
            except OSError:
                pass
            raise StateFileError(f"cannot write the state file {self.path}: {err.strerror or err}") from None
        _fsync_directory(self.directory)
        self.writes += 1

    def save(self, store: Store) -> None:
        """Write the store's current state (the store's ``on_change`` hook)."""
        self.write(store.snapshot())

    # -- wiring ------------------------------------------------------------------------------

    def attach(self, store: Store, loader: FixtureLoader | None = None) -> bool:
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
        store.on_change = self.save
        return document is not None


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable. Some platforms and file systems cannot open or sync a
    directory; there the rename is as durable as the file system makes it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
