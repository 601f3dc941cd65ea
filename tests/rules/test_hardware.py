"""CPU and CUDA rules fed by what packages' own files say (native.builds) and by the image's CUDA_VERSION.

The base is the real H200 lockfile; numpy's lists are those numpy 2.5.2 reported there (numpy-show-runtime.txt)
and those real wheels' binaries state (fixtures/numpy-simd).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from typing import Callable, Iterable, List

import pytest

from envcheck import lockfile, probe
from envcheck.compare import compare
from envcheck.findings import Severity
from envcheck.isa import level_flags
from envcheck.model import CpuInfo, CudaComponent, Fingerprint, PackageBuild
from tests.conftest import H200
from tests.rules.test_rulebook import BASE, r

NUMPY_H200 = PackageBuild(
    "numpy",
    "numpy/_core/_multiarray_umath.cpython-312-x86_64-linux-gnu.so",
    simd_baseline=("X86_V2",),
    simd_dispatch=("X86_V3", "X86_V4", "AVX512_ICL", "AVX512_SPR"),
)


def with_builds(fp: Fingerprint, *builds: PackageBuild) -> Fingerprint:
    return r(fp, native=dataclasses.replace(fp.native, builds=builds))


def with_cpu(fp: Fingerprint, flags: Iterable[str], level: str, **changes: object) -> Fingerprint:
    cpu = dataclasses.replace(fp.cpu, flags=tuple(sorted(flags)), isa_level=level, **changes)  # type: ignore[arg-type]
    return r(fp, cpu=cpu)


def test_numpy_baseline_from_its_build_names_the_missing_feature() -> None:
    base = with_builds(BASE, NUMPY_H200)
    old_cpu = with_cpu(base, set(base.cpu.flags) - {"popcnt", "sse4_2"}, "x86-64-v1")
    (finding,) = compare(base, old_cpu).findings
    assert (finding.id, finding.subject, finding.severity) == ("cpu.isa.required", "numpy", Severity.CRITICAL)
    assert finding.message.startswith("numpy needs X86_V2 (its baseline: X86_V2), this CPU is x86-64-v1")
    assert "install a build of numpy made for this CPU" in finding.remedy


def test_a_recorded_baseline_wins_over_the_version_table() -> None:
    # numpy 2.5.2 is >= 2.4 (table: x86-64-v2), but this build's own baseline is SSE3: it imports on a v1 CPU.
    old_build = dataclasses.replace(NUMPY_H200, simd_baseline=("SSE", "SSE2", "SSE3"))
    base = with_builds(BASE, old_build)
    v1 = with_cpu(base, level_flags("x86-64-v1") | {"pni"}, "x86-64-v1")
    ids = {f.id for f in compare(base, v1, self_checks=True).findings}
    assert "cpu.isa.required" not in ids
    assert "cpu.isa.lost" in ids
    # without the recorded build the table applies
    assert "cpu.isa.required" in {f.id for f in compare(BASE, with_builds(v1)).findings}


def test_lost_avx512_names_the_numpy_kernels_that_go() -> None:
    base = with_builds(BASE, NUMPY_H200)
    epyc = with_cpu(base, {f for f in base.cpu.flags if not f.startswith(("avx512", "amx"))}, "x86-64-v3")
    (finding,) = compare(base, epyc).findings
    assert finding.id == "cpu.isa.lost"
    assert "numpy loses its X86_V4, AVX512_ICL, AVX512_SPR kernels; " in finding.message
    assert "(then x86-64-v4, now x86-64-v3)" in finding.message


def test_a_level_drop_without_dispatch_flags_is_still_a_loss() -> None:
    v2 = dataclasses.replace(
        BASE, packages=(), cpu=CpuInfo("x86_64", flags=tuple(level_flags("x86-64-v2")), isa_level="x86-64-v2")
    )
    v1 = with_cpu(v2, level_flags("x86-64-v1"), "x86-64-v1")
    (finding,) = compare(v2, v1).findings
    assert finding.id == "cpu.isa.lost"
    assert "CPU features lost: cx16 lahf_lm pni popcnt sse4_1 sse4_2 ssse3 (then x86-64-v2" in finding.message


def test_aarch64_levels_and_sve() -> None:
    n1 = {"fp", "asimd", "atomics", "asimdrdm", "crc32", "dcpop", "asimddp", "asimdhp", "lrcpc"}
    v1 = n1 | {"jscvt", "fcma", "dit", "uscat", "ilrcpc", "flagm", "sve", "bf16", "i8mm"}
    numpy_arm = PackageBuild(
        "numpy",
        "numpy/_core/x.so",
        simd_baseline=("NEON", "NEON_FP16", "NEON_VFPV4", "ASIMD"),
        simd_dispatch=("ASIMDHP", "ASIMDFHM", "SVE"),
    )
    graviton3 = with_builds(with_cpu(BASE, v1 | {"asimdfhm"}, "armv8.4-a", architecture="aarch64"), numpy_arm)
    graviton2 = with_cpu(graviton3, n1, "armv8.2-a")
    (finding,) = compare(graviton3, graviton2).findings
    assert finding.id == "cpu.isa.lost"
    assert finding.message.startswith(
        "CPU features lost: asimdfhm bf16 dit fcma flagm i8mm ilrcpc jscvt sve uscat "
        "(then armv8.4-a, now armv8.2-a)"
    )
    assert "numpy loses its ASIMDFHM, SVE kernels; " in finding.message
    # a numpy built with SVE in its baseline cannot import on a Graviton2
    sve_build = dataclasses.replace(numpy_arm, simd_baseline=(*numpy_arm.simd_baseline, "SVE"))
    sve_numpy = with_builds(graviton3, sve_build)
    found = compare(sve_numpy, with_builds(graviton2, sve_build)).findings
    assert [(f.id, f.subject) for f in found] == [("cpu.isa.required", "numpy")]
    assert found[0].message.startswith("numpy needs SVE (its baseline: NEON NEON_FP16 NEON_VFPV4 ASIMD SVE)")


def test_flags_of_another_architecture_say_nothing() -> None:
    # An amd64 container under emulation on an arm64 host: /proc/cpuinfo shows the host's Features.
    emulated = with_cpu(with_builds(BASE, NUMPY_H200), {"fp", "asimd", "atomics"}, "", architecture="x86_64")
    assert compare(emulated, emulated, self_checks=True).findings == ()
    assert "cpu.isa.lost" not in {f.id for f in compare(with_builds(BASE, NUMPY_H200), emulated).findings}


def test_another_architecture_is_not_reported_as_lost_features() -> None:
    arm = with_cpu(BASE, {"fp", "asimd", "sve"}, "armv8.0-a", architecture="aarch64")
    assert "cpu.isa.lost" not in {f.id for f in compare(BASE, arm).findings}


def _driver(fp: Fingerprint, driver: str, *shipped: CudaComponent, image_cuda: str = "") -> Fingerprint:
    """The node's driver; with ``image_cuda``, an image that sets CUDA_VERSION but no NVIDIA_REQUIRE_*."""
    variables = dict(fp.env.variables)
    if image_cuda:
        variables = {k: v for k, v in variables.items() if not k.startswith("NVIDIA_REQUIRE_")}
        variables["CUDA_VERSION"] = image_cuda
    gpu = dataclasses.replace(fp.gpu, driver_version=driver, cuda_shipped=shipped)
    return r(fp, gpu=gpu, env=dataclasses.replace(fp.env, variables=variables))


