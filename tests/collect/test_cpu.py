"""Tests for envcheck.collect.cpu: cpuinfo samples, ISA levels, CPU lists and the collector."""

from __future__ import annotations

import errno
import os
import platform
import shutil
import sys
from pathlib import Path
from typing import Optional, Tuple

import pytest

from envcheck.collect.cgroup import read_text
from envcheck.collect.cpu import (
    CpuCollector,
    format_cpu_list,
    parse_cpu_list,
    parse_cpuinfo,
    parse_status,
)
from envcheck.model import OK, UNAVAILABLE

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "proc"
H200 = FIXTURES / "h200"
AMD = FIXTURES / "amd-cgroupv1"
GRAVITON = FIXTURES / "graviton2"


def no_core_count() -> Optional[int]:
    raise AssertionError("cpuinfo has the topology; the fallback must not be asked")


def collector(root: Path, architecture: str = "x86_64", **kw: object) -> CpuCollector:
    return CpuCollector(str(root / "proc"), root=str(root), architecture=architecture, **kw)  # type: ignore[arg-type]


# --- cpuinfo ----------------------------------------------------------------------------------------------------


def test_h200_cpuinfo() -> None:
    info = parse_cpuinfo((H200 / "proc/cpuinfo").read_text())
    assert (info.vendor, info.model_name) == ("GenuineIntel", "Intel(R) Xeon(R) Processor")
    assert (info.family, info.model, info.stepping) == (6, 207, 2)
    assert (info.logical_cpus, info.physical_cores) == (16, 16)
    assert {"avx512f", "amx_tile", "avx512_fp16"} <= set(info.flags)
    assert list(info.flags) == sorted(set(info.flags))
    assert info.isa_level == "x86-64-v4"


def test_amd_cpuinfo_is_v3_without_avx512() -> None:
    info = parse_cpuinfo((AMD / "proc/cpuinfo").read_text())
    assert (info.vendor, info.model_name) == ("AuthenticAMD", "AMD EPYC")
    assert (info.family, info.model, info.stepping) == (25, 1, 1)
    assert (info.logical_cpus, info.physical_cores) == (2, 2)
    assert "avx2" in info.flags and not any(f.startswith("avx512") for f in info.flags)
    assert info.isa_level == "x86-64-v3"


def test_graviton_cpuinfo() -> None:
    info = parse_cpuinfo((GRAVITON / "proc/cpuinfo").read_text())
    assert (info.vendor, info.model_name) == ("ARM", "Neoverse-N1")
    assert (info.family, info.model, info.stepping) == (8, 0xD0C, 1)
    assert info.flags[:3] == ("aes", "asimd", "asimddp") and "ssbs" in info.flags
    assert (info.isa_level, info.logical_cpus, info.physical_cores) == ("armv8.2-a", 4, 0)


