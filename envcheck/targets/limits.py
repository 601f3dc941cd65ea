"""What unpacking an untrusted archive may cost, and how it fails.

``ArchiveError`` is anything wrong with an archive (its message one line, names from the archive escaped by
``shown``); ``LimitError`` says a limit was reached. ``Limits`` are the caps a user can raise or lower with
``--archive-limit KEY=VALUE``; a ``Budget`` counts one image's extraction against them, across all its layers.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass, fields
from typing import Sequence

from envcheck.errors import EnvcheckError


class ArchiveError(EnvcheckError):
    """The archive or a layer in it cannot be read or is unsafe to unpack."""


class LimitError(ArchiveError):
    """Extraction would go past one of its limits."""


@dataclass(frozen=True)
class Limits:
    """How far extracting one image may go (``--archive-limit KEY=VALUE`` raises or lowers each)."""

    max_total: int = 32 << 30
    """``total``: bytes the layers may expand to, and bytes written, summed over all layers."""
    max_files: int = 1_000_000
    """``files``: members (files, folders, links, whiteouts) over all layers."""
    max_file: int = 8 << 30
    """``file-size``: one member's size, as its header claims it (sparse files at their full size)."""
    max_ratio: int = 100
    """``ratio``: bytes out of a compressed layer per byte in (checked past the first 16 MiB)."""


#: ``--archive-limit`` keys and the field each sets.
LIMIT_KEYS = {"total": "max_total", "files": "max_files", "file-size": "max_file", "ratio": "max_ratio"}
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """``8G``, ``8GiB``, ``512M``, ``1000``: a positive number of bytes (units are powers of 1024)."""
    value = text.strip().upper()
    for suffix in ("IB", "B"):
        if value.endswith(suffix) and value[: -len(suffix)][-1:] in ("K", "M", "G", "T"):
            value = value[: -len(suffix)]
            break
    unit = value[-1:] if value[-1:] in _UNITS and value[-1:] else ""
    number = value[: -len(unit)] if unit else value
    if not number.isdigit() or int(number) <= 0:
        raise ValueError(f"{text!r} is not a number of bytes (such as 64G or 1000000)")
    return int(number) * _UNITS[unit]


def parse_limits(values: Sequence[str], base: Limits = Limits()) -> Limits:
    """``["total=64G", "files=2000000"]`` over ``base``; raises ``ValueError`` with one line."""
    changes = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--archive-limit {item!r}: give KEY=VALUE ({', '.join(LIMIT_KEYS)})")
        if key.strip() not in LIMIT_KEYS:
            raise ValueError(f"--archive-limit: unknown limit {key.strip()!r} (one of {', '.join(LIMIT_KEYS)})")
        try:
            changes[LIMIT_KEYS[key.strip()]] = parse_size(value)
        except ValueError as e:
            raise ValueError(f"--archive-limit {key.strip()}: {e}") from e
    values_now = {f.name: getattr(base, f.name) for f in fields(base)}
    values_now.update(changes)
    return Limits(**values_now)


def format_size(n: int) -> str:
    """``4096`` -> ``4 KiB``; one decimal where it is not a whole number of units."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n // size} {unit}" if n % size == 0 else f"{n / size:.1f} {unit}"
    return f"{n} bytes"


class Budget:
    """What extracting one image has used so far, against its limits (shared by all its layers)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.files = 0
        self.written = 0
        self.expanded = 0

    def member(self, member: tarfile.TarInfo) -> None:
        """Count a member before anything of it is read or written (its header's size is a claim)."""
        if member.size < 0:  # tarfile reads a base-256 size field as a negative number
            raise ArchiveError(f"member {member.name[:200]!r} claims a negative size ({member.size})")
        self.files += 1
        if self.files > self.limits.max_files:
            raise LimitError(f"holds more than {self.limits.max_files} files (raise with --archive-limit files=N)")
        if member.size > self.limits.max_file:
            raise LimitError(
                f"member {member.name[:200]!r} is {format_size(member.size)}, over the "
                f"{format_size(self.limits.max_file)} per-file limit (raise with --archive-limit file-size=N)"
            )
        if member.isreg():
            self.write(member.size)

    def write(self, n: int) -> None:
        if n < 0:
            raise ArchiveError(f"a negative size ({n}) cannot be written")
        self.written += n
        self._total(self.written)

    def expand(self, n: int) -> None:
        """Bytes that came out of a layer stream (headers and padding included)."""
        self.expanded += n
        self._total(self.expanded)

    def _total(self, n: int) -> None:
        if n > self.limits.max_total:
            raise LimitError(
                f"expands to more than {format_size(self.limits.max_total)} "
                "(raise with --archive-limit total=SIZE)"
            )


def shown(text: str, limit: int = 200) -> str:
    """``text`` from an archive, fit for a one-line message: cut, and quoted with escapes unless printable."""
    text = text[:limit]
    return text if text.isprintable() else repr(text)


def one_line(e: BaseException) -> str:
    """A foreign exception's message on one line."""
    return " ".join(str(e).split())[:300]
