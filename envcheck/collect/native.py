"""Native libraries a process really loaded, from its /proc/PID/maps.

The shipped libraries (what the environment's packages contain) come from the probe; this module adds the ones
mapped into a live process, and which kernels each OpenBLAS among them chose (``openblas_get_corename``, as
threadpoolctl asks): for the calling process itself from the library already loaded, without loading anything
new; for another process (``--pid``) from a short-lived child that loads the same file on the same CPU.
"""

from __future__ import annotations

import ctypes
import os
import posixpath
import sys
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from envcheck._subprocess import RunError, run
from envcheck.collect.interface import Collected, Collector
from envcheck.model import NOT_INSPECTED, OK, UNAVAILABLE, NativeLib, Source
from envcheck.probe import classify_library, library_version, openblas_version
from envcheck.tree import Tree


def parse_maps(text: str) -> List[str]:
    """File paths of the shared objects in a /proc/PID/maps text, in first-mapped order, without duplicates."""
    seen: dict[str, None] = {}
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 6:
            continue
        path = parts[5].strip()
        if path.endswith(" (deleted)"):
            path = path[: -len(" (deleted)")]
        if path.startswith("/") and ".so" in path.rsplit("/", 1)[-1]:
            seen.setdefault(path, None)
    return list(seen)


def replaced_in_maps(text: str) -> Set[str]:
    """Mapped files that were deleted or replaced on disk since they were loaded (`` (deleted)`` in maps): what is
    at that path now is another file, so nothing may be read from it about the loaded one."""
    return {
        line.split(None, 5)[5].strip()[: -len(" (deleted)")]
        for line in text.splitlines()
        if line.rstrip().endswith(" (deleted)") and len(line.split(None, 5)) == 6
    }


def relative_to_site(path: str, site_dirs: Sequence[str]) -> Tuple[str, bool]:
    """``path`` relative to the site-packages folder holding it, and whether one did."""
    for site in site_dirs:
        prefix = site.rstrip("/") + "/"
        if path.startswith(prefix):
            return path[len(prefix) :], True
    return path, False


def loaded_libraries(
    paths: Iterable[str],
    site_dirs: Sequence[str] = (),
    shipped: Optional[Mapping[str, NativeLib]] = None,
    file_root: str = "",
) -> Tuple[NativeLib, ...]:
    """Classify mapped files. ``shipped`` maps a site-relative path to the library a package ships there (the
    snapshot's ``native.shipped``): its package and version are taken, not read again. Otherwise the version
    comes from the file name or, for OpenBLAS, the file's own text; ``file_root`` is the root the process's files
    are seen through (``/proc/PID/root``), and paths resolve inside it.
    """
    with Tree(file_root or "/") as tree:
        return _classify(paths, site_dirs, shipped, tree)


def _classify(
    paths: Iterable[str], site_dirs: Sequence[str], shipped: Optional[Mapping[str, NativeLib]], tree: Tree
) -> Tuple[NativeLib, ...]:
    libs = []
    for path in paths:
        base = path.rsplit("/", 1)[-1]
        hit = classify_library(base)
        if hit is None:
            continue
        kind, vendor = hit
        rel, in_site = relative_to_site(path, site_dirs)
        owner = (shipped or {}).get(rel) if in_site else None
        if owner is not None and owner.version:
            version = owner.version
        elif vendor == "openblas":
            version = openblas_version(path, tree)
        else:
            version = library_version(base, kind)
        package = owner.package if owner is not None else ""
        libs.append(NativeLib(kind=kind, vendor=vendor, path=rel, package=package, version=version))
    return tuple(libs)


#: The functions OpenBLAS builds export to say which kernels they chose (threadpoolctl asks the same ones).
CORENAME_SYMBOLS = ("openblas_get_corename", "scipy_openblas_get_corename64_", "scipy_openblas_get_corename")


def openblas_corename(path: str) -> str:
    """The kernel set an OpenBLAS already loaded in this process chose; empty when unknown.

    ``RTLD_NOLOAD`` returns a handle only for a library that is already mapped, so this never loads one.
    """
    try:
        lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD)
    except OSError:
        return ""
    for symbol in CORENAME_SYMBOLS:
        func = getattr(lib, symbol, None)
        if func is not None:
            func.restype = ctypes.c_char_p
            name = func()
            return name.decode("ascii", "replace") if name else ""
    return ""


