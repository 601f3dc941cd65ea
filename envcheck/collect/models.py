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
from typing import Iterable, List, Optional, Sequence, Tuple, Union

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


def recorded_path(shown: str, base: Optional[str]) -> str:
    """How a model file named ``shown`` (as given: relative to the working directory, or absolute) is recorded
    for a lockfile in folder ``base``: relative to ``base``, so that ``check`` finds it from any working
    directory and the two move together; an absolute path outside ``base`` (a mount such as ``/models``, which
    stays where it is when the lockfile moves) is kept as given. ``base`` None: as given."""
    if base is None:
        return shown
    folder = os.path.abspath(base)
    full = os.path.abspath(shown)
    inside = os.path.commonpath([folder, full]) == folder
    if os.path.isabs(shown) and not inside:
        return shown
    return Path(os.path.relpath(full, folder)).as_posix()


def digest_models(paths: Iterable[str], base: Optional[str] = None) -> Tuple[ModelFile, ...]:
    """One ``ModelFile`` per file, sorted by path; raises ``ModelPathError`` for a missing or unreadable path.

    Paths are given relative to the working directory (or absolute) and recorded as ``recorded_path`` says for
    a lockfile in folder ``base``."""
    found = {}
    for given in paths:
        for shown, full in _files(given):
            name = recorded_path(shown, base)
            try:
                found[name] = ModelFile(path=name, size=full.stat().st_size, sha256=sha256_file(full))
            except OSError as e:
                raise ModelPathError(f"{full}: cannot read ({e.strerror})") from e
    return tuple(found[k] for k in sorted(found))


def resolve_recorded(path: str, bases: Sequence[str]) -> Optional[Path]:
    """The file a recorded model path names: itself when absolute, else the first of ``bases`` (folders) that
    holds it as a file; None when none does."""
    if os.path.isabs(path):
        return Path(path) if Path(path).is_file() else None
    for base in bases:
        candidate = Path(base, path)
        if candidate.is_file():
            return candidate
    return None


def rehash_models(recorded: Iterable[str], bases: Sequence[str]) -> Tuple[ModelFile, ...]:
    """The recorded model files hashed again where they resolve (``resolve_recorded``), under their recorded
    names so that they compare with the lockfile's; those that resolve nowhere are left out (missing)."""
    out = []
    for path in recorded:
        full = resolve_recorded(path, bases)
        if full is None:
            continue
        try:
            out.append(ModelFile(path=path, size=full.stat().st_size, sha256=sha256_file(full)))
        except OSError as e:
            raise ModelPathError(f"{full}: cannot read ({e.strerror})") from e
    return tuple(sorted(out, key=lambda m: m.path))
