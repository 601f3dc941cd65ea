"""A process's cgroup and the CPU and memory limits that apply to it, v1 and v2.

The process's cgroup is named in ``/proc/PID/cgroup`` (``0::/path`` on v2, ``N:cpu,cpuacct:/path`` per v1
hierarchy) and found on disk through the cgroup mounts in ``/proc/PID/mountinfo``. Inside a container the mount
usually shows the container's own cgroup as its root while the path may still be the host's longer one, so a
joined path that does not exist falls back to the mount point. Limits are read from that directory up to the mount
point and the tightest one wins, because a parent's limit applies to all its children.

Parsers are pure; the readers take ``proc_root``, ``pid`` and ``root`` (the filesystem the mount points are
relative to: ``/`` here, ``/proc/PID/root`` for another container) plus an injectable ``read`` function.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from typing import Callable, Optional, Tuple

#: v1 reports "no limit" as a page-rounded LONG_MAX; anything this large is no limit in practice.
UNLIMITED_THRESHOLD = 2**60

Reader = Callable[[str], str]
"""Reads a whole text file; raises ``OSError`` like ``open`` does. Injected by tests to simulate errors."""


@dataclass(frozen=True)
class CgroupEntry:
    """One line of ``/proc/PID/cgroup``."""

    hierarchy_id: int
    controllers: Tuple[str, ...]
    """Empty for the v2 unified hierarchy (``0::/path``)."""
    path: str


@dataclass(frozen=True)
class CgroupMount:
    """A ``cgroup`` or ``cgroup2`` line of ``/proc/PID/mountinfo``."""

    root: str
    """The cgroup directory that appears at the mount point."""
    mount_point: str
    fstype: str
    """``cgroup`` (v1) or ``cgroup2``."""
    options: Tuple[str, ...]
    """Super options; on v1 they name the controllers (``rw,cpu,cpuacct``)."""


@dataclass(frozen=True)
class CgroupLimit:
    """A limit read from a process's cgroup hierarchy."""

    version: str = ""
    """``v1``, ``v2`` or empty when the controller's hierarchy was not found."""
    value: Optional[int] = None
    """Millicores or bytes; None when unlimited or unreadable."""
    directory: str = ""
    """The process's cgroup directory as read (under ``root``)."""
    problem: str = ""
    """Why the limit could not be read (fully), empty when it could."""


def read_text(path: str) -> str:
    """The default ``Reader``: the file's text, undecodable bytes replaced."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


# --- parsers ----------------------------------------------------------------------------------------------------


def parse_proc_cgroup(text: str) -> Tuple[CgroupEntry, ...]:
    """Parse ``/proc/PID/cgroup``; malformed lines are skipped."""
    entries = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3 or not parts[0].isdigit():
            continue
        controllers = tuple(c for c in parts[1].split(",") if c)
        entries.append(CgroupEntry(int(parts[0]), controllers, parts[2]))
    return tuple(entries)


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as octal (\040).
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> Tuple[CgroupMount, ...]:
    """Parse the cgroup and cgroup2 mounts out of ``/proc/PID/mountinfo``."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        sep = fields.index("-")
        if sep < 6 or len(fields) < sep + 3:
            continue
        fstype = fields[sep + 1]
        if fstype not in ("cgroup", "cgroup2"):
            continue
        options = tuple(fields[sep + 3].split(",")) if len(fields) > sep + 3 else ()
        mounts.append(CgroupMount(_unescape(fields[3]), _unescape(fields[4]), fstype, options))
    return tuple(mounts)


def _is_unlimited(value: int) -> bool:
    return value < 0 or value >= UNLIMITED_THRESHOLD


def parse_cpu_max(text: str) -> Optional[int]:
    """Millicores from v2 ``cpu.max`` (``"200000 100000"`` -> 2000); None for ``max``."""
    fields = text.split()
    if not fields:
        raise ValueError("empty cpu.max")
    if fields[0] == "max":
        return None
    period = int(fields[1]) if len(fields) > 1 else 100000
    return _millicores(int(fields[0]), period)


def parse_cfs_quota(quota_text: str, period_text: str) -> Optional[int]:
    """Millicores from v1 ``cpu.cfs_quota_us`` and ``cpu.cfs_period_us``; None for a quota of -1."""
    quota = int(quota_text.strip())
    if quota < 0:
        return None
    return _millicores(quota, int(period_text.strip()))


def _millicores(quota: int, period: int) -> int:
    if period <= 0:
        raise ValueError(f"invalid CPU period {period}")
    return quota * 1000 // period


def parse_memory_max(text: str) -> Optional[int]:
    """Bytes from v2 ``memory.max`` or v1 ``memory.limit_in_bytes``; None when unlimited."""
    value = text.strip()
    if value == "max":
        return None
    number = int(value)
    return None if _is_unlimited(number) else number


# --- finding the cgroup -----------------------------------------------------------------------------------------