# Loads one library file and prints what its corename function answers; run in a child, never in envcheck.
_CORENAME_CHILD = """\
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1], mode=ctypes.RTLD_LOCAL)
for symbol in sys.argv[2:]:
    func = getattr(lib, symbol, None)
    if func is not None:
        func.restype = ctypes.c_char_p
        sys.stdout.write((func() or b"").decode("ascii", "replace"))
        break
"""


def openblas_corename_of_file(path: str, coretype: str = "", *, timeout: float = 10.0) -> str:
    """The kernel set the OpenBLAS at ``path`` picks on this machine, asked of a short-lived child process that
    loads it; empty when that cannot be told (the library does not load here, no corename function, timeout).

    For a process envcheck cannot call into (``--pid``): an OpenBLAS built with DYNAMIC_ARCH chooses its kernels
    from the CPU and ``OPENBLAS_CORETYPE`` alone, so the child, on the same CPU and given the process's
    ``coretype``, chooses what the process chose. The process itself is never touched; the library's code runs
    only in the child, with one thread.
    """
    env = {"OPENBLAS_NUM_THREADS": "1", "PATH": os.defpath}
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    try:
        done = run(
            [sys.executable, "-I", "-S", "-c", _CORENAME_CHILD, path, *CORENAME_SYMBOLS], env=env, timeout=timeout
        )
    except RunError:
        return ""
    name = done.stdout.strip()
    return name if done.returncode == 0 and name.isprintable() and len(name) <= 64 else ""


class LoadedLibrariesCollector(Collector[Tuple[NativeLib, ...]]):
    """The BLAS, OpenMP and CUDA libraries mapped into one process."""

    section = "native.loaded"

    def __init__(
        self,
        pid: str = "self",
        proc_root: str = "/proc",
        site_dirs: Sequence[str] = (),
        shipped: Optional[Mapping[str, NativeLib]] = None,
        file_root: str = "",
        corename: Optional[Callable[[str], str]] = None,
    ) -> None:
        """``file_root`` is where the process's files are seen from here (``/proc/PID/root``). ``corename`` tells
        an OpenBLAS file's kernel set (a path as seen from here): by default ``openblas_corename`` for this very
        process, nothing for another one."""
        self.file_root = file_root
        self.pid = pid
        self.proc_root = proc_root
        self.site_dirs = site_dirs
        self.shipped = shipped
        self.corename = corename if corename is not None or pid != "self" else openblas_corename

    def collect(self) -> Collected[Tuple[NativeLib, ...]]:
        maps = Path(self.proc_root, self.pid, "maps")
        try:
            text = maps.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return Collected((), Source(NOT_INSPECTED, f"{maps} does not exist (not Linux, or no such process)"))
        except OSError as e:
            return Collected((), Source(UNAVAILABLE, f"cannot read {maps}: {e.strerror}"))
        libs = loaded_libraries(parse_maps(text), self.site_dirs, self.shipped, file_root=self.file_root)
        replaced = replaced_in_maps(text)
        libs = tuple(self._finish(lib, replaced) for lib in libs)
        return Collected(libs, Source(OK, str(maps)))

    def _finish(self, lib: NativeLib, replaced: Set[str]) -> NativeLib:
        """An OpenBLAS's kernel set, when it can be told; nothing read from a file replaced since it was loaded."""
        if lib.vendor != "openblas":
            return lib
        path = self._in_target(lib)
        if path is None:
            return lib
        if path in replaced:
            return replace(lib, version="")  # it was read from the file there now
        if self.corename is None:
            return lib
        try:  # the child loads the file the process sees: its real path inside the process's root
            with Tree(self.file_root or "/") as tree:
                real = tree.resolve(path)
        except OSError:
            return lib
        core = self.corename(self.file_root + real)
        return replace(lib, architecture=core) if core else lib

    def _in_target(self, lib: NativeLib) -> Optional[str]:
        """The library's path as the process sees it; None when no site folder holds it any more."""
        if lib.path.startswith("/"):
            return lib.path
        with Tree(self.file_root or "/") as tree:
            for site in self.site_dirs:
                candidate = posixpath.join(site, lib.path)
                if tree.exists(candidate):
                    return candidate
        return None