def test_the_images_cuda_version_against_an_old_driver() -> None:
    base = _driver(BASE, "580.159.04", image_cuda="13.0.1")
    (finding,) = compare(base, _driver(base, "570.86.15", image_cuda="13.0.1")).findings
    assert finding.id == "gpu.driver.too_old" and finding.severity == Severity.CRITICAL
    assert "the image's CUDA toolkit (CUDA_VERSION)" in finding.message
    assert finding.remedy.endswith("or build the image on a CUDA base the driver supports")


def test_an_image_that_states_its_requirement_is_judged_by_it() -> None:
    # The real H200 image: CUDA_VERSION 13.0.2 and an NVIDIA_REQUIRE_CUDA whose forward-compatibility branches
    # accept a 570 driver on data-center GPUs. There the image's cuda-compat libcuda (580) serves the cu130 torch
    # wheel; on a GeForce, which forward compatibility does not cover, or outside the branches, it is too new.
    base = _driver(BASE, "580.159.04", CudaComponent("cuda-runtime", "13.0", "torch"))
    on_570 = _driver(base, "570.86.15", *base.gpu.cuda_shipped)
    # it runs, through the compat libraries the node's toolkit must load: said, as medium, not critical
    (forward,) = compare(base, on_570).findings
    assert (forward.id, forward.severity) == ("gpu.driver.forward_compat", Severity.MEDIUM)
    geforce = tuple(dataclasses.replace(d, name="NVIDIA GeForce RTX 4090") for d in on_570.gpu.devices)
    found = compare(base, r(on_570, gpu=dataclasses.replace(on_570.gpu, devices=geforce))).findings
    (finding,) = [f for f in found if f.id == "gpu.driver.too_old"]
    assert "shipped by torch" in finding.message
    on_560 = _driver(base, "560.35.03", *base.gpu.cuda_shipped)
    assert "gpu.driver.too_old" in {f.id for f in compare(base, on_560).findings}


