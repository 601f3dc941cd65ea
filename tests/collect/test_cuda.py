"""CUDA components read from package metadata, on the H200 capture's real package list and on known names."""

from __future__ import annotations

import json
import random
from email.parser import HeaderParser
from typing import Tuple

import pytest
from packaging.utils import canonicalize_name

from envcheck.collect.cuda import cuda_shipped
from envcheck.model import CudaComponent, Package, PackageBuild
from tests.fakes import FIXTURES

H200_DIR = FIXTURES / "h200-serving"


def _pip_list() -> Tuple[Package, ...]:
    rows = json.loads((H200_DIR / "pip-list.json").read_text(encoding="utf-8"))
    return tuple(Package(canonicalize_name(r["name"]), r["version"]) for r in rows)


def _torch_requires() -> Tuple[str, ...]:
    metadata = (H200_DIR / "dist-info" / "torch-2.11.0.dist-info" / "METADATA").read_text(encoding="utf-8")
    return tuple(HeaderParser().parsestr(metadata).get_all("Requires-Dist") or ())


# The capture's wheels: PyPI's torch 2.11.0 carries no ``+cu130`` label; its CUDA is in its pins.
H200_FROM_NAMES = (
    CudaComponent("cublas", "13.1.0.3", "nvidia-cublas"),
    CudaComponent("cuda-runtime", "13", "cupy-cuda13x"),
    CudaComponent("cuda-runtime", "13", "jax-cuda13-pjrt"),
    CudaComponent("cuda-runtime", "13", "jax-cuda13-plugin"),
    CudaComponent("cuda-runtime", "13.0.96", "nvidia-cuda-runtime"),
    CudaComponent("cudnn", "9.19.0.56", "nvidia-cudnn-cu13"),
    CudaComponent("nccl", "2.28.9", "nvidia-nccl-cu13"),
)


def test_h200_package_list_names_and_versions() -> None:
    assert cuda_shipped(_pip_list()) == H200_FROM_NAMES


def test_h200_torch_cuda_comes_from_its_requires() -> None:
    packages = tuple(
        Package("torch", p.version, requires=_torch_requires()) if p.name == "torch" else p for p in _pip_list()
    )
    shipped = cuda_shipped(packages)
    assert CudaComponent("cuda-runtime", "13.0", "torch") in shipped
    assert [c for c in shipped if c.package != "torch"] == list(H200_FROM_NAMES)


def test_h200_versions_match_what_torch_loaded() -> None:
    # runtime.json: torch reported cuDNN 91900 and CUDA 13.0; torch-process.json saw NCCL 2.28.9 loaded.
    runtime = json.loads((H200_DIR / "runtime.json").read_text(encoding="utf-8"))["torch"]
    by_component = {c.component: c.version for c in H200_FROM_NAMES if c.package.startswith("nvidia-")}
    assert by_component["cudnn"].startswith("9.19.") and runtime["cudnn"] == 91900
    assert by_component["cuda-runtime"].startswith(runtime["cuda"] + ".")
    assert by_component["nccl"].startswith("2.28.")


@pytest.mark.parametrize(
    ("version", "requires", "expected"),
    [
        ("2.11.0+cu130", (), "13.0"),
        ("2.4.0+cu121", (), "12.1"),
        ("2.0.1+cu118", (), "11.8"),
        ("1.4.0+cu92", (), "9.2"),
        ("2.5.1", ('nvidia-cuda-runtime-cu12==12.4.127; platform_system == "Linux"',), "12.4"),
        ("2.11.0", ('cuda-toolkit[cudart]==13.0.2; platform_system == "Linux"',), "13.0"),
        ("2.11.0", ("cuda-toolkit[cudart]>=13.0",), ""),
        ("2.11.0", ("filelock", "not a requirement ]["), ""),
        ("2.4.0+cpu", ("nvidia-cuda-runtime-cu12==12.4.127",), ""),
        ("2.4.0+rocm6.1", (), ""),
        ("2.11.0", (), ""),
    ],
    ids=[
        "cu130",
        "cu121",
        "cu118",
        "cu92",
        "pinned-runtime-cu12",
        "pinned-toolkit",
        "unpinned-toolkit",
        "no-cuda-requirement",
        "cpu-label-wins",
        "rocm",
        "bare",
    ],
)
def test_torch_cuda_runtime(version: str, requires: Tuple[str, ...], expected: str) -> None:
    got = cuda_shipped([Package("torch", version, requires=requires)])
    assert got == ((CudaComponent("cuda-runtime", expected, "torch"),) if expected else ())


