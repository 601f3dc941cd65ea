"""Tests for envcheck.collect.cgroup: parsers, locating the cgroup, and limits over the hierarchy."""

from __future__ import annotations

import errno
import os
import posixpath
import shutil
from pathlib import Path
from typing import Dict, Optional

import pytest

from envcheck.collect.cgroup import (
    CgroupEntry,
    CgroupMount,
    Reader,
    cgroup_directory,
    locate,
    parse_cfs_quota,
    parse_cpu_max,
    parse_memory_max,
    parse_mountinfo,
    parse_proc_cgroup,
    read_cpu_quota,
    read_memory_limit,
    read_text,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "proc"
GIB = 1024**3
V2_MOUNT = "30 24 0:26 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n"


def tree(root: Path, files: Dict[str, str]) -> Path:
    """Write ``files`` (paths relative to ``root``) and return ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def denying(*names: str) -> Reader:
    """A reader that refuses files with these base names, as an unprivileged process would be refused."""

    def read(path: str) -> str:
        if posixpath.basename(path) in names:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return read_text(path)

    return read


def v2_tree(root: Path, path: str, limits: Dict[str, Optional[str]]) -> Path:
    """A v2 tree with the process in ``path`` and ``cpu.max`` per cgroup directory (None: no file)."""
    files = {"proc/self/cgroup": f"0::{path}\n", "proc/self/mountinfo": V2_MOUNT}
    for directory, cpu_max in limits.items():
        (root / "sys/fs/cgroup" / directory.strip("/")).mkdir(parents=True, exist_ok=True)
        if cpu_max is not None:
            files[posixpath.join("sys/fs/cgroup", directory.strip("/"), "cpu.max")] = cpu_max
    return tree(root, files)


# --- parsers ----------------------------------------------------------------------------------------------------


def test_parse_proc_cgroup_v1_hybrid_real_sample() -> None:
    entries = parse_proc_cgroup((FIXTURES / "amd-cgroupv1/proc/self/cgroup").read_text())
    assert entries[0] == CgroupEntry(9, ("name=systemd",), "/")
    memory = [e for e in entries if "memory" in e.controllers]
    assert memory == [CgroupEntry(4, ("memory",), "/process_api/7294454cbf50bf9a38ccc9ecad04b74e")]
    assert entries[-1] == CgroupEntry(0, (), "/")


def test_parse_proc_cgroup_skips_malformed_and_keeps_colons_in_path() -> None:
    entries = parse_proc_cgroup("garbage\n2:cpu,cpuacct:/a:b\nx:cpu:/\n0::/process_api/redacted\n")
    assert entries == (
        CgroupEntry(2, ("cpu", "cpuacct"), "/a:b"),
        CgroupEntry(0, (), "/process_api/redacted"),
    )


def test_parse_mountinfo_real_sample_keeps_only_cgroup_mounts() -> None:
    mounts = parse_mountinfo((FIXTURES / "amd-cgroupv1/proc/self/mountinfo").read_text())
    assert len(mounts) == 10
    assert CgroupMount("/", "/sys/fs/cgroup/cpu", "cgroup", ("rw", "cpu")) in mounts
    assert [m.mount_point for m in mounts if m.fstype == "cgroup2"] == ["/sys/fs/cgroup/unified"]


def test_parse_mountinfo_unescapes_and_handles_optional_fields() -> None:
    text = "1 2 0:3 /docker/abc /mnt/my\\040cg rw shared:4 master:1 - cgroup2 cgroup2 rw\n1 2 0:3 / /x rw - ext4\n"
    assert parse_mountinfo(text) == (CgroupMount("/docker/abc", "/mnt/my cg", "cgroup2", ("rw",)),)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("max 100000\n", None, id="unlimited"),
        pytest.param("max\n", None, id="max-without-period"),
        pytest.param("200000 100000\n", 2000, id="two-cpus"),
        pytest.param("50000 100000\n", 500, id="half-cpu"),
        pytest.param("150000 50000\n", 3000, id="short-period"),
    ],
)
def test_parse_cpu_max(text: str, expected: Optional[int]) -> None:
    assert parse_cpu_max(text) == expected


@pytest.mark.parametrize("text", ["", "abc 100000", "100000 0"], ids=["empty", "not-a-number", "zero-period"])
def test_parse_cpu_max_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_cpu_max(text)


@pytest.mark.parametrize(
    ("quota", "period", "expected"),
    [
        pytest.param("-1\n", "100000\n", None, id="unlimited"),
        pytest.param("150000\n", "100000\n", 1500, id="one-and-a-half"),
        pytest.param("10000\n", "100000\n", 100, id="k8s-100m"),
    ],
)
def test_parse_cfs_quota(quota: str, period: str, expected: Optional[int]) -> None:
    assert parse_cfs_quota(quota, period) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("max\n", None, id="v2-max"),
        pytest.param("9223372036854771712\n", None, id="v1-page-rounded-long-max"),
        pytest.param(f"{2**60}\n", None, id="threshold"),
        pytest.param(f"{2**60 - 1}\n", 2**60 - 1, id="just-under-threshold"),
        pytest.param("8589934592\n", 8 * GIB, id="eight-gib"),
    ],
)
def test_parse_memory_max(text: str, expected: Optional[int]) -> None:
    assert parse_memory_max(text) == expected


# --- locating ---------------------------------------------------------------------------------------------------


def test_locate_prefers_v1_controller_on_hybrid() -> None:
    entries = parse_proc_cgroup((FIXTURES / "amd-cgroupv1/proc/self/cgroup").read_text())
    mounts = parse_mountinfo((FIXTURES / "amd-cgroupv1/proc/self/mountinfo").read_text())
    found = locate(entries, mounts, "memory")
    assert found is not None
    version, mount, path = found
    assert (version, mount.mount_point, path) == (
        "v1",
        "/sys/fs/cgroup/memory",
        "/process_api/7294454cbf50bf9a38ccc9ecad04b74e",
    )


def test_locate_v1_controller_not_mounted_is_not_mistaken_for_v2() -> None:
    entries = parse_proc_cgroup("3:cpu,cpuacct:/a\n0::/\n")
    mounts = parse_mountinfo(V2_MOUNT)
    assert locate(entries, mounts, "cpu") is None
    assert locate(entries, mounts, "memory") == ("v2", mounts[0], "/")


def test_cgroup_directory_joins_existing_path(tmp_path: Path) -> None:
    (tmp_path / "sys/fs/cgroup/kubepods/pod1").mkdir(parents=True)
    mount = CgroupMount("/", "/sys/fs/cgroup", "cgroup2", ())
    assert cgroup_directory(mount, "/kubepods/pod1", str(tmp_path)) == str(
        tmp_path / "sys/fs/cgroup/kubepods/pod1"
    )


@pytest.mark.parametrize(
    ("mount_root", "path"),
    [
        pytest.param("/", "/process_api/redacted", id="namespaced-path-missing"),
        pytest.param("/docker/abc", "/docker/abc", id="mount-root-is-own-cgroup"),
        pytest.param("/docker/abc", "/other", id="path-outside-mount-root"),
        pytest.param("/", "/../../sibling", id="escape-attempt"),
    ],
)
def test_cgroup_directory_falls_back_to_mount_point(tmp_path: Path, mount_root: str, path: str) -> None:
    (tmp_path / "sys/fs/cgroup").mkdir(parents=True)
    (tmp_path / "sibling").mkdir()
    mount = CgroupMount(mount_root, "/sys/fs/cgroup", "cgroup2", ())
    assert cgroup_directory(mount, path, str(tmp_path)) == str(tmp_path / "sys/fs/cgroup")


def test_cgroup_directory_strips_mount_root_prefix(tmp_path: Path) -> None:
    (tmp_path / "sys/fs/cgroup/memory/job").mkdir(parents=True)
    mount = CgroupMount("/docker/abc", "/sys/fs/cgroup/memory", "cgroup", ("rw", "memory"))
    got = cgroup_directory(mount, "/docker/abc/job", str(tmp_path))
    assert got == str(tmp_path / "sys/fs/cgroup/memory/job")


# --- limits from the sample trees -------------------------------------------------------------------------------


def test_h200_v2_without_limits_falls_back_to_mount_root() -> None:
    root = FIXTURES / "h200"
    cpu = read_cpu_quota(str(root / "proc"), root=str(root))
    memory = read_memory_limit(str(root / "proc"), root=str(root))
    assert (cpu.version, cpu.value, cpu.problem) == ("v2", None, "")
    assert cpu.directory == str(root / "sys/fs/cgroup")
    assert (memory.version, memory.value, memory.problem) == ("v2", None, "")


def test_amd_v1_parent_memory_limit_is_tighter_than_unlimited_leaf() -> None:
    root = FIXTURES / "amd-cgroupv1"
    memory = read_memory_limit(str(root / "proc"), root=str(root))
    assert memory.directory.endswith("memory/process_api/7294454cbf50bf9a38ccc9ecad04b74e")
    assert (memory.version, memory.value, memory.problem) == ("v1", 8 * GIB, "")
    cpu = read_cpu_quota(str(root / "proc"), root=str(root))
    assert (cpu.version, cpu.value, cpu.problem) == ("v1", None, "")


def test_graviton_namespaced_v2_limits() -> None:
    root = FIXTURES / "graviton2"
    assert read_cpu_quota(str(root / "proc"), root=str(root)).value == 2000
    assert read_memory_limit(str(root / "proc"), root=str(root)).value == 4 * GIB


def test_v1_quota_in_a_subgroup_of_the_real_layout(tmp_path: Path) -> None:
    root = Path(shutil.copytree(FIXTURES / "amd-cgroupv1", tmp_path / "amd"))
    cgroup = root / "proc/self/cgroup"
    cgroup.write_text(cgroup.read_text().replace("1:cpu:/\n", "1:cpu:/kubepods/pod1\n"))
    tree(root, {"sys/fs/cgroup/cpu/kubepods/pod1/cpu.cfs_quota_us": "150000\n"})
    tree(root, {"sys/fs/cgroup/cpu/kubepods/pod1/cpu.cfs_period_us": "100000\n"})
    cpu = read_cpu_quota(str(root / "proc"), root=str(root))
    assert (cpu.version, cpu.value) == ("v1", 1500)


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        pytest.param({"/a": "400000 100000", "/a/b": "100000 100000", "/a/b/c": "max 100000"}, 1000, id="parent"),
        pytest.param({"/a": "400000 100000", "/a/b": None, "/a/b/c": "50000 100000"}, 500, id="leaf"),
        pytest.param({"/a": "max 100000", "/a/b": None, "/a/b/c": None}, None, id="none-set"),
    ],
)
def test_v2_nested_takes_tightest(
    tmp_path: Path, limits: Dict[str, Optional[str]], expected: Optional[int]
) -> None:
    root = v2_tree(tmp_path, "/a/b/c", limits)
    cpu = read_cpu_quota(str(root / "proc"), root=str(root))
    assert cpu.directory == str(root / "sys/fs/cgroup/a/b/c")
    assert (cpu.value, cpu.problem) == (expected, "")


def test_pid_other_than_self(tmp_path: Path) -> None:
    root = v2_tree(tmp_path, "/job", {"/job": "300000 100000"})
    (root / "proc/self").rename(root / "proc/4242")
    assert read_cpu_quota(str(root / "proc"), pid="4242", root=str(root)).value == 3000
    assert read_cpu_quota(str(root / "proc"), root=str(root)).problem != ""


# --- unreadable -------------------------------------------------------------------------------------------------


def test_missing_proc_cgroup_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    limit = read_cpu_quota(str(tmp_path / "proc"), root=str(tmp_path))
    assert (limit.version, limit.value) == ("", None)
    assert "No such file" in limit.problem and "cgroup" in limit.problem


def test_no_hierarchy_for_controller(tmp_path: Path) -> None:
    root = tree(tmp_path, {"proc/self/cgroup": "0::/\n", "proc/self/mountinfo": ""})
    limit = read_memory_limit(str(root / "proc"), root=str(root))
    assert limit.version == ""
    assert "memory controller" in limit.problem


def test_permission_denied_on_leaf_keeps_readable_parent(tmp_path: Path) -> None:
    root = v2_tree(tmp_path, "/a/b", {"/a": "200000 100000", "/a/b": "100000 100000"})

    def read(path: str) -> str:
        if path.endswith("a/b/cpu.max"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return read_text(path)

    limit = read_cpu_quota(str(root / "proc"), root=str(root), read=read)
    assert limit.value == 2000
    assert "Permission denied" in limit.problem


def test_permission_denied_on_mountinfo(tmp_path: Path) -> None:
    root = v2_tree(tmp_path, "/a", {"/a": "200000 100000"})
    limit = read_cpu_quota(str(root / "proc"), root=str(root), read=denying("mountinfo"))
    assert (limit.version, limit.value) == ("", None)
    assert "Permission denied" in limit.problem


def test_directory_where_a_limit_file_is_expected(tmp_path: Path) -> None:
    root = v2_tree(tmp_path, "/a", {"/a": None})
    (root / "sys/fs/cgroup/a/memory.max").mkdir()
    limit = read_memory_limit(str(root / "proc"), root=str(root))
    assert limit.value is None
    assert "Is a directory" in limit.problem


def test_garbage_limit_is_a_problem(tmp_path: Path) -> None:
    root = v2_tree(tmp_path, "/a", {"/a": "lots\n"})
    limit = read_cpu_quota(str(root / "proc"), root=str(root))
    assert limit.value is None
    assert "lots" in limit.problem
