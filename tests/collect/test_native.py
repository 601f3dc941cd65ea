"""Loaded native libraries: parsed from /proc/PID/maps, checked against a real H200 torch process."""

from __future__ import annotations

import ctypes.util
import json
from pathlib import Path

from envcheck.collect.native import (
    LoadedLibrariesCollector,
    loaded_libraries,
    openblas_corename_of_file,
    parse_maps,
)
from envcheck.model import NativeLib
from tests.conftest import H200

SITE = "/opt/torch/.venv/lib/python3.12/site-packages"

MAPS = """\
55d0c0a00000-55d0c0a2b000 r--p 00000000 fd:01 1311 /usr/bin/python3.12
7f1c2a000000-7f1c2a200000 r-xp 00000000 fd:01 99 /opt/v/site-packages/numpy.libs/libscipy_openblas64_-61654e39.so
7f1c2a200000-7f1c2a300000 r--p 00200000 fd:01 99 /opt/v/site-packages/numpy.libs/libscipy_openblas64_-61654e39.so
7f1c2b000000-7f1c2b100000 r-xp 00000000 fd:01 12 /usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04
7f1c2c000000-7f1c2c100000 r-xp 00000000 fd:01 13 /opt/v/site-packages/torch/lib/libgomp.so.1 (deleted)
7f1c2d000000-7f1c2d021000 rw-p 00000000 00:00 0 [heap]
7f1c2e000000-7f1c2e001000 r--p 00000000 00:00 0
"""


def test_parse_maps_keeps_shared_objects_once_in_order() -> None:
    assert parse_maps(MAPS) == [
        "/opt/v/site-packages/numpy.libs/libscipy_openblas64_-61654e39.so",
        "/usr/lib/x86_64-linux-gnu/libcuda.so.580.159.04",
        "/opt/v/site-packages/torch/lib/libgomp.so.1",
    ]


def test_real_torch_process_libraries() -> None:
    """The 234 libraries a real H200 process mapped after numpy, scipy, scikit-learn and a CUDA matmul."""
    mapped = json.loads((H200 / "torch-process.json").read_text())["mapped_libraries"]
    shipped = {  # as the snapshot's native.shipped records them: an nvidia-* wheel's version is its library's
        "nvidia/cudnn/lib/libcudnn.so.9": NativeLib(
            "cudnn", "nvidia", "nvidia/cudnn/lib/libcudnn.so.9", "nvidia-cudnn-cu13", "9.19.0.56"
        ),
        "nvidia/nccl/lib/libnccl.so.2": NativeLib(
            "nccl", "nvidia", "nvidia/nccl/lib/libnccl.so.2", "nvidia-nccl-cu13", "2.28.9"
        ),
    }
    libs = loaded_libraries(mapped, [SITE], shipped)
    kinds = sorted({lib.kind for lib in libs})
    assert kinds == ["blas", "cublas", "cuda-driver", "cudart", "cudnn", "nccl", "openmp"]
    blas = [lib.path for lib in libs if lib.kind == "blas"]
    assert len(blas) == 2
    assert {p.split("/")[0] for p in blas} == {"numpy.libs", "scipy.libs"}  # two OpenBLAS builds in one process
    assert len([lib for lib in libs if lib.kind == "openmp"]) == 2  # and two libgomp copies
    driver = next(lib for lib in libs if lib.kind == "cuda-driver")
    assert driver.version == "580.159.04"
    assert driver.path.startswith("/")  # a system library stays absolute
    cudnn = next(lib for lib in libs if lib.kind == "cudnn")
    assert (cudnn.path, cudnn.package, cudnn.version) == (
        "nvidia/cudnn/lib/libcudnn.so.9",
        "nvidia-cudnn-cu13",
        "9.19.0.56",
    )