@pytest.mark.parametrize("value", ["", "latest", "12.4.1; rm -rf /"], ids=["unset", "not-a-version", "junk"])
def test_a_cuda_version_that_is_not_a_version_is_not_judged(value: str) -> None:
    base = _driver(BASE, "580.159.04", image_cuda=value)
    assert compare(base, _driver(base, "470.256.02", image_cuda=value)).findings[0].id == "gpu.driver.version"


def test_a_wheel_is_named_before_the_image_for_the_same_cuda() -> None:
    torch = CudaComponent("cuda-runtime", "13.0", "torch")
    base = _driver(BASE, "580.159.04", torch, image_cuda="13.0.1")
    (finding,) = compare(base, _driver(base, "570.86.15", torch, image_cuda="13.0.1")).findings
    assert "shipped by torch" in finding.message and "than CUDA 13.0 needs" in finding.message


def test_a_lockfile_without_the_images_toolkit_in_cuda_shipped_gives_no_drift() -> None:
    # Lockfiles keep CUDA_VERSION in env whatever envcheck version wrote them: the same environment compares
    # equal, whichever source a runtime's version came from (13.0 from torch/version.py, 13.0.2 from a pin).
    old = _driver(BASE, "580.65.06", CudaComponent("cuda-runtime", "13.0.2", "torch"), image_cuda="13.1.0")
    old = r(old, gpu=dataclasses.replace(old.gpu, cuda_driver_version="13.0"))
    new = r(old, gpu=dataclasses.replace(old.gpu, cuda_shipped=(CudaComponent("cuda-runtime", "13.0", "torch"),)))
    assert compare(old, new).findings == ()
    assert [f.id for f in compare(old, new, self_checks=True).findings] == ["gpu.driver.minor_compat"]


# --- BLAS kernels: the real lockfile written inside a torch process on the H200 (numpy's OpenBLAS: SkylakeX) -----

IN_TORCH = lockfile.read(H200 / "envcheck-in-torch.lock")


def _numpy_blas(fp: Fingerprint, **changes: str) -> Fingerprint:
    loaded = tuple(
        dataclasses.replace(lib, **changes) if (lib.kind, lib.package) == ("blas", "numpy") else lib
        for lib in fp.native.loaded
    )
    return r(fp, native=dataclasses.replace(fp.native, loaded=loaded))


def test_the_real_in_process_lockfile_has_the_kernels() -> None:
    (blas,) = [lib for lib in IN_TORCH.native.loaded if lib.kind == "blas"]
    assert (blas.package, blas.version, blas.architecture) == ("numpy", "0.3.34", "SkylakeX")
    assert compare(IN_TORCH, IN_TORCH).findings == ()