def test_cpuinfo_hyperthreads_share_cores() -> None:
    block = "processor\t: {i}\nvendor_id\t: GenuineIntel\nphysical id\t: {p}\ncore id\t\t: {c}\nflags\t\t: fpu\n"
    text = "\n".join(block.format(i=i, p=i // 4, c=i % 2) for i in range(8))
    info = parse_cpuinfo(text)
    assert (info.logical_cpus, info.physical_cores) == (8, 4)


def test_cpuinfo_unknown_arm_part_keeps_raw_implementer() -> None:
    info = parse_cpuinfo("processor\t: 0\nFeatures\t: fp\nCPU implementer\t: 0x99\nCPU part\t: 0x001\n")
    assert (info.vendor, info.model_name, info.model) == ("0x99", "", 1)


def test_empty_cpuinfo_has_no_processors() -> None:
    assert parse_cpuinfo("").logical_cpus == 0


# --- CPU lists --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cpus"),
    [
        pytest.param("0-15", tuple(range(16)), id="range"),
        pytest.param("0-3,8-11", (0, 1, 2, 3, 8, 9, 10, 11), id="two-ranges"),
        pytest.param("0,2,4", (0, 2, 4), id="singles"),
        pytest.param("5", (5,), id="one"),
        pytest.param("0-1,3,5-6", (0, 1, 3, 5, 6), id="mixed"),
        pytest.param("", (), id="empty"),
    ],
)
def test_cpu_list_round_trip(text: str, cpus: Tuple[int, ...]) -> None:
    assert parse_cpu_list(text) == cpus
    assert format_cpu_list(cpus) == text


def test_format_cpu_list_sorts_and_dedups() -> None:
    assert format_cpu_list([9, 8, 0, 1, 2, 3, 3, 11, 10]) == "0-3,8-11"


@pytest.mark.parametrize("text", ["3-1", "a", "0-", "-1"], ids=["reversed", "word", "open", "negative"])
def test_parse_cpu_list_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_cpu_list(text)


def test_parse_status() -> None:
    fields = parse_status((AMD / "proc/self/status").read_text())
    assert (fields["Cpus_allowed_list"], fields["Mems_allowed_list"]) == ("0-1", "0")


# --- collector --------------------------------------------------------------------------------------------------


def test_collector_h200() -> None:
    got = collector(H200, count_cores=no_core_count).collect()
    assert got.source.status == OK
    cpu = got.value
    assert (cpu.architecture, cpu.vendor, cpu.isa_level) == ("x86_64", "GenuineIntel", "x86-64-v4")
    assert (cpu.family, cpu.model, cpu.stepping) == (6, 207, 2)
    assert (cpu.logical_cpus, cpu.physical_cores) == (16, 16)
    assert (cpu.affinity, cpu.affinity_count) == ("0-15", 16)
    assert (cpu.cgroup_version, cpu.cpu_quota_millicores) == ("v2", None)
    assert "avx512f" in cpu.flags


def test_collector_amd_v1() -> None:
    cpu = collector(AMD, count_cores=no_core_count).collect().value
    assert (cpu.affinity, cpu.affinity_count, cpu.physical_cores) == ("0-1", 2, 2)
    assert (cpu.cgroup_version, cpu.cpu_quota_millicores, cpu.isa_level) == ("v1", None, "x86-64-v3")


def test_collector_graviton_asks_fallback_for_cores() -> None:
    got = collector(GRAVITON, "aarch64", count_cores=lambda: 4).collect()
    cpu = got.value
    assert got.source.status == OK
    assert (cpu.architecture, cpu.vendor, cpu.isa_level, cpu.physical_cores) == ("aarch64", "ARM", "armv8.2-a", 4)
    assert (cpu.affinity, cpu.cgroup_version, cpu.cpu_quota_millicores) == ("0-3", "v2", 2000)


def test_collector_drops_isa_level_on_32_bit_x86() -> None:
    assert collector(H200, "i686").collect().value.isa_level == ""


def test_collector_reads_another_pid(tmp_path: Path) -> None:
    root = Path(shutil.copytree(H200, tmp_path / "h200"))
    (root / "proc/self").rename(root / "proc/4242")
    (root / "proc/4242/status").write_text("Cpus_allowed_list:\t0-3,8-11\n")
    cpu = CpuCollector(str(root / "proc"), "4242", str(root), architecture="x86_64").collect().value
    assert (cpu.affinity, cpu.affinity_count, cpu.cgroup_version) == ("0-3,8-11", 8, "v2")


def test_missing_cpuinfo_is_unavailable(tmp_path: Path) -> None:
    got = collector(tmp_path).collect()
    assert got.source.status == UNAVAILABLE
    assert "cpuinfo" in got.source.detail and "No such file" in got.source.detail
    assert got.value.logical_cpus == 0


def test_cpuinfo_permission_denied_is_unavailable() -> None:
    def read(path: str) -> str:
        if path.endswith("cpuinfo"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return read_text(path)

    got = collector(H200, read=read).collect()
    assert (got.source.status, got.value.isa_level) == (UNAVAILABLE, "")
    assert "Permission denied" in got.source.detail


def test_cpuinfo_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "proc/cpuinfo").mkdir(parents=True)
    got = collector(tmp_path).collect()
    assert got.source.status == UNAVAILABLE
    assert "Is a directory" in got.source.detail


def test_cpuinfo_without_processors_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_text("")
    got = collector(tmp_path).collect()
    assert (got.source.status, got.source.detail.endswith("no processor entries")) == (UNAVAILABLE, True)


def test_unreadable_status_and_cgroup_are_noted_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    shutil.copy(H200 / "proc/cpuinfo", tmp_path / "proc/cpuinfo")
    got = collector(tmp_path).collect()
    assert got.source.status == OK
    assert (got.value.isa_level, got.value.affinity, got.value.cgroup_version) == ("x86-64-v4", "", "")
    assert "status: No such file" in got.source.detail
    assert "cgroup cpu:" in got.source.detail


def test_malformed_affinity_is_noted(tmp_path: Path) -> None:
    root = Path(shutil.copytree(H200, tmp_path / "h200"))
    (root / "proc/self/status").write_text("Cpus_allowed_list:\tnone\n")
    got = collector(root).collect()
    assert (got.source.status, got.value.affinity_count) == (OK, 0)
    assert "none" in got.source.detail


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the live /proc")
def test_live_proc() -> None:
    got = CpuCollector().collect()
    cpu = got.value
    assert got.source.status == OK
    assert got.source.detail.startswith("/proc/cpuinfo")
    assert cpu.architecture == platform.machine()
    if cpu.architecture == "x86_64":
        assert cpu.isa_level.startswith("x86-64-v")
    assert cpu.logical_cpus == os.cpu_count()
    assert cpu.affinity_count == len(os.sched_getaffinity(0))
    assert parse_cpu_list(cpu.affinity) == tuple(sorted(os.sched_getaffinity(0)))
    assert cpu.cgroup_version in ("v1", "v2", "")
