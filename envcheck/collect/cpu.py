"""The CPU section: model, instruction-set flags and level, topology, affinity and cgroup quota.

Everything comes from ``/proc/cpuinfo``, ``/proc/PID/status`` and the process's cgroup, read through injectable
roots. Nothing volatile is kept (no MHz, no bogomips), so two snapshots of one machine compare equal.
"""

from __future__ import annotations

import platform
import posixpath
from typing import Callable, Dict, Iterable, List, Optional, Set, Tuple

from envcheck.collect.cgroup import Reader, read_cpu_quota, read_text
from envcheck.collect.interface import Collected, Collector
from envcheck.isa import isa_level
from envcheck.model import OK, UNAVAILABLE, CpuInfo, Source

#: aarch64 ``CPU implementer`` codes, as lscpu names them.
ARM_IMPLEMENTERS = {
    0x41: "ARM",
    0x42: "Broadcom",
    0x43: "Cavium",
    0x46: "Fujitsu",
    0x48: "HiSilicon",
    0x4E: "NVIDIA",
    0x50: "APM",
    0x51: "Qualcomm",
    0x61: "Apple",
    0xC0: "Ampere",
}

#: Server-class cores of implementer 0x41 by ``CPU part`` (Graviton, Grace, Altra, Cobalt use these).
ARM_PARTS = {
    0xD08: "Cortex-A72",
    0xD0B: "Cortex-A76",
    0xD0C: "Neoverse-N1",
    0xD40: "Neoverse-V1",
    0xD49: "Neoverse-N2",
    0xD4F: "Neoverse-V2",
    0xD84: "Neoverse-V3",
    0xD8E: "Neoverse-N3",
}


def parse_cpu_list(text: str) -> Tuple[int, ...]:
    """Sorted CPU numbers of a kernel list (``"0-3,8"`` -> 0, 1, 2, 3, 8); ValueError when malformed."""
    cpus: Set[int] = set()
    for part in text.strip().split(","):
        if not part:
            continue
        first, sep, last = part.partition("-")
        start = int(first)
        end = int(last) if sep else start
        if start < 0 or end < start:
            raise ValueError(f"invalid CPU range {part!r}")
        cpus.update(range(start, end + 1))
    return tuple(sorted(cpus))


def format_cpu_list(cpus: Iterable[int]) -> str:
    """The compact kernel form of CPU numbers (0, 1, 2, 3, 8 -> ``"0-3,8"``)."""
    ranges: List[List[int]] = []
    for cpu in sorted(set(cpus)):
        if ranges and cpu == ranges[-1][1] + 1:
            ranges[-1][1] = cpu
        else:
            ranges.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def _blocks(text: str) -> List[Dict[str, str]]:
    """One dict per ``processor`` entry; lines before the first or after the last join the nearest block."""
    blocks: List[Dict[str, str]] = []
    header: Dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "processor":
            blocks.append({})
        (blocks[-1] if blocks else header).setdefault(key, value)
    for block in blocks:
        for key, value in header.items():
            block.setdefault(key, value)
    return blocks


def _int(value: Optional[str], base: int = 10) -> Optional[int]:
    if value is None:
        return None
    try:
        return int(value, base)
    except ValueError:
        return None


