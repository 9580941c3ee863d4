"""``done/total`` progress of a remote run on stderr (record's users, drift's requests)."""

from __future__ import annotations

from typing import IO

# Below this many items no progress lines are printed (a terminal still gets a bar).
PROGRESS_MIN_TOTAL = 100


class Progress:
    """``done/total`` on stderr: a rich bar on a terminal, else a plain line every tenth."""

    def __init__(self, err: IO[str], what: str, total: int, *, bar: bool | None = None, prefix: str = "record"):
        self.err, self.what, self.total, self.prefix = err, what, total, prefix
        self.done = 0
        self._step = max(1, total // 10)
        self._bar = None
        use_bar = bar if bar is not None else bool(getattr(err, "isatty", lambda: False)())
        if use_bar and total:
            from rich.console import Console
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(console=Console(file=err), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(f"{prefix}: {what}", total=total)
        elif total >= PROGRESS_MIN_TOTAL:
            self.err.write(f"{prefix}: 0/{total} {what}\n")
            self.err.flush()

    def advance(self) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.advance(self._task)
        elif self.total >= PROGRESS_MIN_TOTAL and (self.done % self._step == 0 or self.done == self.total):
            self.err.write(f"{self.prefix}: {self.done}/{self.total} {self.what}\n")
            self.err.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


class PhaseProgress:
    """A run of phases (contract's) on stderr: a Rich status line on a terminal, else one plain line
    per phase when it ends (what a CI log keeps)."""

    def __init__(self, err: IO[str], *, prefix: str = "contract", bar: bool | None = None):
        import time

        self.err, self.prefix, self._clock = err, prefix, time.monotonic
        self._status = None
        self._phase, self._requests, self._started = "", 0, 0.0
        use_bar = bar if bar is not None else bool(getattr(err, "isatty", lambda: False)())
        if use_bar:
            from rich.console import Console

            self._status = Console(file=err).status(f"{prefix}: starting")
            self._status.start()

    def started(self, phase: str) -> None:
        self._phase, self._requests, self._started = phase, 0, self._clock()
        self._show()

    def sent(self, requests: int) -> None:
        self._requests += requests
        self._show()

    def finished(self, note: str = "") -> None:
        if not self._phase:
            return
        line = (f"{self.prefix}: {self._phase}: {self._requests} request(s) in {self._clock() - self._started:.1f} s"
                + (f" ({note})" if note else ""))
        if self._status is not None:
            self._status.console.print(line, highlight=False)
        else:
            self.err.write(line + "\n")
            self.err.flush()
        self._phase = ""

    def _show(self) -> None:
        if self._status is not None:
            self._status.update(f"{self.prefix}: {self._phase}: {self._requests} request(s)")

    def close(self) -> None:
        self.finished()
        if self._status is not None:
            self._status.stop()
            self._status = None
