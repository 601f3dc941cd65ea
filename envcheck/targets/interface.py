"""A target is where a fingerprint's software sections come from: this interpreter, another one, later a
process, a folder or a container. Each runs or reads the stdlib-only probe and returns its raw JSON."""

from __future__ import annotations

import contextlib
import os
import posixpath
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Hashable, Iterable, List, Mapping, Optional, Sequence, Tuple

from envcheck.contract import ProbeOutput
from envcheck.errors import EnvcheckError
from envcheck.tree import Tree

if TYPE_CHECKING:
    from envcheck.collect.interface import Collected, Collector
    from envcheck.model import NativeLib, PythonInfo


class TargetError(EnvcheckError):
    """The target could not be inspected; the message is one line for the user."""


@dataclass(frozen=True)
class FileView:
    """A target's installed files, as ``Target.files`` shows them."""

    root: str
    """The tree's root on this machine (``/``, ``/proc/PID/root``, an unpacked image)."""
    sites: Tuple[str, ...]
    """Folders distributions are installed in, as paths of the tree."""


class Target(ABC):
    """Where an environment is read from."""

    kind: ClassVar[str]
    #: True when the probe runs in the very process being fingerprinted (its loaded libraries are ours).
    in_process: ClassVar[bool] = False
    #: True when CPU, memory and GPU can be read from this machine for this target.
    shows_hardware: ClassVar[bool] = True

    @property
    @abstractmethod
    def name(self) -> str:
        """How the target is recorded in the lockfile's ``meta.target``."""

    @abstractmethod
    def probe(self, extra_env: Sequence[str] = ()) -> ProbeOutput:
        """The probe's output for this target (the contract every producer fills); raises ``TargetError``."""

    def start(self, extra_env: Sequence[str] = ()) -> None:  # noqa: B027 - a no-op unless a target has a child
        """Begin the probe in the background where the target runs it in a process of its own (another
        interpreter), so that the caller's own work overlaps it; ``probe`` with the same ``extra_env`` then takes
        its answer. By default nothing: ``probe`` does all the work. Never raises."""

    @property
    def hardware_note(self) -> str:
        """Why hardware is not inspected, when ``shows_hardware`` is false."""
        return f"a {self.kind} target does not show the hardware it will run on"

    def hardware(self) -> Sequence[Collector[Any]]:
        """The CPU, memory and GPU collectors for this target: by default, this machine's."""
        from envcheck.collect.cpu import CpuCollector
        from envcheck.collect.gpu import GpuCollector
        from envcheck.collect.memory import MemoryCollector

        return (CpuCollector(), MemoryCollector(), GpuCollector())

    def loaded_libraries(
        self, python: PythonInfo, shipped: Mapping[str, NativeLib]
    ) -> Optional[Collected[Tuple[NativeLib, ...]]]:
        """The native libraries the target's process has mapped, where it has one that can be read."""
        return None

    def files(self) -> contextlib.AbstractContextManager[FileView]:
        """Where the target's installed files can be read (``envcheck.verify``), for the time of a ``with``: a
        tree root on this machine and the site folders in it. Raises ``TargetError`` for a target that does not
        show its files."""
        raise TargetError(f"a {self.kind} target does not show its installed files")

    def change_token(self) -> Optional[Hashable]:
        """A cheap value that changes whenever a new ``probe()`` could answer differently; ``None``: unknown.

        Long-running callers (the sidecar) probe again only when the token differs from the one taken just before
        their last probe. Never raises: what cannot be read gives ``None`` (probe again, and let it say why).
        """
        return None


_METADATA_DIRS = (".dist-info", ".egg-info")


def site_folders(prefixes: Iterable[str], minor: str, extra: Iterable[str] = ()) -> List[str]:
    """The folders distributions are installed in for interpreters under ``prefixes`` (Python ``minor``,
    ``3.12``): ``PREFIX/lib/pythonX.Y/{site,dist}-packages``, Debian's ``/usr/lib/python3/dist-packages``, then
    ``extra`` (PYTHONPATH entries). Order kept, duplicates dropped."""
    out = [
        posixpath.join(prefix, "lib", f"python{minor}", sub)
        for prefix in prefixes
        if prefix
        for sub in ("site-packages", "dist-packages")
    ]
    out.append("/usr/lib/python3/dist-packages")
    out.extend(p for p in extra if p)
    return list(dict.fromkeys(out))


def folders_token(folders: Iterable[str], tree: Optional[Tree] = None) -> Hashable:
    """The modification times of ``folders`` (paths of ``tree``, by default this machine's), of the dist-info and
    egg-info folders in them and of their METADATA: installing, removing or editing a distribution changes at
    least one of them. A missing folder counts as such (appearing later is a change). Only ``stat`` calls,
    relative to the open folder; no file is read."""
    tree = tree or Tree("/")
    return tuple(_folder_token(folder, tree) for folder in folders)


def _folder_token(folder: str, tree: Tree) -> Tuple[str, int, int]:
    try:
        fd = tree.open_dir(folder)
    except OSError:
        return (folder, -1, 0)
    try:
        mtime = os.fstat(fd).st_mtime_ns
        entries = []
        for name in os.listdir(fd):
            if name.endswith(_METADATA_DIRS):
                metadata = "/METADATA" if name.endswith(".dist-info") else "/PKG-INFO"
                entries.append((name, _mtime(name, fd), _mtime(name + metadata, fd)))
    except OSError:
        return (folder, -2, 0)
    finally:
        os.close(fd)
    return (folder, mtime, hash(tuple(sorted(entries))))


def _mtime(path: str, dir_fd: int) -> int:
    try:
        return os.stat(path, dir_fd=dir_fd, follow_symlinks=False).st_mtime_ns
    except OSError:
        return -1
