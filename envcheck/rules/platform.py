"""Rules for the interpreter and the operating system."""

from __future__ import annotations

import re
from typing import Iterator, Optional, Tuple

from envcheck.model import Fingerprint
from envcheck.policy import Policy
from envcheck.rules.interface import Change

_MANYLINUX = re.compile(r"manylinux_(\d+)_(\d+)_")
_LEGACY = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _version_tuple(text: str) -> Optional[Tuple[int, ...]]:
    parts = re.findall(r"\d+", text)
    return tuple(int(p) for p in parts[:3]) if parts else None


def glibc_needed(tag: str) -> Optional[Tuple[int, int]]:
    """The glibc a wheel's platform tag asks for: ``manylinux_2_28_x86_64`` -> (2, 28)."""
    m = _MANYLINUX.search(tag)
    if m:
        return int(m.group(1)), int(m.group(2))
    for legacy, version in _LEGACY.items():
        if f"-{legacy}_" in f"-{tag}" or tag.startswith(legacy + "_"):
            return version
    return None


def compare_python(expected: Fingerprint, actual: Fingerprint, policy: Policy) -> Iterator[Change]:
    e, a = expected.python, actual.python
    if e.implementation != a.implementation:
        yield Change("python.implementation", "python", e.implementation, a.implementation)
        return
    if _minor(e.version) != _minor(a.version):
        fields = {"expected_minor": _minor(e.version), "actual_minor": _minor(a.version)}
        yield Change("python.version.minor", "python", e.version, a.version, fields)
    elif e.version != a.version:
        yield Change("python.version.patch", "python", e.version, a.version)
    if e.free_threaded != a.free_threaded:
        label = {True: "free-threaded", False: "with the GIL"}
        yield Change("python.free_threaded", "python", label[e.free_threaded], label[a.free_threaded])


def compare_os(expected: Fingerprint, actual: Fingerprint, policy: Policy) -> Iterator[Change]:
    e, a = expected.os, actual.os
    if e.machine and a.machine and e.machine != a.machine:
        yield Change("os.architecture", "architecture", e.machine, a.machine)
        return
    if e.libc_family and a.libc_family and e.libc_family != a.libc_family:
        yield Change("os.libc.family", "libc", e.libc_family, a.libc_family)
        return
    old, new = _version_tuple(e.libc_version), _version_tuple(a.libc_version)
    if e.libc_version != a.libc_version and old and new:
        too_old = list(_libc_too_old(actual, new)) if new < old else []
        yield from too_old
        if not too_old:
            yield Change("os.libc.version", "glibc", e.libc_version, a.libc_version)
    if (e.distro_id, e.distro_version_id) != (a.distro_id, a.distro_version_id):
        yield Change("os.distribution", "distribution", e.distro_name or e.distro_id, a.distro_name or a.distro_id)
    if e.release != a.release and e.release and a.release:
        yield Change("os.kernel", "kernel", e.release, a.release)


def _libc_too_old(actual: Fingerprint, have: Tuple[int, ...]) -> Iterator[Change]:
    """Installed wheels whose manylinux tag needs a newer glibc than the candidate has."""
    if actual.os.libc_family != "glibc":
        return
    for pkg in actual.packages:
        needs = [n for n in (glibc_needed(t) for t in pkg.wheel_tags) if n]
        if not needs:
            continue
        lowest = min(needs)  # a wheel tagged for several levels loads on the lowest
        if have[:2] < lowest:
            yield Change(
                "os.libc.too_old",
                pkg.name,
                "",
                actual.os.libc_version,
                {"needed": f"{lowest[0]}.{lowest[1]}", "older": str(have[1]) if len(have) > 1 else "17"},
                package=pkg.name,
            )
