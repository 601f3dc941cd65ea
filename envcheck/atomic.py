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
    folder, name = os.path.split(shown)
    folder = folder or "."
    if not name or os.path.isdir(shown):
        raise WriteError(f"{shown}: is a directory; name a file to write")
    try:
        mode = stat.S_IMODE(os.stat(shown).st_mode)
    except OSError:
        mode = None
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
        os.replace(tmp, shown)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise WriteError(f"{shown}: cannot write ({_reason(e)}); the old file, if any, is unchanged") from e
        raise


def write_text(path: Union[str, Path], text: str) -> None:
    """``write_bytes`` of ``text`` as UTF-8."""
    write_bytes(path, text.encode("utf-8"))
