"""What verifying installed files against their RECORDs found: pure data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple


@dataclass(frozen=True)
class DistFiles:
    """One distribution whose installed files differ from its RECORD."""

    name: str
    """Canonical name (``scikit-learn``)."""
    version: str
    site: str
    """The site folder it is installed in (a path of the target's tree)."""
    modified: Tuple[str, ...] = ()
    """Paths (relative to ``site``) whose content or size is not what RECORD says, or that are no longer a
    regular file."""
    missing: Tuple[str, ...] = ()
    unexpected: Tuple[str, ...] = ()
    """Files in the distribution's folders that no RECORD of the site folder lists (``__pycache__`` and ``.pyc``
    left out)."""

    @property
    def changed(self) -> bool:
        return bool(self.modified or self.missing or self.unexpected)


@dataclass(frozen=True)
class Verification:
    """The outcome of verifying one target's installed files."""

    target: str
    """The target's name (``local``, ``root:/srv/img``)."""
    sites: Tuple[str, ...]
    """Site folders looked at."""
    verified: int
    """Distributions whose RECORD was read and checked."""
    changed: Tuple[DistFiles, ...]
    """The distributions that differ, by name."""
    files_hashed: int = 0
    """Files read and hashed (cache hits not counted)."""
    bytes_hashed: int = 0
    cache_hits: int = 0
    """Files whose digest came from the cache: ``stat`` unchanged since they were hashed."""
    not_verifiable: Tuple[str, ...] = ()
    """``"name version: why"``: egg-info (no hashes), a dist-info without a readable RECORD."""
    unsafe: Tuple[str, ...] = ()
    """``"dist: row: why"``: RECORD rows refused (absolute paths, NULs, unknown hashes)."""
    outside: int = 0
    """RECORD rows naming files outside the site folder (console scripts): not verified."""
    cut: Tuple[str, ...] = ()
    """Where a bound cut the work short (a RECORD over its row bound, a folder walk over its bounds)."""
    refused: Tuple[str, ...] = ()
    """``"path: why"``: files the tree would not read (a FIFO, a link loop), the first few."""

    @property
    def clean(self) -> bool:
        return not self.changed

    def summary(self) -> str:
        """One line for reports: what was verified, and how much of it came from the cache."""
        changed = f", {len(self.changed)} differ" if self.changed else ""
        notes = []
        if self.not_verifiable:
            notes.append(f"{len(self.not_verifiable)} not verifiable (no hashes)")
        if self.unsafe:
            notes.append(f"{len(self.unsafe)} RECORD rows refused")
        if self.outside:
            notes.append(f"{self.outside} rows outside the site folders not verified")
        if self.cut:
            notes.append("cut short: " + "; ".join(self.cut[:3]))
        if self.refused:
            notes.append("unreadable: " + "; ".join(self.refused[:3]))
        tail = f"; {'; '.join(notes)}" if notes else ""
        return (
            f"file check: {self.verified} distribution{'' if self.verified == 1 else 's'} verified against "
            f"their RECORD{changed} ({self.files_hashed} files hashed, {self.bytes_hashed / 1e6:.1f} MB, "
            f"{self.cache_hits} unchanged since last hashed){tail}"
        )