def test_same_openblas_other_kernels() -> None:
    (finding,) = compare(IN_TORCH, _numpy_blas(IN_TORCH, architecture="Haswell")).findings
    assert (finding.id, finding.subject, finding.severity) == (
        "native.blas.kernels",
        "openblas (numpy)",
        Severity.MEDIUM,
    )
    assert finding.message.startswith("openblas (numpy): kernels then SkylakeX, now Haswell — ")
    assert finding.remedy.startswith("set OPENBLAS_CORETYPE=SkylakeX")


def test_unknown_kernels_on_one_side_say_nothing() -> None:
    assert compare(IN_TORCH, _numpy_blas(IN_TORCH, architecture="")).findings == ()


def test_a_new_openblas_release_names_both_kernel_sets() -> None:
    # The issue's case: numpy 1.26.4's OpenBLAS 0.3.23 ran Prescott where a newer one runs Cooperlake.
    old = _numpy_blas(IN_TORCH, version="0.3.23", architecture="Prescott")
    new = _numpy_blas(IN_TORCH, version="0.3.27", architecture="Cooperlake")
    (finding,) = compare(old, new).findings
    assert finding.id == "native.blas.version"
    assert finding.message.startswith(
        "openblas (numpy): then 0.3.23 (Prescott kernels), now 0.3.27 (Cooperlake kernels) — "
    )


# --- minor-version compatibility ------------------------------------------------------------------------------


def _node(fp: Fingerprint, driver: str, driver_cuda: str, *shipped: CudaComponent) -> Fingerprint:
    gpu = dataclasses.replace(fp.gpu, driver_version=driver, cuda_driver_version=driver_cuda, cuda_shipped=shipped)
    return r(fp, gpu=gpu)


CU128 = CudaComponent("cuda-runtime", "12.8", "torch")


def test_a_cu128_torch_on_a_cuda_12_2_driver_runs_in_minor_version_compatibility() -> None:
    image = {**BASE.env.variables, "CUDA_VERSION": "12.4.1"}
    with_image = r(BASE, env=dataclasses.replace(BASE.env, variables=image))
    trained = _node(with_image, "570.86.15", "12.8", CU128)
    serving = _node(with_image, "535.183.01", "12.2", CU128)
    (finding,) = compare(trained, serving).findings  # one finding: the newest runtime, by the package
    assert (finding.id, finding.severity) == ("gpu.driver.minor_compat", Severity.MEDIUM)
    assert finding.message.startswith(
        "driver 535.183.01 supports CUDA 12.2, older than the CUDA 12.8 runtime shipped by torch — "
    )
    assert "CUDA_ERROR_UNSUPPORTED_PTX_VERSION" in finding.message
    assert finding.remedy.startswith("upgrade the node's driver to a branch that supports CUDA 12.8")
    # the lockfile's own environment is checked too
    self_found = compare(serving, serving, self_checks=True).findings
    assert [f.id for f in self_found] == ["gpu.driver.minor_compat"]


def test_below_the_major_minimum_is_too_old_not_compat() -> None:
    trained = _node(BASE, "570.86.15", "12.8", CU128)
    ids = {f.id for f in compare(trained, _node(BASE, "470.256.02", "11.4", CU128)).findings}
    assert "gpu.driver.too_old" in ids and "gpu.driver.minor_compat" not in ids


def test_a_driver_as_new_as_the_runtime_needs_no_compat() -> None:
    trained = _node(BASE, "570.86.15", "12.8", CU128)
    assert compare(trained, _node(BASE, "575.57.08", "12.9", CU128)).findings[0].id == "gpu.driver.version"
    assert compare(trained, trained, self_checks=True).findings == ()


def test_no_driver_cuda_version_known_says_nothing() -> None:
    # /proc/driver/nvidia does not tell the CUDA version a driver supports
    trained = _node(BASE, "570.86.15", "", CU128)
    assert compare(trained, trained, self_checks=True).findings == ()


