"""``--watch``: reload the fixture files when they change.

A daemon thread polls the files' modification time, size and inode (standard library only: one
``stat`` per file per interval costs nothing, and a notification library would be a new dependency
for no gain at this scale). When any of them changes, every file is read and validated again, as at
start-up. Valid: the files become the seed and the state (sessions restart from it). Invalid: the
problems are printed on stderr and kept for ``GET /__admin/status``, and the server keeps serving
the last good state; the next change is tried again.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from mockserver.fixtures.document import FixtureError

DEFAULT_INTERVAL_SECONDS = 1.0

Signature = tuple[tuple[int, int, int] | None, ...]


def signature(paths: Sequence[Path]) -> Signature:
    out = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append(None)  # missing for now: a change too, reported when it is read
            continue
        out.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


class FixtureWatcher:
    """Polls ``paths`` every ``interval`` seconds; ``check()`` does one poll (tests call it directly)."""

    def __init__(self, paths: Sequence[str | os.PathLike], control, *, interval: float = DEFAULT_INTERVAL_SECONDS,
                 echo: Callable[[str], None] | None = None):
        self.paths = [Path(p) for p in paths]
        self.control = control
        self.interval = interval
        self.echo = echo or (lambda text: print(text, file=sys.stderr, flush=True))
        self._seen = signature(self.paths)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        control.watching = [str(p) for p in self.paths]

    def start(self) -> FixtureWatcher:
        self._thread = threading.Thread(target=self._run, name="fixture-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception as err:  # never let the watcher die silently
                self.echo(f"mockserver: --watch: unexpected error: {err!r}")

    def check(self) -> bool | None:
        """Reload if the files changed: True reloaded, False invalid (kept the last good state),
        None nothing changed."""
        current = signature(self.paths)
        if current == self._seen:
            return None
        self._seen = current
        names = ", ".join(str(p) for p in self.paths)
        try:
            document = self.control.loader.load_files(self.paths)
        except FixtureError as err:
            self.control.report_reload_error(names, err.problems)
            self.echo(f"mockserver: --watch: not reloaded, still serving the last good fixtures: {err.render()}")
            return False
        self.control.replace_seed(document, f"--watch reload of {names}")
        customers = self.control.store.customers()
        self.echo(f"mockserver: --watch: reloaded {names} "
                  f"({len(customers)} customers, {sum(c['users'] for c in customers)} users)")
        return True
