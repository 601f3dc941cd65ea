"""Capture composes the probe's sections with the hardware: what CUDA is shipped needs both."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Dict, Sequence

from envcheck import probe
from envcheck.capture import take
from envcheck.collect.gpu import GpuCollector
from envcheck.model import CudaComponent, PackageBuild
from envcheck.targets.interface import Target
from tests.conftest import make_dist_info
from tests.fakes import FIXTURES, FakeNvml


class SiteTarget(Target):
    """The real probe over one folder, with the environment variables a test gives."""

    kind = "site"

    def __init__(self, site: Path, variables: Dict[str, str]) -> None:
        self.site = site
        self.variables = variables

    @property
    def name(self) -> str:
        return f"site {self.site.name}"

    def probe(self, extra_env: Sequence[str] = ()) -> Dict[str, Any]:
        raw = probe.probe(path=[str(self.site)])
        raw["env"]["variables"] = dict(self.variables)
        return raw


def _site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    make_dist_info(site, "torch", "2.9.1")
    make_dist_info(site, "numpy", "2.5.5")
    (site / "torch").mkdir()
    (site / "torch/version.py").write_text("cuda: Optional[str] = '12.8'\n")
    (site / "numpy/_core").mkdir(parents=True)
    shutil.copy(
        FIXTURES / "numpy-simd/numpy-2.5.5-x86_64.bin",
        site / "numpy/_core/_multiarray_umath.cpython-312-x86_64-linux-gnu.so",
    )
    return site


def test_snapshot_records_builds_and_the_cuda_they_ship(tmp_path: Path) -> None:
    target = SiteTarget(_site(tmp_path), {"CUDA_VERSION": "12.4.1"})
    fp = take(target, hardware=lambda: (GpuCollector(nvml=FakeNvml()),))
    assert fp.native.builds == (
        PackageBuild(
            "numpy",
            "numpy/_core/_multiarray_umath.cpython-312-x86_64-linux-gnu.so",
            simd_baseline=("X86_V2",),
            simd_dispatch=("X86_V3", "X86_V4", "AVX512_ICL", "AVX512_SPR"),
        ),
        PackageBuild("torch", "torch/version.py", cuda="12.8"),
    )
    # torch/version.py's CUDA; the image's CUDA_VERSION stays an environment variable (the rules read it there)
    assert fp.gpu.cuda_shipped == (CudaComponent("cuda-runtime", "12.8", "torch"),)
    assert fp.env.variables["CUDA_VERSION"] == "12.4.1"
    assert fp.gpu.devices and fp.gpu.driver_version  # the replayed H200


def test_without_hardware_nothing_about_cuda_is_invented(tmp_path: Path) -> None:
    fp = take(SiteTarget(_site(tmp_path), {}), hardware=lambda: ())
    assert fp.gpu.cuda_shipped == ()
    assert [b.package for b in fp.native.builds] == ["numpy", "torch"]


def test_envchecks_own_footprint_is_marked_as_the_tools(tmp_path: Path) -> None:
    """envcheck and what only it needs are ``tool``; what the model's packages need too is theirs."""
    site = tmp_path / "site"
    reqs = "Requires-Dist: click>=8\nRequires-Dist: packaging\nRequires-Dist: docker; extra == 'docker'\n"
    for name, version, meta in [
        ("envcheck", "0.1.0", reqs),
        ("click", "8.1.0", ""),
        ("packaging", "24.0", ""),
        ("alpha", "1.0", "Requires-Dist: packaging\n"),
    ]:
        folder, _ = make_dist_info(site, name, version)
        (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{meta}\n")
    fp = take(SiteTarget(site, {}), hardware=lambda: ())
    assert {p.name: p.tool for p in fp.packages} == {
        "alpha": False,
        "click": True,
        "envcheck": True,
        "packaging": False,
    }
    assert "2 present only for envcheck itself" in fp.source("packages").detail


def test_model_paths_are_recorded_relative_to_the_lockfile_folder(tmp_path: Path) -> None:
    (tmp_path / "art").mkdir()
    (tmp_path / "art" / "model.pkl").write_bytes(b"m")
    given = [str(tmp_path / "art" / "model.pkl")]
    fp = take(SiteTarget(tmp_path, {}), hardware=lambda: (), models=given, models_base=str(tmp_path / "art"))
    assert ([m.path for m in fp.models], fp.meta.model_paths) == (["model.pkl"], "lockfile")
    fp = take(SiteTarget(tmp_path, {}), hardware=lambda: (), models=given)
    assert ([m.path for m in fp.models], fp.meta.model_paths) == (given, None)