def test_self_check_names_a_package_this_cpu_cannot_import() -> None:
    # The lockfile never had tensorflow; the candidate installs it on a CPU without AVX: the drift rules do not
    # own it (the model did not use it), the self-check does.
    from envcheck.model import Package

    no_avx = with_cpu(BASE, level_flags("x86-64-v2"), "x86-64-v2")
    candidate = r(no_avx, packages=(*no_avx.packages, Package("tensorflow", "2.20.0")))
    drift = {(f.id, f.subject) for f in compare(no_avx, candidate).findings}
    assert ("cpu.isa.required", "tensorflow") not in drift
    checked = {(f.id, f.subject) for f in compare(no_avx, candidate, self_checks=True).findings}
    assert ("cpu.isa.required", "tensorflow") in checked


# --- NPY_DISABLE_CPU_FEATURES against numpy's own baseline ---------------------------------------------------


def _npy_disable(fp: Fingerprint, value: str) -> Fingerprint:
    env = dataclasses.replace(fp.env, variables={**fp.env.variables, "NPY_DISABLE_CPU_FEATURES": value})
    return r(fp, env=env)


def test_disabling_a_baseline_feature_stops_numpy_importing() -> None:
    base = with_builds(BASE, NUMPY_H200)
    found = {f.id: f for f in compare(base, _npy_disable(base, "avx512_spr, X86_V2")).findings}
    assert set(found) == {"env.numpy.baseline_disabled", "env.numerics"}
    finding = found["env.numpy.baseline_disabled"]
    assert finding.severity == Severity.CRITICAL
    assert finding.message.startswith(
        "NPY_DISABLE_CPU_FEATURES='avx512_spr, X86_V2' names X86_V2, part of numpy's baseline (X86_V2) — "
    )
    assert finding.remedy == (
        "remove X86_V2 from NPY_DISABLE_CPU_FEATURES: only numpy's dispatched features can be turned off"
    )


def test_disabling_dispatched_features_only_changes_kernels() -> None:
    base = with_builds(BASE, NUMPY_H200)
    ids = {f.id for f in compare(base, _npy_disable(base, "AVX512_SPR AVX512_ICL")).findings}
    assert ids == {"env.numerics"}


def test_numpy_baseline_disabled_is_also_a_self_check() -> None:
    broken = _npy_disable(with_builds(BASE, NUMPY_H200), "SSE3\tX86_V2")
    found = compare(broken, broken, self_checks=True).findings
    assert [(f.id, f.actual) for f in found] == [("env.numpy.baseline_disabled", "'SSE3\\tX86_V2'")]
    assert "names X86_V2," in found[0].message  # SSE3 is not in this build's baseline names


