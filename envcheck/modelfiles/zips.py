"""Zip archives (torch, Keras, skops), opened only once their directory is known to be small, read member by
member through the budget, never extracted.

``zipfile`` builds an object per member as it opens an archive, so the member count is read from the end of
central directory record first (``entry_count``, pure) and an archive listing too many is not opened.
"""

from __future__ import annotations

import lzma
import struct
import zipfile
import zlib
from typing import Any, Optional

from envcheck.modelfiles.bounded import Budget, CapReached, FileStream, Malformed, MemberStream, Stop

_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"
#: What zipfile raises on a corrupt or unsupported archive or member.
ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    NotImplementedError,
    RuntimeError,
    ValueError,
    EOFError,
    OSError,
    KeyError,
    struct.error,
    zlib.error,
    lzma.LZMAError,
)


def is_zip(head: bytes) -> bool:
    return head.startswith((b"PK\x03\x04", _EOCD))


def entry_count(tail: bytes, tail_start: int, read_at: Any = None) -> Optional[int]:
    """Members the archive lists, from its last bytes ``tail`` (starting at file offset ``tail_start``); None
    when no end of central directory record is there. ``read_at(offset, n)`` fetches a Zip64 record when the
    count does not fit in 16 bits."""
    i = tail.rfind(_EOCD)
    if i < 0 or len(tail) - i < 22:
        return None
    count = struct.unpack_from("<H", tail, i + 10)[0]
    if count != 0xFFFF:
        return int(count)
    j = i - 20
    if j < 0 or tail[j : j + 4] != _ZIP64_LOCATOR or read_at is None:
        return int(count)
    where = struct.unpack_from("<Q", tail, j + 8)[0]
    record = read_at(where, 56)
    if len(record) < 56 or record[:4] != _ZIP64_EOCD:
        return None
    return int(struct.unpack_from("<Q", record, 32)[0])


def open_archive(stream: FileStream, budget: Budget) -> zipfile.ZipFile:
    """The archive, opened once its member count is within ``max_members``; ``Malformed`` when it is not a zip
    archive that ``zipfile`` can read."""
    start = max(stream.size - (1 << 16) - 22, 0)
    stream.seek(start)
    tail = stream.read(stream.size - start)

    def read_at(offset: int, n: int) -> bytes:
        stream.seek(offset)
        return stream.read(n)

    count = entry_count(tail, start, read_at)
    if count is None:
        raise Malformed("zip archive without an end of central directory record")
    if count > budget.limits.max_members:
        raise CapReached(f"cap reached: the zip archive lists {count} members (max_members)")
    stream.seek(0)
    try:
        return zipfile.ZipFile(stream)  # type: ignore[arg-type,unused-ignore]
    except Stop:
        raise
    except ZIP_ERRORS as e:
        raise Malformed(f"unreadable zip archive ({e})") from e


class _Guarded:
    """A zip member's reads, with zipfile's errors (a bad CRC, corrupt deflate data) as ``Malformed``."""

    def __init__(self, raw: Any, name: str) -> None:
        self._raw = raw
        self._name = name

    def read(self, n: int = -1) -> bytes:
        try:
            return bytes(self._raw.read(n))
        except ZIP_ERRORS as e:
            raise Malformed(f"unreadable zip member {self._name} ({e})") from e

    def readline(self, n: int = -1) -> bytes:
        try:
            return bytes(self._raw.readline(n))
        except ZIP_ERRORS as e:
            raise Malformed(f"unreadable zip member {self._name} ({e})") from e


def member_stream(archive: zipfile.ZipFile, name: str, budget: Budget) -> MemberStream:
    """One member, as a stream bounded by its declared size; ``CapReached`` when that size is past
    ``max_member`` or it would decompress past ``max_ratio``."""
    info = archive.getinfo(name)
    lim = budget.limits
    if info.file_size > lim.max_member:
        raise CapReached(f"cap reached: member {name} declares {info.file_size} bytes (max_member)")
    compressed = info.compress_type != zipfile.ZIP_STORED
    if compressed and info.file_size > lim.ratio_floor and info.file_size > lim.max_ratio * info.compress_size:
        raise CapReached(f"cap reached: member {name} decompresses more than {lim.max_ratio} times (max_ratio)")
    try:
        raw = archive.open(info)
    except ZIP_ERRORS as e:
        raise Malformed(f"unreadable zip member {name} ({e})") from e
    return MemberStream(_Guarded(raw, name), info.file_size, budget, compressed)  # type: ignore[arg-type]


def read_member(archive: zipfile.ZipFile, name: str, budget: Budget, cap: int) -> bytes:
    """A whole member of at most ``cap`` bytes."""
    info = archive.getinfo(name)
    if info.file_size > cap:
        raise CapReached(f"cap reached: member {name} declares {info.file_size} bytes, more than {cap}")
    stream = member_stream(archive, name, budget)
    try:
        return stream.read(info.file_size)
    except Stop:
        raise
    except ZIP_ERRORS as e:
        raise Malformed(f"unreadable zip member {name} ({e})") from e