def test_collector_reads_a_pid_under_a_fake_proc(tmp_path: Path) -> None:
    (tmp_path / "4242").mkdir()
    (tmp_path / "4242" / "maps").write_text(MAPS)
    got = LoadedLibrariesCollector(
        pid="4242", proc_root=str(tmp_path), site_dirs=["/opt/v/site-packages"]
    ).collect()
    assert got.source.status == "ok"
    assert [lib.kind for lib in got.value] == ["blas", "cuda-driver", "openmp"]
    assert got.value[0].path == "numpy.libs/libscipy_openblas64_-61654e39.so"


def test_collector_reports_gone_and_unreadable(tmp_path: Path) -> None:
    gone = LoadedLibrariesCollector(pid="999999", proc_root=str(tmp_path)).collect()
    assert gone.value == ()
    assert gone.source.status == "not inspected"
    (tmp_path / "7" / "maps").mkdir(parents=True)  # a directory where the file should be: read fails
    broken = LoadedLibrariesCollector(pid="7", proc_root=str(tmp_path)).collect()
    assert broken.source.status == "unavailable"
    assert "cannot read" in broken.source.detail


def test_live_process_maps_are_read() -> None:
    got = LoadedLibrariesCollector().collect()
    assert got.source.status == "ok"
    assert got.source.detail == "/proc/self/maps"


# --- the kernel set of an OpenBLAS file, asked of a child --------------------------------------------------------


def _numpy_openblas() -> str:
    import numpy  # a test dependency; envcheck itself never imports it

    libs = Path(numpy.__file__).resolve().parent.parent / "numpy.libs"
    return str(next(p for p in libs.iterdir() if "openblas" in p.name))


def test_a_child_tells_the_kernels_an_openblas_file_picks() -> None:
    path = _numpy_openblas()
    detected = openblas_corename_of_file(path)
    assert detected and detected.isprintable()
    assert openblas_corename_of_file(path, "Sandybridge") == "Sandybridge"


def test_a_child_answers_nothing_for_what_is_not_an_openblas(tmp_path: Path) -> None:
    (tmp_path / "libopenblas.so").write_bytes(b"\x7fELF not really")
    assert openblas_corename_of_file(str(tmp_path / "libopenblas.so")) == ""
    assert openblas_corename_of_file(str(tmp_path / "missing.so")) == ""
    libc = ctypes.util.find_library("c")
    assert libc and openblas_corename_of_file(libc) == ""  # loads, has no corename function


def test_a_replaced_openblas_is_not_described_by_the_file_there_now(tmp_path: Path) -> None:
    """numpy upgraded in place under a running server: maps says (deleted); the file at the path is the new one."""
    site = tmp_path / "root/opt/v/site-packages"
    (site / "numpy.libs").mkdir(parents=True)
    new_build = site / "numpy.libs/libscipy_openblas64_-61654e39.so"
    new_build.write_bytes(b"\0OpenBLAS 0.3.99 \0")
    maps = MAPS.replace("libscipy_openblas64_-61654e39.so\n", "libscipy_openblas64_-61654e39.so (deleted)\n", 2)
    (tmp_path / "proc/7").mkdir(parents=True)
    (tmp_path / "proc/7/maps").write_text(maps)

    def corename(path: str) -> str:
        raise AssertionError(f"must not load {path}: it is not the library the process runs")

    got = LoadedLibrariesCollector(
        pid="7",
        proc_root=str(tmp_path / "proc"),
        site_dirs=["/opt/v/site-packages"],
        file_root=str(tmp_path / "root"),
        corename=corename,
    ).collect()
    blas = got.value[0]
    assert (blas.kind, blas.version, blas.architecture) == ("blas", "", "")
    # not replaced: read and asked
    (tmp_path / "proc/7/maps").write_text(MAPS)
    asked = LoadedLibrariesCollector(
        pid="7",
        proc_root=str(tmp_path / "proc"),
        site_dirs=["/opt/v/site-packages"],
        file_root=str(tmp_path / "root"),
        corename=lambda path: "Zen" if path == str(new_build) else "",
    ).collect()
    assert (asked.value[0].version, asked.value[0].architecture) == ("0.3.99", "Zen")