def _under(root: str, path: str) -> str:
    return posixpath.join(root, path.lstrip("/"))


def locate(
    entries: Tuple[CgroupEntry, ...], mounts: Tuple[CgroupMount, ...], controller: str
) -> Optional[Tuple[str, CgroupMount, str]]:
    """Pick the hierarchy holding ``controller``: ``(version, mount, cgroup path)``, or None.

    A v1 hierarchy that names the controller wins; otherwise the unified v2 hierarchy holds it (on a hybrid
    system the v2 mount carries no controllers that are bound to v1).
    """
    for entry in entries:
        if controller in entry.controllers:
            for mount in mounts:
                if mount.fstype == "cgroup" and controller in mount.options:
                    return "v1", mount, entry.path
            return None  # bound to v1 but not mounted where this process can see it
    for entry in entries:
        if entry.hierarchy_id == 0 and not entry.controllers:
            for mount in mounts:
                if mount.fstype == "cgroup2":
                    return "v2", mount, entry.path
    return None


def cgroup_directory(mount: CgroupMount, path: str, root: str = "/") -> str:
    """The directory of cgroup ``path`` under ``mount``, falling back to the mount point when it is not there."""
    mount_dir = posixpath.normpath(_under(root, mount.mount_point))
    relative = path
    if mount.root != "/":
        prefix = mount.root.rstrip("/")
        if path == prefix or path.startswith(prefix + "/"):
            relative = path[len(prefix) :]
        else:
            return mount_dir
    candidate = posixpath.normpath(_under(mount_dir, relative))
    inside = candidate == mount_dir or candidate.startswith(mount_dir.rstrip("/") + "/")
    if not inside or not os.path.isdir(candidate):
        return mount_dir
    return candidate


def _ancestors(directory: str, stop: str) -> Tuple[str, ...]:
    """``directory`` and its parents up to and including ``stop``."""
    chain = [directory]
    stop = posixpath.normpath(stop)
    current = posixpath.normpath(directory)
    while current != stop and current.startswith(stop + "/"):
        current = posixpath.dirname(current)
        chain.append(current)
    return tuple(chain)


# --- reading limits ---------------------------------------------------------------------------------------------


def _read_limit(
    controller: str,
    parse: Callable[[str, Reader, str], Optional[int]],
    proc_root: str,
    pid: str,
    root: str,
    read: Reader,
) -> CgroupLimit:
    proc_dir = posixpath.join(proc_root, str(pid))
    try:
        entries = parse_proc_cgroup(read(posixpath.join(proc_dir, "cgroup")))
        mounts = parse_mountinfo(read(posixpath.join(proc_dir, "mountinfo")))
    except OSError as e:
        return CgroupLimit(problem=_reason(e))
    found = locate(entries, mounts, controller)
    if found is None:
        return CgroupLimit(problem=f"no cgroup hierarchy with the {controller} controller")
    version, mount, path = found
    directory = cgroup_directory(mount, path, root)
    tightest: Optional[int] = None
    problems = []
    for level in _ancestors(directory, _under(root, mount.mount_point)):
        try:
            value = parse(level, read, version)
        except FileNotFoundError:
            continue  # no limit file at this level (the root cgroup has none)
        except (OSError, ValueError) as e:
            problems.append(_reason(e))
            continue
        if value is not None and (tightest is None or value < tightest):
            tightest = value
    return CgroupLimit(version, tightest, directory, "; ".join(problems))


def _reason(e: Exception) -> str:
    if isinstance(e, OSError) and e.strerror:
        return f"{e.filename}: {e.strerror}" if e.filename else e.strerror
    return str(e)


def _cpu_at(directory: str, read: Reader, version: str) -> Optional[int]:
    if version == "v2":
        return parse_cpu_max(read(posixpath.join(directory, "cpu.max")))
    quota = read(posixpath.join(directory, "cpu.cfs_quota_us"))
    return parse_cfs_quota(quota, read(posixpath.join(directory, "cpu.cfs_period_us")))


def _memory_at(directory: str, read: Reader, version: str) -> Optional[int]:
    name = "memory.max" if version == "v2" else "memory.limit_in_bytes"
    return parse_memory_max(read(posixpath.join(directory, name)))


def read_cpu_quota(
    proc_root: str = "/proc", pid: str = "self", root: str = "/", *, read: Reader = read_text
) -> CgroupLimit:
    """The tightest CPU quota (millicores) over the process's cgroup and its readable parents."""
    return _read_limit("cpu", _cpu_at, proc_root, pid, root, read)


def read_memory_limit(
    proc_root: str = "/proc", pid: str = "self", root: str = "/", *, read: Reader = read_text
) -> CgroupLimit:
    """The tightest memory limit (bytes) over the process's cgroup and its readable parents."""
    return _read_limit("memory", _memory_at, proc_root, pid, root, read)