@pytest.mark.parametrize(
    ("name", "version", "expected"),
    [
        ("nvidia-cuda-runtime-cu12", "12.4.127", ("cuda-runtime", "12.4.127")),
        ("nvidia-cuda-runtime", "13.0.96", ("cuda-runtime", "13.0.96")),
        ("nvidia-cudnn-cu12", "9.1.0.70", ("cudnn", "9.1.0.70")),
        ("nvidia-cudnn-cu11", "8.5.0.96", ("cudnn", "8.5.0.96")),
        ("nvidia-nccl-cu12", "2.21.5", ("nccl", "2.21.5")),
        ("nvidia-cublas-cu12", "12.4.5.8", ("cublas", "12.4.5.8")),
        ("nvidia-cublas", "13.1.0.3", ("cublas", "13.1.0.3")),
        ("cupy-cuda12x", "13.3.0", ("cuda-runtime", "12")),
        ("cupy-cuda117", "11.6.0", ("cuda-runtime", "11.7")),
        ("jax-cuda12-plugin", "0.4.35", ("cuda-runtime", "12")),
        ("nvidia-cuda-nvrtc-cu12", "12.4.127", None),
        ("nvidia-cudnn-frontend", "1.5.2", None),
        ("cupy", "13.3.0", None),
        ("torchvision", "0.19.0+cu121", None),
    ],
    ids=lambda v: v if isinstance(v, str) and not v[0].isdigit() else None,
)
def test_package_names(name: str, version: str, expected: Tuple[str, str]) -> None:
    got = cuda_shipped([Package(name, version)])
    assert got == ((CudaComponent(*expected, name),) if expected else ())


def test_names_are_canonicalised() -> None:
    assert cuda_shipped([Package("NVIDIA_cuDNN_cu12", "9.1.0.70")]) == (
        CudaComponent("cudnn", "9.1.0.70", "nvidia-cudnn-cu12"),
    )


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.4.7+cuda11.cudnn86", (("cuda-runtime", "11"), ("cudnn", "8.6"))),
        ("0.4.1+cuda12", (("cuda-runtime", "12"),)),
        ("0.4.30", ()),
    ],
    ids=["cuda11-cudnn86", "cuda12", "pypi"],
)
def test_jaxlib_local_labels(version: str, expected: Tuple[Tuple[str, str], ...]) -> None:
    assert cuda_shipped([Package("jaxlib", version)]) == tuple(CudaComponent(c, v, "jaxlib") for c, v in expected)


def test_order_and_duplicates_do_not_matter() -> None:
    packages = list(_pip_list())
    shuffled = packages * 2
    random.Random(4).shuffle(shuffled)
    assert cuda_shipped(shuffled) == cuda_shipped(packages) == H200_FROM_NAMES


def test_nothing_cuda_ships_nothing() -> None:
    assert cuda_shipped([Package("numpy", "2.3.0"), Package("torch", "2.4.0+cpu")]) == ()


# --- torch/version.py --------------------------------------------------------------------------


def _torch_build(cuda: str) -> PackageBuild:
    return PackageBuild("torch", "torch/version.py", cuda=cuda)


def test_torch_version_py_wins_over_label_and_pins() -> None:
    # A wheel relabelled by hand, or a source build whose pins say nothing: the file states what was compiled.
    torch = Package("torch", "2.9.1+cu126", requires=("nvidia-cuda-runtime-cu12==12.6.77",))
    assert cuda_shipped([torch], [_torch_build("12.8")]) == (CudaComponent("cuda-runtime", "12.8", "torch"),)


def test_torch_version_py_without_cuda_is_a_cpu_build() -> None:
    torch = Package("torch", "2.9.1", requires=("nvidia-cuda-runtime-cu12==12.6.77",))
    assert cuda_shipped([torch], [_torch_build("")]) == ()


def test_torch_without_a_recorded_build_falls_back_to_its_metadata() -> None:
    numpy_only = PackageBuild("numpy", "numpy/_core/x.so", simd_baseline=("X86_V2",))
    assert cuda_shipped([Package("torch", "2.9.1+cu130")], [numpy_only]) == (
        CudaComponent("cuda-runtime", "13.0", "torch"),
    )
