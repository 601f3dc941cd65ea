"""Model files: size and SHA-256 of each file given, or of every file under a folder given.

Only regular files are read (a FIFO or device is never opened for reading, so it cannot block), and a file
whose name is not valid UTF-8 is an error naming it: a lockfile records names as UTF-8 text, and a name it could
not record is a model file it could not check again.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Iterable, List, Tuple, Union

from envcheck.errors import EnvcheckError
from envcheck.model import ModelFile

CHUNK = 1 << 20


class ModelPathError(EnvcheckError):
    """A model path that does not exist or cannot be read."""


def sha256_file(path: Union[str, Path]) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ModelPathError(f"{path}: not a regular file")
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def _recordable(shown: str) -> str:
    """``shown`` when a lockfile can record it (UTF-8 text); else a ``ModelPathError`` naming it."""
    try:
        shown.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ModelPathError(
            f"{shown}: file name is not valid UTF-8 (a lockfile cannot record it); rename it"
        ) from e
    return shown


def _files(given: str) -> List[Tuple[str, Path]]:
    path = Path(given)
    if path.is_file():
        return [(_recordable(given), path)]
    if path.is_dir():
        out = []
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for name in sorted(filenames):
                full = Path(dirpath, name)
                if full.is_file():
                    out.append((_recordable((path / full.relative_to(path)).as_posix()), full))
        return out
    if not path.exists():
        raise ModelPathError(f"{given}: no such model file or folder")
    raise ModelPathError(f"{given}: not a regular file or folder")


def digest_models(paths: Iterable[str]) -> Tuple[ModelFile, ...]:
    """One ``ModelFile`` per file, sorted by path; raises ``ModelPathError`` for a missing or unreadable path."""
    found = {}
    for given in paths:
        for shown, full in _files(given):
            try:
                found[shown] = ModelFile(path=shown, size=full.stat().st_size, sha256=sha256_file(full))
            except OSError as e:
                raise ModelPathError(f"{full}: cannot read ({e.strerror})") from e
    return tuple(found[k] for k in sorted(found))