@pytest.mark.parametrize(
    "pick",
    [
        lambda base, dispatch: base[0],
        lambda base, dispatch: f"{dispatch[-1]},{base[-1]}",
        lambda base, dispatch: base[0].lower(),  # numpy matches names as written: a warning, not an error
        lambda base, dispatch: dispatch[-1],
    ],
    ids=["baseline", "dispatch-and-baseline", "lower-case", "dispatch-only"],
)
def test_the_rule_agrees_with_the_installed_numpy(pick: Callable[[List[str], List[str]], str]) -> None:
    """numpy (a test dependency) asked in a child whether it imports with the variable set."""
    binary = subprocess.run(
        [sys.executable, "-c", "import numpy._core._multiarray_umath as m; print(m.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    baseline, dispatch = probe.numpy_simd(binary)
    value = pick(baseline, dispatch)
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": value}
    imported = subprocess.run([sys.executable, "-c", "import numpy"], env=env, capture_output=True, check=False)
    build = PackageBuild("numpy", "x.so", simd_baseline=tuple(baseline), simd_dispatch=tuple(dispatch))
    broken = _npy_disable(with_builds(BASE, build), value)
    flagged = any(
        f.id == "env.numpy.baseline_disabled" for f in compare(broken, broken, self_checks=True).findings
    )
    assert flagged == (imported.returncode != 0), imported.stderr


def test_without_numpys_build_lists_nothing_is_guessed() -> None:
    broken = _npy_disable(BASE, "X86_V2")
    assert compare(broken, broken, self_checks=True).findings == ()


# --- compatible neighbours: what the vendors' compatibility rules allow stays quiet ---------------------------


def test_an_avx512_machine_against_an_avx2_lockfile_loses_nothing() -> None:
    """x86-64-v4 keeps every v3 flag: a newer CPU only adds kernels (numpy dispatches up, never down)."""
    base = with_builds(BASE, NUMPY_H200)
    avx2 = with_cpu(base, {f for f in base.cpu.flags if not f.startswith(("avx512", "amx"))}, "x86-64-v3")
    ids = {f.id for f in compare(avx2, base, self_checks=True).findings}
    assert not ids & {"cpu.isa.lost", "cpu.isa.required"}
    v2 = with_cpu(base, level_flags("x86-64-v2"), "x86-64-v2")  # numpy's X86_V2 baseline on every level above
    assert not {f.id for f in compare(v2, base, self_checks=True).findings} & {"cpu.isa.lost", "cpu.isa.required"}


def test_a_newer_arm_core_loses_nothing() -> None:
    """Graviton3 (Neoverse V1, armv8.4-a) to Graviton4 (Neoverse V2, armv9.0-a): every feature stays."""
    v1 = {"fp", "asimd", "atomics", "asimdrdm", "crc32", "dcpop", "asimddp", "asimdhp", "lrcpc", "jscvt", "fcma"}
    v1 |= {"dit", "uscat", "ilrcpc", "flagm", "sve", "bf16", "i8mm", "asimdfhm"}
    v2 = v1 | {"sb", "flagm2", "frint", "dcpodp", "sve2", "svebf16", "svei8mm"}
    graviton3 = with_cpu(BASE, v1, "armv8.4-a", architecture="aarch64")
    graviton4 = with_cpu(graviton3, v2, "armv9.0-a")
    assert "cpu.isa.lost" not in {f.id for f in compare(graviton3, graviton4).findings}


def test_more_memory_and_cpus_are_fine() -> None:
    more = r(
        BASE,
        memory=dataclasses.replace(BASE.memory, total_bytes=BASE.memory.total_bytes * 2, cgroup_limit_bytes=None),
        cpu=dataclasses.replace(BASE.cpu, logical_cpus=64, affinity_count=64, cpu_quota_millicores=None),
    )
    assert compare(BASE, more).findings == ()


def test_leaving_a_mig_slice_for_the_whole_gpu_is_fine() -> None:
    def mig(fp: Fingerprint, mode: str) -> Fingerprint:
        devices = tuple(dataclasses.replace(d, mig_mode=mode) for d in fp.gpu.devices)
        return r(fp, gpu=dataclasses.replace(fp.gpu, devices=devices))

    assert compare(mig(BASE, "Enabled"), BASE).findings == ()
    assert compare(mig(BASE, "Enabled"), mig(BASE, "N/A")).findings == ()
    (finding,) = compare(mig(BASE, "N/A"), mig(BASE, "Enabled")).findings
    assert (finding.id, finding.expected, finding.actual) == ("gpu.mig", "N/A", "Enabled")


def test_a_newer_driver_branch_is_no_availability_risk() -> None:
    """Drivers are backward compatible with every older CUDA: only the low 'driver changed' note remains."""
    trained = _node(BASE, "570.86.15", "12.8", CU128)
    found = compare(trained, _node(BASE, "580.159.04", "13.0", CU128), self_checks=True).findings
    assert [(f.id, f.severity) for f in found] == [("gpu.driver.version", Severity.LOW)]


def test_the_minimum_driver_is_compared_as_a_full_version() -> None:
    """CUDA 12.x needs >= 525.60.13 (not any 525): an early 525 driver is too old, 525.60.13 is not."""
    trained = _node(BASE, "570.86.15", "12.8", CU128)
    early = compare(trained, _node(BASE, "525.53.00", "12.0", CU128)).findings
    assert "gpu.driver.too_old" in {f.id for f in early}
    assert "(>= 525.60.13)" in next(f.message for f in early if f.id == "gpu.driver.too_old")
    ids = {f.id for f in compare(trained, _node(BASE, "525.60.13", "12.0", CU128)).findings}
    assert "gpu.driver.too_old" not in ids and "gpu.driver.minor_compat" in ids
