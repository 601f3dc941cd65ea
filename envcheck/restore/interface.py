"""What ``envcheck remedy`` computes before it is written: the pins that restore a lockfile's package set, and
what no package manager can put back.

A ``Plan`` is pure data (``envcheck.restore.plan`` builds it from two fingerprints and a report); the renderers
(``requirements``, ``pylock``) turn it into text. Every string a plan holds for a pin has been checked to be a
valid PEP 508 name, PEP 440 version or hex digest, so that a renderer can never write a crafted value as an
installer option; everything else (notes, findings) is free text that the renderers write only as comments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from envcheck.choices import REMEDY_FORMATS
from envcheck.errors import EnvcheckError

#: ``--format`` values of ``envcheck remedy``.
FORMATS = REMEDY_FORMATS

#: Why a pin is there: the candidate lacks the package, has another version, or another build of it; or
#: nothing drifted and the pin keeps the package where it is (a full pin set: ``envcheck.restore.plan``).
MISSING = "missing"
VERSION = "version"
BUILD = "build"
SAME = "same"
DRIFTS = (MISSING, VERSION, BUILD, SAME)


class RemedyError(EnvcheckError):
    """A remedy that cannot be computed: no envcheck lockfile, no packages recorded, an unknown format."""


@dataclass(frozen=True)
class Source:
    """Where the recorded package came from, when its PEP 610 ``direct_url.json`` said so (validated). VCS
    checkouts and folders are not pinned at all (``Plan.unpinned``)."""

    kind: str
    """``archive``: a wheel or sdist at ``url``."""
    url: str


@dataclass(frozen=True)
class Pin:
    """One package of the lockfile, pinned to its recorded version."""

    name: str
    """Canonical name, a valid PEP 508 name."""
    version: str
    """The recorded version, a valid PEP 440 version without whitespace."""
    drift: str
    """One of ``DRIFTS``."""
    candidate_version: str = ""
    """What the candidate has (empty when it lacks the package); free text, written only in comments."""
    hashes: Tuple[str, ...] = ()
    """``sha256:<hex>`` (or sha384/sha512) of the archive the lockfile recorded (PEP 610 ``archive_info``)."""
    source: Optional[Source] = None


@dataclass(frozen=True)
class Plan:
    """What restores the lockfile's package set on one candidate."""

    lock_name: str
    """For the header: the lockfile's path (free text)."""
    lock_digest: str
    target_name: str
    pins: Tuple[Pin, ...] = ()
    """Every package of the lockfile that can be pinned, in name order, drifted or not."""
    extras: Tuple[Tuple[str, str], ...] = ()
    """(name, version) of packages only the candidate has (free text: from the candidate)."""
    unpinned: Tuple[str, ...] = ()
    """Lockfile packages no version pin restores (an editable install, a local folder, a VCS checkout), one line
    each saying how to put them back."""
    refused: Tuple[str, ...] = ()
    """Lockfile entries refused: a name, version or hash that is not valid, one line each."""
    not_restorable: Tuple[str, ...] = ()
    """What a package manager cannot restore (Python, OS, CPU, GPU driver, native libraries), one line each."""
    not_compared: Tuple[str, ...] = ()
    """Components of the comparison that could not be compared, and why."""

    @property
    def drifted(self) -> Tuple[Pin, ...]:
        return tuple(p for p in self.pins if p.drift != SAME)
