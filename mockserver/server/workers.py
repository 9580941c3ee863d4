"""``--workers N``: N server processes answering on one listening socket, all on one shared state.

The parent binds the socket and builds the app (so the seed is loaded and the shared state seeded
once), then forks N-1 children; each process runs its own event loop on the inherited socket and
the kernel spreads connections between them. A child ends when the parent does (Linux: the
parent-death signal), and the parent stops its children (SIGTERM, then SIGKILL) when it stops.
Only a shared backend makes this correct: with the in-memory store every process would hold its
own copy of the state, so the CLI refuses ``--workers`` > 1 without ``--state redis://...``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time

PR_SET_PDEATHSIG = 1


def fork_workers(count: int) -> tuple[bool, list[int]]:
    """Fork ``count`` - 1 children: ``(False, their pids)`` in the parent, ``(True, [])`` in a child."""
    children: list[int] = []
    for _ in range(count - 1):
        pid = os.fork()
        if pid == 0:
            if sys.platform.startswith("linux"):
                with contextlib.suppress(OSError, AttributeError):
                    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() == 1:  # the parent is already gone
                os._exit(0)
            return True, []
        children.append(pid)
    return False, children


def stop_workers(children: list[int], timeout: float = 10.0) -> None:
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for pid in children:
        while True:
            with contextlib.suppress(ChildProcessError):
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done == 0 and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                if done == 0:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
            break
