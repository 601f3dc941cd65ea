"""Parsing a distribution's RECORD (``path,hash,size`` rows) into what can be verified, pure.

A RECORD comes from whoever built or installed the distribution, and is not trusted: a row whose path is
absolute, holds a NUL, or climbs out of the site folder is never followed. A relative row that climbs out (``../../
bin/f2py``: a console script) is counted as outside and not verified; any other such row is kept as unsafe, with
why. Rows without a hash are not hashed, as pip does: RECORD itself, its signatures (``RECORD.jws``,
``RECORD.p7s``), and ``.pyc`` files, which Python compiles at install time. A ``.pyc`` under ``__pycache__`` is
never judged, hashed or not: it is generated and regenerated.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import posixpath
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

#: Hash algorithms a RECORD may use (PEP 376 and the wheel spec forbid md5 and sha1).
ALGORITHMS = frozenset(
    ["sha224", "sha256", "sha384", "sha512", "sha3_224", "sha3_256", "sha3_384", "sha3_512", "blake2b", "blake2s"]
)
#: Rows read from one RECORD at most; beyond it the rest is not verified, and the result says so.
MAX_ROWS = 500_000
#: Characters of a hostile path quoted in a note.
_QUOTED = 120


@dataclass(frozen=True)
class Row:
    """A RECORD row that names a file inside the site folder."""

    # one per installed file, kept by a sidecar for its lifetime: no __dict__ each (dataclass(slots=) is 3.10+)
    __slots__ = ("algorithm", "digest", "path", "size")

    path: str
    """Normalised, relative to the site folder (``numpy/__init__.py``)."""
    algorithm: str
    """``sha256``...; empty for a row without a hash (its file is checked to exist, not hashed)."""
    digest: str
    """As RECORD writes it: urlsafe base64 without padding; empty without a hash."""
    size: Optional[int]
    """The size RECORD gives, when it gives one."""


@dataclass(frozen=True)
class Record:
    """One RECORD, parsed."""

    rows: Tuple[Row, ...]
    """Every row to verify: hashed rows are hashed, the rest checked to exist."""
    outside: int = 0
    """Relative rows that leave the site folder (scripts in ``bin``): not verified."""
    unsafe: Tuple[str, ...] = ()
    """``"path: why"`` for each row refused (absolute, NUL, unknown or malformed hash, unreadable row)."""
    cut: bool = False
    """More than ``MAX_ROWS`` rows: the rest were not read."""


def _shown(path: str) -> str:
    text = path.encode("unicode_escape").decode("ascii")
    return text if len(text) <= _QUOTED else text[: _QUOTED - 3] + "..."


def normalise(path: str) -> Tuple[Optional[str], str]:
    """(the path relative to the site folder, "") or (None, why not): ``outside`` for a relative path that climbs
    out, else the reason it is unsafe."""
    if not path:
        return None, "empty path"
    if "\x00" in path:
        return None, "a NUL in the path"
    if path[0] in "/\\" or (len(path) > 1 and path[1] == ":"):
        return None, "an absolute path"
    if "/." not in "/" + path and "//" not in path and not path.endswith("/"):
        return path, ""  # already normal: no ".", "..", empty part or trailing slash (most rows)
    norm = posixpath.normpath(path)
    if norm == ".." or norm.startswith("../"):
        return None, "outside"
    if norm in (".", ""):
        return None, "names the site folder itself"
    return norm, ""


def _encoded_length(algorithm: str) -> int:
    return (hashlib.new(algorithm).digest_size * 4 + 2) // 3


#: Characters of an unpadded urlsafe base64 digest, by algorithm.
_LENGTHS = {a: _encoded_length(a) for a in ALGORITHMS}
_B64 = re.compile(r"[A-Za-z0-9_-]+")
_ONE = {a: a for a in ALGORITHMS}


def parse_hash(value: str) -> Tuple[str, str]:
    """(algorithm, digest as urlsafe base64 without padding) of ``sha256=<...>``; raises ValueError."""
    algorithm, sep, encoded = value.partition("=")
    if not sep or algorithm not in ALGORITHMS:
        raise ValueError(f"unsupported hash {_shown(algorithm)!r}")
    encoded = encoded.rstrip("=")
    if len(encoded) != _LENGTHS[algorithm] or not _B64.fullmatch(encoded):
        raise ValueError(f"a {algorithm} hash that is not {_LENGTHS[algorithm]} characters of urlsafe base64")
    return _ONE[algorithm], encoded  # one string per algorithm, not one per row: the sidecar keeps the rows


def encode(digest: bytes) -> str:
    """A digest as RECORD writes it: urlsafe base64 without padding."""
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def is_generated(path: str) -> bool:
    """Whether a file is generated at install time and never judged: a ``.pyc`` under ``__pycache__``."""
    return path.endswith(".pyc") and "/__pycache__/" in "/" + path


def _fields(line: str) -> List[str]:
    if '"' not in line:  # the common case: no quoting, the path may not hold a comma
        return line.rsplit(",", 2)
    try:
        return next(csv.reader([line], strict=True))
    except (csv.Error, StopIteration) as e:
        raise ValueError("a malformed CSV row") from e


def parse_record(text: str, max_rows: int = MAX_ROWS) -> Record:
    """Parse a RECORD's text (``str.splitlines``: any line ending)."""
    rows: List[Row] = []
    unsafe: List[str] = []
    outside = 0
    seen = set()
    for count, line in enumerate(text.splitlines()):
        if count >= max_rows:
            return Record(tuple(rows), outside, tuple(unsafe), cut=True)
        if not line.strip():
            continue
        try:
            fields = _fields(line)
        except ValueError as e:
            unsafe.append(f"{_shown(line)}: {e}")
            continue
        raw = fields[0]
        path, why = normalise(raw)
        if path is None:
            if why == "outside":
                outside += 1
            else:
                unsafe.append(f"{_shown(raw)}: {why}")
            continue
        if path in seen or is_generated(path):
            continue
        hash_text = fields[1].strip() if len(fields) > 1 else ""
        size_text = fields[2].strip() if len(fields) > 2 else ""
        algorithm, digest = "", ""
        if hash_text:
            try:
                algorithm, digest = parse_hash(hash_text)
            except ValueError as e:
                unsafe.append(f"{_shown(raw)}: {e}")
                continue
        size = int(size_text) if size_text.isdigit() and len(size_text) < 20 else None
        seen.add(path)
        rows.append(Row(path, algorithm, digest, size))
    return Record(tuple(rows), outside, tuple(unsafe))


def top_folders(rows: Tuple[Row, ...], dist_info: str) -> List[str]:
    """The top-level folders a RECORD installs into (``numpy``, ``numpy.libs``): the first part of each path
    that has more than one, leaving out the metadata folder itself, ``*.data`` and ``__pycache__``."""
    out: Dict[str, None] = {}
    for row in rows:
        head, sep, _ = row.path.partition("/")
        if sep and head != dist_info and head != "__pycache__" and not head.endswith((".dist-info", ".data")):
            out[head] = None
    return sorted(out)
