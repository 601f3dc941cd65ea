"""The memory section: physical memory from ``/proc/meminfo`` and the process's cgroup memory limit."""

from __future__ import annotations

import posixpath
from typing import Dict

from envcheck.collect.cgroup import Reader, read_memory_limit, read_text
from envcheck.collect.interface import Collected, Collector
from envcheck.model import OK, UNAVAILABLE, MemoryInfo, Source

_UNITS = {"kB": 1024, "B": 1}


def parse_meminfo(text: str) -> Dict[str, int]:
    """``/proc/meminfo`` in bytes (``kB`` values times 1024; counts such as ``HugePages_Total`` as they are)."""
    values = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        fields = rest.split()
        if not sep or not fields or not fields[0].isdigit():
            continue
        unit = _UNITS.get(fields[1], 1) if len(fields) > 1 else 1
        values[key.strip()] = int(fields[0]) * unit
    return values


class MemoryCollector(Collector[MemoryInfo]):
    """Reads the memory section from ``/proc/meminfo`` and the process's cgroup."""

    section = "memory"

    def __init__(
        self, proc_root: str = "/proc", pid: str = "self", root: str = "/", *, read: Reader = read_text
    ) -> None:
        self.proc_root = proc_root
        self.pid = pid
        self.root = root
        self.read = read

    def collect(self) -> Collected[MemoryInfo]:
        """Read the section; an unreadable meminfo makes it unavailable, an unreadable cgroup is noted."""
        path = posixpath.join(self.proc_root, "meminfo")
        try:
            total = parse_meminfo(self.read(path)).get("MemTotal")
        except OSError as e:
            return Collected(MemoryInfo(), Source(UNAVAILABLE, f"{path}: {e.strerror or e}"))
        if total is None:
            return Collected(MemoryInfo(), Source(UNAVAILABLE, f"{path}: no MemTotal"))
        limit = read_memory_limit(self.proc_root, self.pid, self.root, read=self.read)
        detail = path if not limit.problem else f"{path}; cgroup memory: {limit.problem}"
        return Collected(MemoryInfo(total_bytes=total, cgroup_limit_bytes=limit.value), Source(OK, detail))
