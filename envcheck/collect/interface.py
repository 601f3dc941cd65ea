"""What every in-process collector looks like.

A collector reads one section of the fingerprint from the live system. Identity lives in class attributes; the
places it reads from are constructor arguments (``proc_root="/proc"``...), so that tests point it at a committed
fake tree and a sidecar can point it at another container's files. ``collect()`` never raises for a missing or
unreadable source: it returns the section's default value with a ``Source`` whose status says why.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from envcheck.model import Source

T = TypeVar("T")


@dataclass(frozen=True)
class Collected(Generic[T]):
    """A section's value and where it came from."""

    value: T
    source: Source


class Collector(ABC, Generic[T]):
    """Reads one fingerprint section."""

    section: ClassVar[str]

    @abstractmethod
    def collect(self) -> Collected[T]:
        """Read the section; report unreadable sources through ``Source``, never by raising."""
