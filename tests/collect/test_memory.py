"""Tests for envcheck.collect.memory: meminfo parsing and the collector."""

from __future__ import annotations

import errno
import os
import shutil
import sys
from pathlib import Path

import psutil
import pytest

from envcheck.collect.cgroup import read_text
from envcheck.collect.memory import MemoryCollector, parse_meminfo
from envcheck.model import OK, UNAVAILABLE

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "proc"
GIB = 1024**3


def collector(root: Path, **kw: object) -> MemoryCollector:
    return MemoryCollector(str(root / "proc"), root=str(root), **kw)  # type: ignore[arg-type]


def test_parse_meminfo_units() -> None:
    text = "MemTotal:       131981020 kB\nHugePages_Total:       4\nbroken line\nEmpty:\nOdd: x kB\n"
    assert parse_meminfo(text) == {"MemTotal": 131981020 * 1024, "HugePages_Total": 4}


def test_parse_meminfo_real_sample() -> None:
    values = parse_meminfo((FIXTURES / "amd-cgroupv1/proc/meminfo").read_text())
    assert values["MemTotal"] == 24683656 * 1024
    assert values["MemFree"] < values["MemTotal"]


def test_h200_total_and_no_limit() -> None:
    got = collector(FIXTURES / "h200").collect()
    assert got.source.status == OK
    assert (got.value.total_bytes, got.value.cgroup_limit_bytes) == (131981020 * 1024, None)


def test_amd_v1_parent_limit() -> None:
    got = collector(FIXTURES / "amd-cgroupv1").collect()
    assert (got.value.total_bytes, got.value.cgroup_limit_bytes) == (24683656 * 1024, 8 * GIB)


def test_graviton_v2_limit() -> None:
    assert collector(FIXTURES / "graviton2").collect().value.cgroup_limit_bytes == 4 * GIB


def test_missing_meminfo_is_unavailable(tmp_path: Path) -> None:
    got = collector(tmp_path).collect()
    assert (got.source.status, got.value.total_bytes) == (UNAVAILABLE, 0)
    assert "meminfo" in got.source.detail and "No such file" in got.source.detail


def test_meminfo_without_total_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/meminfo").write_text("MemFree: 10 kB\n")
    got = collector(tmp_path).collect()
    assert got.source == got.source.__class__(UNAVAILABLE, f"{tmp_path}/proc/meminfo: no MemTotal")


def test_meminfo_permission_denied_is_unavailable() -> None:
    def read(path: str) -> str:
        if path.endswith("meminfo"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return read_text(path)

    got = collector(FIXTURES / "h200", read=read).collect()
    assert got.source.status == UNAVAILABLE
    assert "Permission denied" in got.source.detail


def test_unreadable_leaf_limit_keeps_parent_and_notes_it(tmp_path: Path) -> None:
    root = Path(shutil.copytree(FIXTURES / "amd-cgroupv1", tmp_path / "amd"))

    def read(path: str) -> str:
        if path.endswith("7294454cbf50bf9a38ccc9ecad04b74e/memory.limit_in_bytes"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return read_text(path)

    got = collector(root, read=read).collect()
    assert (got.source.status, got.value.cgroup_limit_bytes) == (OK, 8 * GIB)
    assert "cgroup memory:" in got.source.detail and "Permission denied" in got.source.detail


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the live /proc")
def test_live_proc() -> None:
    got = MemoryCollector().collect()
    assert got.source.status == OK
    assert got.value.total_bytes == psutil.virtual_memory().total
    limit = got.value.cgroup_limit_bytes
    assert limit is None or 0 < limit < 2**60
