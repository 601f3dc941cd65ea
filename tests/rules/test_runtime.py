"""GPU architectures and the native runtime a process really uses, replayed from the real H200 process."""

from __future__ import annotations

import dataclasses
import json
import types
from typing import Any

import pytest

from envcheck import lockfile
from envcheck.collect.frameworks import torch_runtime
from envcheck.collect.native import loaded_libraries
from envcheck.compare import compare
from envcheck.model import NativeLib, TorchRuntime
from envcheck.rules.runtime import arch_unsupported, blas_duplicates, loaded_mismatch
from tests.conftest import H200

PROCESS = json.loads((H200 / "torch-process.json").read_text())
RUNTIME = json.loads((H200 / "runtime.json").read_text())["torch"]
BASE = lockfile.read(H200 / "envcheck-in-torch.lock")
SITE = "/opt/torch/.venv/lib/python3.12/site-packages"


def fake_torch() -> Any:
    """A module object answering as the real torch 2.11.0+cu130 did on the H200 (values recorded there)."""
    cudnn = types.SimpleNamespace(
        version=lambda: PROCESS["torch"]["cudnn"], allow_tf32=RUNTIME["allow_tf32_cudnn"]
    )
    return types.SimpleNamespace(
        __version__=RUNTIME["version"],
        version=types.SimpleNamespace(cuda=RUNTIME["cuda"]),
        backends=types.SimpleNamespace(
            cudnn=cudnn,
            cuda=types.SimpleNamespace(matmul=types.SimpleNamespace(allow_tf32=RUNTIME["allow_tf32_matmul"])),
        ),
        cuda=types.SimpleNamespace(get_arch_list=lambda: PROCESS["torch"]["arch_list"]),
        get_float32_matmul_precision=lambda: RUNTIME["float32_matmul_precision"],
    )


def test_torch_runtime_is_read_from_an_imported_torch_only() -> None:
    assert torch_runtime({}) is None  # not imported: nothing is imported to find out
    rt = torch_runtime({"torch": fake_torch()})
    assert rt == TorchRuntime(
        version="2.11.0+cu130",
        cuda="13.0",
        cudnn="9.19.0",
        arch_list=("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"),
        allow_tf32_matmul=False,
        allow_tf32_cudnn=True,
        float32_matmul_precision="highest",
    )


def test_a_broken_torch_does_not_break_the_snapshot() -> None:
    broken = types.SimpleNamespace(__version__="2.0", version=None)
    rt = torch_runtime({"torch": broken})
    assert rt is not None and rt.version == "2.0" and rt.arch_list == ()


def _with_gpu(cc: str, arch_list: tuple[str, ...] = ()) -> Any:
    rt = TorchRuntime(version="2.11.0+cu130", cuda="13.0", arch_list=arch_list) if arch_list else None
    devices = tuple(dataclasses.replace(d, compute_capability=cc) for d in BASE.gpu.devices)
    return dataclasses.replace(BASE, gpu=dataclasses.replace(BASE.gpu, devices=devices, torch=rt))


def test_h200_is_covered_by_the_cu130_build() -> None:
    assert list(arch_unsupported(BASE)) == []
    assert list(arch_unsupported(_with_gpu("9.0", PROCESS["torch"]["arch_list"]))) == []


def test_pascal_gpu_with_the_cu130_build_is_critical() -> None:
    report = compare(BASE, _with_gpu("6.1"))
    finding = next(f for f in report.findings if f.id == "gpu.arch.unsupported")
    assert finding.severity.label == "critical"
    assert "no kernel image is available" in finding.message
    assert "per the release table for CUDA 13.0" in finding.message


def test_recorded_arch_list_wins_over_the_table() -> None:
    assert list(arch_unsupported(_with_gpu("8.9", ("sm_80", "sm_90")))) == []  # sm_80 cubins run on 8.9
    assert list(arch_unsupported(_with_gpu("8.0", ("sm_80", "sm_90")))) == []
    (change,) = arch_unsupported(_with_gpu("8.6", ("sm_89", "sm_90")))
    assert "sm_89, sm_90, per torch.cuda.get_arch_list()" in change.fields["archs"]


@pytest.mark.parametrize("cc", ["8.9", "8.6", "10.3", "12.1"], ids=["L4-L40S-4090", "A10", "B300", "DGX-Spark"])
def test_a_later_minor_runs_the_real_cu130_build(cc: str) -> None:
    """The issue's false critical: sm_86 cubins run on 8.9 (an earlier minor of the same major)."""
    fp = _with_gpu(cc, PROCESS["torch"]["arch_list"])
    assert list(arch_unsupported(fp)) == []
    found = {f.id for f in compare(BASE, fp, self_checks=True).findings}
    assert "gpu.arch.unsupported" not in found
    assert list(arch_unsupported(_with_gpu(cc))) == []  # the release table says the same


