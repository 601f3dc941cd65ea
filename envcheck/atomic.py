"""Writing a file so that readers see the old content or the new, never a part, and never through a link.

``write_bytes`` creates a temporary file exclusively (``O_CREAT | O_EXCL | O_NOFOLLOW``, a random name) in the
destination's folder, writes and flushes it to disk, then renames it over the destination with ``os.replace``.
So:

* a reader (or a concurrent writer) never sees a missing, empty or half-written file at the destination;
* a name planted in advance (a link where a temporary file would go) cannot redirect the write: creation with
  ``O_EXCL`` fails on any existing name, a dangling link included, and another random name is tried;
* a failed write (disk full, file-size limit, read-only folder) leaves the old file as it was and removes the
  temporary file.

The new file gets the permission bits of the file it replaces, else the usual ``0o666`` less the umask.

A destination that is a link is followed, as writing to it always did: the file it points to is replaced (the
link stays a link). A destination that is not a regular file — a device (``-o /dev/null``), a FIFO or a pipe
(``-o /dev/stdout``, ``-o >(cmd)``) — cannot be replaced and is not meant to be: it is written through, opened
without ``O_CREAT``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path
from typing import Tuple, Union

from envcheck.errors import WriteError

#: Attempts at a fresh temporary name before giving up (each collides only if the name already exists).
_ATTEMPTS = 100


def _reason(e: OSError) -> str:
    return e.strerror or type(e).__name__


def _create_temporary(folder: str, name: str) -> Tuple[int, str]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(_ATTEMPTS):
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(8)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"no free temporary name after {_ATTEMPTS} attempts")


def write_bytes(path: Union[str, Path], data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically; raises ``WriteError`` (one line) and leaves no temporary file.

    ``path`` naming a directory is an error, not a write into it.
    """
    shown = os.fspath(path)
    if not os.path.split(shown)[1] or os.path.isdir(shown):
        raise WriteError(f"{shown}: is a directory; name a file to write")
    try:
        existing = os.stat(shown)  # through a link: what the link names is what gets written
    except OSError:
        existing = None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        _write_through(shown, data)
        return
    mode = stat.S_IMODE(existing.st_mode) if existing is not None else None
    target = os.path.realpath(shown) if os.path.islink(shown) else shown
    folder, name = os.path.split(target)
    folder = folder or "."
    try:
        fd, tmp = _create_temporary(folder, name)
    except OSError as e:
        raise WriteError(f"{shown}: cannot write ({_reason(e)})") from e
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if mode is not None:
                os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise WriteError(f"{shown}: cannot write ({_reason(e)}); the old file, if any, is unchanged") from e
        raise


def _write_through(shown: str, data: bytes) -> None:
    """Write into a device, FIFO or pipe that exists already: nothing to replace, nothing created."""
    flags = os.O_WRONLY | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(shown, flags)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    except OSError as e:
        raise WriteError(f"{shown}: cannot write ({_reason(e)})") from e


def write_text(path: Union[str, Path], text: str) -> None:
    """``write_bytes`` of ``text`` as UTF-8."""
    write_bytes(path, text.encode("utf-8"))
