"""The GPU part of the battery (torch matmul on CUDA: float32 with TF32 off and on, float16, bfloat16), its bounds
and the GPU as a likely cause.

No GPU exists here, so the battery's GPU code runs against a stand-in ``torch`` whose "device" is numpy: it shows
which kernels are asked for, that each runs at the matmul precision its name says and puts the process's setting
back, and what the battery records; the numbers themselves are the device machine's to show (bench/gpu_check.sh).
"""

from __future__ import annotations

import dataclasses
import importlib.machinery
import sys
import types
from typing import Any, Dict, List

import numpy as np
import pytest

from envcheck.compare import compare
from envcheck.numerics import battery
from envcheck.numerics.bounds import bound_for, tolerance_ulps
from tests.numerics.test_findings import KERNEL, NUMERICS, _fp

GPU_NAMES = [
    f"torch.matmul cuda {label} {n}x{n}"
    for n in (127, 1000)
    for label in ("f32 tf32-off", "f32 tf32-on", "f16", "bf16")
]


class _Tensor:
    def __init__(self, array: Any) -> None:
        self.array = array

    def to(self, where: Any) -> _Tensor:
        return _Tensor(self.array.astype(where)) if isinstance(where, type) else self

    def float(self) -> _Tensor:
        return _Tensor(self.array.astype(np.float32))

    def cpu(self) -> _Tensor:
        return self

    def numpy(self) -> Any:
        return self.array


def _fake_torch(available: bool = True) -> types.ModuleType:
    torch: Any = types.ModuleType("torch")
    torch.__spec__ = importlib.machinery.ModuleSpec("torch", None)
    torch.__version__ = "2.13.0+cu130"
    torch.float32, torch.float16, torch.bfloat16 = np.float32, np.float16, np.float32
    torch.precision = "highest"
    torch.calls: List[str] = []
    torch.from_numpy = _Tensor
    torch.device = lambda kind, index=0: f"{kind}:{index}"

    def matmul(a: _Tensor, b: _Tensor) -> _Tensor:
        torch.calls.append(f"{a.array.dtype} {torch.precision}")
        wide = a.array.astype(np.float32) @ b.array.astype(np.float32)  # numpy has no fast float16 matmul
        return _Tensor(wide.astype(a.array.dtype))

    def set_precision(value: str) -> None:
        torch.precision = value

    torch.matmul = matmul
    torch.get_float32_matmul_precision = lambda: torch.precision
    torch.set_float32_matmul_precision = set_precision
    props = types.SimpleNamespace(name="NVIDIA H200", major=9, minor=0)
    torch.cuda = types.SimpleNamespace(
        is_available=lambda: available, synchronize=lambda: None, get_device_properties=lambda i: props
    )
    torch.version = types.SimpleNamespace(cuda="13.0")
    return torch


def _battery() -> Dict[str, Any]:
    namespace: Dict[str, Any] = {"__name__": "envcheck_battery_under_test"}
    exec(compile(battery.SOURCE, "<battery>", "exec"), namespace)
    return namespace


def test_the_gpu_kernels_run_at_the_precision_their_names_say(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = _fake_torch()
    monkeypatch.setitem(sys.modules, "torch", torch)
    kernels = _battery()["_torch_gpu_kernels"](np)
    assert [name for name, _ in kernels] == GPU_NAMES
    torch.precision = "medium"  # the serving process's own setting
    results = [thunk() for _, thunk in kernels[:4]]
    assert torch.calls == ["float32 highest", "float32 high", "float16 highest", "float32 highest"]
    assert torch.precision == "medium"  # put back after each kernel
    assert all(r.dtype == np.float32 and r.shape == (127, 127) for r in results)


def test_no_cuda_device_no_gpu_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", _fake_torch(available=False))
    assert _battery()["_torch_gpu_kernels"](np) == []
    monkeypatch.delitem(sys.modules, "torch")
    assert _battery()["_torch_gpu_kernels"](np) == []  # torch never imported: none either


def test_the_battery_records_the_gpu_it_ran_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", _fake_torch())
    out = _battery()["run"](np)
    names = [k["name"] for k in out["kernels"]]
    assert names[-len(GPU_NAMES) :] == GPU_NAMES and "torch.matmul cpu f32 1000x1000" in names
    assert out["versions"]["cuda device"] == "NVIDIA H200 sm_90" and out["versions"]["torch cuda"] == "13.0"


def test_bounds_of_the_gpu_kernels() -> None:
    # float32 accumulation, either TF32 setting: the matmul's own bound
    assert tolerance_ulps("torch.matmul cuda f32 tf32-on 1000x1000") == tolerance_ulps(
        "numpy.matmul f32 1000x1000"
    )
    assert bound_for("torch.matmul cuda f32 tf32-off 127x127").known
    # a half-precision result may land one of its own ULP apart on each side, and no more
    f16, bf16 = tolerance_ulps("torch.matmul cuda f16 1000x1000"), tolerance_ulps("torch.matmul cuda bf16 127x127")
    assert 2 * 2**13 < f16 < 3 * 2**13 and 2 * 2**16 < bf16 < 3 * 2**16
    # TF32 rounds the inputs to 10 fraction bits: a run with it on against one with it off is beyond the bound
    assert tolerance_ulps("torch.matmul cuda f32 tf32-on 1000x1000") < 2 ** (23 - 10)


def test_a_changed_gpu_kernel_names_the_gpu_as_the_cause() -> None:
    kernel = dataclasses.replace(KERNEL, name="torch.matmul cuda f32 tf32-on 1000x1000", shape=(1000, 1000))
    before = dataclasses.replace(
        NUMERICS, kernels=(kernel,), versions={**NUMERICS.versions, "cuda device": "NVIDIA H200 sm_90"}
    )
    moved = dataclasses.replace(kernel, digest="fedcba9876543210", sample=("1.0", repr(-8.0 * (1 + 2**-11))))
    after = dataclasses.replace(
        NUMERICS, kernels=(moved,), versions={**NUMERICS.versions, "cuda device": "NVIDIA A100-SXM4-80GB sm_80"}
    )
    (finding,) = [f for f in compare(_fp(before), _fp(after)).findings if f.id == "numerics.changed"]
    assert finding.subject == "torch.matmul cuda f32 tf32-on 1000x1000"
    assert "GPU NVIDIA H200 sm_90 -> NVIDIA A100-SXM4-80GB sm_80" in finding.message
    assert "cuda device" not in finding.message  # named as the GPU, not as "another build"
    assert "GPU the model was verified on" in finding.remedy
