"""Native libraries a process really loaded, from its /proc/PID/maps.

The shipped libraries (what the environment's packages contain) come from the probe; this module adds the ones
mapped into a live process. For the calling process itself it can also ask an OpenBLAS that is already loaded
which kernels it chose (``openblas_get_corename``, as threadpoolctl does) without loading anything new.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple

from envcheck.collect.interface import Collected, Collector
from envcheck.model import NOT_INSPECTED, OK, UNAVAILABLE, NativeLib, Source
from envcheck.probe import classify_library, library_version, openblas_version


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
    owners: Optional[dict[str, str]] = None,
    file_root: str = "",
    versions: Optional[dict[str, str]] = None,
) -> Tuple[NativeLib, ...]:
    """Classify mapped files; versions from the file name or, for OpenBLAS, from the file's own text.

    ``owners`` maps a site-relative path to the distribution that ships it and ``versions`` a distribution to its
    version (an nvidia-* wheel's version is its library's); ``file_root`` prefixes paths when the process's files
    are seen through another root (``/proc/PID/root``).
    """
    libs = []
    for path in paths:
        base = path.rsplit("/", 1)[-1]
        hit = classify_library(base)
        if hit is None:
            continue
        kind, vendor = hit
        rel, in_site = relative_to_site(path, site_dirs)
        version = library_version(base, kind)
        if vendor == "openblas":
            version = openblas_version(file_root + path)
        package = (owners or {}).get(rel, "") if in_site else ""
        if not version and vendor == "nvidia" and package.startswith("nvidia-"):
            version = (versions or {}).get(package, "")
        libs.append(NativeLib(kind=kind, vendor=vendor, path=rel, package=package, version=version))
    return tuple(libs)


def openblas_corename(path: str) -> str:
    """The kernel set an OpenBLAS already loaded in this process chose; empty when unknown.

    ``RTLD_NOLOAD`` returns a handle only for a library that is already mapped, so this never loads one.
    """
    try:
        lib = ctypes.CDLL(path, mode=os.RTLD_NOLOAD)
    except OSError:
        return ""
    for symbol in ("openblas_get_corename", "scipy_openblas_get_corename64_", "scipy_openblas_get_corename"):
        func = getattr(lib, symbol, None)
        if func is not None:
            func.restype = ctypes.c_char_p
            name = func()
            return name.decode("ascii", "replace") if name else ""
    return ""


class LoadedLibrariesCollector(Collector[Tuple[NativeLib, ...]]):
    """The BLAS, OpenMP and CUDA libraries mapped into one process."""

    section = "native.loaded"

    def __init__(
        self,
        pid: str = "self",
        proc_root: str = "/proc",
        site_dirs: Sequence[str] = (),
        owners: Optional[dict[str, str]] = None,
        versions: Optional[dict[str, str]] = None,
        file_root: str = "",
    ) -> None:
        """``file_root`` is where the process's files are seen from here (``/proc/PID/root``)."""
        self.file_root = file_root
        self.pid = pid
        self.proc_root = proc_root
        self.site_dirs = site_dirs
        self.owners = owners
        self.versions = versions

    def collect(self) -> Collected[Tuple[NativeLib, ...]]:
        maps = Path(self.proc_root, self.pid, "maps")
        try:
            text = maps.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return Collected((), Source(NOT_INSPECTED, f"{maps} does not exist (not Linux, or no such process)"))
        except OSError as e:
            return Collected((), Source(UNAVAILABLE, f"cannot read {maps}: {e.strerror}"))
        libs = loaded_libraries(
            parse_maps(text), self.site_dirs, self.owners, file_root=self.file_root, versions=self.versions
        )
        if self.pid == "self":
            libs = tuple(_with_corename(lib, self.site_dirs) for lib in libs)
        return Collected(libs, Source(OK, str(maps)))


def _with_corename(lib: NativeLib, site_dirs: Sequence[str]) -> NativeLib:
    if lib.vendor != "openblas":
        return lib
    full = lib.path
    if not full.startswith("/"):
        for site in site_dirs:
            candidate = os.path.join(site, lib.path)
            if os.path.exists(candidate):
                full = candidate
                break
    core = openblas_corename(full)
    if not core:
        return lib
    from dataclasses import replace

    return replace(lib, architecture=core)
