"""Model files: size and SHA-256 of each file given, or of every file under a folder given."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable, List, Tuple, Union

from envcheck.model import ModelFile

CHUNK = 1 << 20


class ModelPathError(Exception):
    """A model path that does not exist or cannot be read."""


def sha256_file(path: Union[str, Path]) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def _files(given: str) -> List[Tuple[str, Path]]:
    path = Path(given)
    if path.is_file():
        return [(given, path)]
    if path.is_dir():
        out = []
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for name in sorted(filenames):
                full = Path(dirpath, name)
                if full.is_file():
                    out.append(((path / full.relative_to(path)).as_posix(), full))
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