def parse_cpuinfo(text: str) -> CpuInfo:
    """The CpuInfo fields ``/proc/cpuinfo`` holds (not architecture, affinity or cgroup).

    x86 gives ``vendor_id``, ``model name``, family, model, stepping and ``flags``. aarch64 gives ``Features``,
    the ``CPU implementer`` (as vendor), ``CPU architecture`` as family, ``CPU part`` as model and ``CPU
    revision`` as stepping; the model name is the core's name when the part is known. ``physical_cores`` is 0
    when the entries lack ``physical id``/``core id``.
    """
    blocks = _blocks(text)
    if not blocks:
        return CpuInfo()
    first = blocks[0]
    cores = {(b["physical id"], b["core id"]) for b in blocks if "physical id" in b and "core id" in b}
    if "flags" in first:
        flags = tuple(sorted(set(first["flags"].split())))
        return CpuInfo(
            vendor=first.get("vendor_id", ""),
            model_name=first.get("model name", ""),
            family=_int(first.get("cpu family")),
            model=_int(first.get("model")),
            stepping=_int(first.get("stepping")),
            flags=flags,
            isa_level=isa_level(flags, "x86_64"),
            logical_cpus=len(blocks),
            physical_cores=len(cores),
        )
    implementer = _int(first.get("CPU implementer"), 16)
    part = _int(first.get("CPU part"), 16)
    vendor = ARM_IMPLEMENTERS.get(implementer, first.get("CPU implementer", "")) if implementer is not None else ""
    name = ARM_PARTS.get(part, "") if implementer == 0x41 and part is not None else ""
    features = tuple(sorted(set(first.get("Features", "").split())))
    return CpuInfo(
        vendor=vendor or first.get("vendor_id", ""),
        model_name=first.get("model name") or name or first.get("Hardware", ""),
        family=_int(first.get("CPU architecture")),
        model=part,
        stepping=_int(first.get("CPU revision")),
        flags=features,
        isa_level=isa_level(features, "aarch64") if "CPU implementer" in first else "",
        logical_cpus=len(blocks),
        physical_cores=len(cores),
    )


def parse_status(text: str) -> Dict[str, str]:
    """``/proc/PID/status`` as a mapping of field to value."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def _psutil_physical_cores() -> Optional[int]:
    import psutil  # only when cpuinfo lacks core ids: keeps start-up light

    return psutil.cpu_count(logical=False)


class CpuCollector(Collector[CpuInfo]):
    """Reads the CPU section from ``/proc/cpuinfo``, ``/proc/PID/status`` and the process's cgroup."""

    section = "cpu"

    def __init__(
        self,
        proc_root: str = "/proc",
        pid: str = "self",
        root: str = "/",
        *,
        architecture: Optional[str] = None,
        read: Reader = read_text,
        count_cores: Callable[[], Optional[int]] = _psutil_physical_cores,
    ) -> None:
        """``architecture`` defaults to ``platform.machine()``; ``count_cores`` is asked for the physical core
        count only when cpuinfo does not give it (aarch64)."""
        self.proc_root = proc_root
        self.pid = pid
        self.root = root
        self.architecture = architecture
        self.read = read
        self.count_cores = count_cores

    def collect(self) -> Collected[CpuInfo]:
        """Read the section; an unreadable cpuinfo makes it unavailable, other gaps are noted in the detail."""
        path = posixpath.join(self.proc_root, "cpuinfo")
        try:
            info = parse_cpuinfo(self.read(path))
        except OSError as e:
            return Collected(CpuInfo(), Source(UNAVAILABLE, f"{path}: {e.strerror or e}"))
        if info.logical_cpus == 0:
            return Collected(CpuInfo(), Source(UNAVAILABLE, f"{path}: no processor entries"))
        notes = [path]
        architecture = self.architecture if self.architecture is not None else platform.machine()
        physical = info.physical_cores or self.count_cores() or 0

        affinity, affinity_count = "", 0
        status_path = posixpath.join(self.proc_root, str(self.pid), "status")
        try:
            allowed = parse_status(self.read(status_path)).get("Cpus_allowed_list")
            if allowed is None:
                notes.append(f"{status_path}: no Cpus_allowed_list")
            else:
                cpus = parse_cpu_list(allowed)
                affinity, affinity_count = format_cpu_list(cpus), len(cpus)
        except OSError as e:
            notes.append(f"{status_path}: {e.strerror or e}")
        except ValueError as e:
            notes.append(f"{status_path}: {e}")

        quota = read_cpu_quota(self.proc_root, self.pid, self.root, read=self.read)
        if quota.problem:
            notes.append(f"cgroup cpu: {quota.problem}")
        value = CpuInfo(
            architecture=architecture,
            vendor=info.vendor,
            model_name=info.model_name,
            family=info.family,
            model=info.model,
            stepping=info.stepping,
            flags=info.flags,
            isa_level=isa_level(info.flags, architecture) if architecture else info.isa_level,
            logical_cpus=info.logical_cpus,
            physical_cores=physical,
            affinity=affinity,
            affinity_count=affinity_count,
            cgroup_version=quota.version,
            cpu_quota_millicores=quota.value,
        )
        return Collected(value, Source(OK, "; ".join(notes)))