@pytest.mark.parametrize(
    ("cc", "arch_list", "fires"),
    [
        ("10.0", ("sm_80", "sm_90a"), True),  # architecture-specific code runs on 9.0 alone
        ("9.0", ("sm_80", "sm_90a"), False),
        ("12.0", ("sm_80", "compute_90"), False),  # PTX JIT-compiles for newer majors
        ("12.0", ("sm_80", "compute_90a"), True),  # ...but not architecture-specific PTX
        ("10.3", ("sm_90", "sm_100f"), False),  # family-specific: the 10.x family
        ("12.0", ("sm_90", "sm_100f"), True),
        ("13.0", ("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"), True),  # the real build has no PTX
        ("8.7", ("sm_80", "sm_86", "sm_90"), True),  # Jetson Orin runs no discrete-GPU cubins
    ],
)
def test_arch_suffixes_and_ptx(cc: str, arch_list: tuple[str, ...], fires: bool) -> None:
    assert bool(list(arch_unsupported(_with_gpu(cc, arch_list)))) is fires


def test_the_real_process_loaded_two_openblas_builds() -> None:
    shipped = {
        path: NativeLib("blas", "openblas", path, package)
        for path, package in (
            ("numpy.libs/libscipy_openblas64_-61654e39.so", "numpy"),
            ("scipy.libs/libscipy_openblas-5f890258.so", "scipy"),
        )
    }
    libs = loaded_libraries(PROCESS["mapped_libraries"], [SITE], shipped)
    fp = dataclasses.replace(BASE, native=dataclasses.replace(BASE.native, loaded=libs))
    (change,) = blas_duplicates(fp)
    assert change.subject == "openblas" and change.fields["count"] == "2"
    assert "numpy" in change.actual and "scipy" in change.actual


def test_wheel_cudnn_loaded_is_fine_system_cudnn_is_not() -> None:
    assert list(loaded_mismatch(BASE)) == []  # the real process loaded the wheel's cuDNN
    assert compare(BASE, BASE, self_checks=True).findings == ()


def _two_openblas() -> Any:
    shipped = {
        path: NativeLib("blas", "openblas", path, package)
        for path, package in (
            ("numpy.libs/libscipy_openblas64_-61654e39.so", "numpy"),
            ("scipy.libs/libscipy_openblas-5f890258.so", "scipy"),
        )
    }
    libs = loaded_libraries(PROCESS["mapped_libraries"], [SITE], shipped)
    return dataclasses.replace(BASE, native=dataclasses.replace(BASE.native, loaded=libs))


def _system_cudnn() -> Any:
    system = NativeLib("cudnn", "nvidia", "/usr/lib/x86_64-linux-gnu/libcudnn.so.9", "", "9.1.0")
    loaded = (*BASE.native.loaded, system)
    return dataclasses.replace(BASE, native=dataclasses.replace(BASE.native, loaded=loaded))


def test_a_gpu_torch_cannot_run_on_is_a_self_check() -> None:
    """Even where the lockfile had the same GPU, `check` says that torch has no kernels for it."""
    pascal = _with_gpu("6.1")
    assert "gpu.arch.unsupported" not in {f.id for f in compare(pascal, pascal).findings}  # no drift
    assert "gpu.arch.unsupported" in {f.id for f in compare(pascal, pascal, self_checks=True).findings}


def test_a_system_cudnn_loaded_over_the_wheels_is_a_self_check() -> None:
    fp = _system_cudnn()
    (change,) = loaded_mismatch(fp)
    assert change.subject == "cudnn" and change.actual.startswith("/usr/lib/")
    assert "native.loaded.mismatch" not in {f.id for f in compare(fp, fp).findings}
    assert "native.loaded.mismatch" in {f.id for f in compare(fp, fp, self_checks=True).findings}


def test_two_openblas_builds_are_drift_only() -> None:
    """numpy's and scipy's wheels each ship an OpenBLAS: every process with both loads two, so only a new
    duplicate is reported, never the one the lockfile already had."""
    fp = _two_openblas()
    assert "native.blas.duplicate" not in {f.id for f in compare(fp, fp, self_checks=True).findings}
    assert "native.blas.duplicate" in {f.id for f in compare(BASE, fp, self_checks=True).findings}
