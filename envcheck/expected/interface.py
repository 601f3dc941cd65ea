"""What an expected side that is not an envcheck lockfile states: pinned packages, perhaps a Python version.

A ``requirements.txt``, ``pylock.toml``, ``uv.lock`` or MLflow model states far less than a snapshot: no
hardware, no native libraries, no environment variables. ``PartialSpec`` holds what it does state, before the
markers are evaluated; ``envcheck.expected.partial`` turns it into a partial ``Fingerprint`` for one candidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from envcheck.choices import EXPECTED_FORMATS
from envcheck.errors import EnvcheckError

#: ``--expected-format`` values; ``auto`` detects the format from the content.
FORMATS = EXPECTED_FORMATS
#: The largest requirements file, pylock.toml, uv.lock or MLflow file read: a big uv.lock is about 1 MiB.
MAX_BYTES = 4 << 20


class ExpectedError(EnvcheckError):
    """An expected side that cannot be read: unknown format, malformed, too large, or an include refused."""


@dataclass(frozen=True)
class ExpectedPackage:
    """One pinned distribution as the file states it."""

    name: str
    """Canonical name (PEP 503)."""
    version: str
    """The pinned version, verbatim."""
    marker: str = ""
    """PEP 508 marker: the pin applies only where it holds (empty: everywhere)."""
    hashes: Tuple[str, ...] = ()
    """``sha256:...`` of the archives the file allows (wheels, sdists). Installers do not record which archive
    they installed, so these cannot be compared with an installed environment; kept for the report."""
    constraint: bool = False
    """Only from a ``-c`` constraints file: it bounds the version where installed, it does not require it."""
    key: str = ""
    """uv.lock: the node this package is in the dependency graph (``name version``); empty elsewhere."""


@dataclass(frozen=True)
class Edge:
    """uv.lock: ``parent`` depends on ``child`` where ``marker`` holds (keys as ``ExpectedPackage.key``)."""

    parent: str
    child: str
    marker: str = ""


@dataclass(frozen=True)
class PartialSpec:
    """What a lock other than envcheck's states."""

    format: str
    """The file's kind as the report names it: ``requirements.txt``, ``pylock.toml``, ``uv.lock``, ``MLflow
    model``."""
    packages: Tuple[ExpectedPackage, ...] = ()
    python_version: str = ""
    """The interpreter's full version, where the file states one (an MLflow model); empty otherwise."""
    python_note: str = ""
    """What the file says about Python that is not a version (``requires-python >=3.9``)."""
    roots: Optional[Tuple[str, ...]] = None
    """uv.lock: the graph's roots (the project and its workspace members); a package applies only when reachable
    from one through edges whose markers hold. None: no graph, each package's own marker decides."""
    edges: Tuple[Edge, ...] = ()
    notes: Tuple[str, ...] = ()
    """What was read but not compared (unpinned requirements, editable installs, URLs), one short line each."""
    aliases: Tuple[Tuple[str, str], ...] = ()
    """(stated name, installed name that provides it): where the stated one is absent and the other present in
    the candidate, the pin applies to the other (MLflow writes ``mlflow`` for ``mlflow-skinny``)."""
