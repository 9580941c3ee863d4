"""The one durable, atomic file write: the state file, generated fixtures, recordings and reports.

:func:`write_atomic` writes a temporary file in the target's own folder (``.<name>.<random>.tmp``),
``fsync``s it, renames it over the target and ``fsync``s the folder, so a reader never sees half a
file and a crash (even ``kill -9``, even a power loss where the file system honours ``fsync``) at any
moment leaves either the old content or the new one. A failed write leaves no temporary behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

TEMP_SUFFIX = ".tmp"


def temp_prefix(path: str | os.PathLike) -> str:
    """How the temporary files of ``path`` start (they end with :data:`TEMP_SUFFIX`)."""
    return f".{Path(path).name}."


def write_atomic(path: str | os.PathLike, data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path``'s content with ``data``, atomically and durably; the new file gets ``mode``
    (0600 for a file that holds secrets). Raises OSError; the old file is then intact."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    fd, temp = tempfile.mkstemp(prefix=temp_prefix(target), suffix=TEMP_SUFFIX, dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    fsync_directory(directory)


def stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Temporary files of ``path`` that a crash left behind."""
    directory, prefix = Path(path).parent, temp_prefix(path)
    if not directory.is_dir():
        return []
    return sorted(entry for entry in directory.iterdir()
                  if entry.name.startswith(prefix) and entry.name.endswith(TEMP_SUFFIX))


def fsync_directory(directory: str | os.PathLike) -> None:
    """Make a rename in ``directory`` durable. Some platforms and file systems cannot open or sync a
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
