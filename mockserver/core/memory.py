"""Memory helpers for loading large documents."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection while a large document is parsed or indexed: it allocates
    millions of containers and none of them is garbage, yet each collection walks them all (half
    of a 100,000-user fixture's parse time). Reference counting still frees what is dropped."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
