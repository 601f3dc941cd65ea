"""Table-driven tests over the rulebook: each rule fires on its case, and only there.

The base is the real lockfile envcheck wrote on the H200 serving machine; each case changes one thing in a copy
and names the findings it must produce, no more, no fewer.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, List, Tuple

import pytest

from envcheck import lockfile
from envcheck.compare import compare
from envcheck.findings import AVAILABILITY, PREDICTION, Severity
from envcheck.isa import level_flags
from envcheck.model import (
    NONE_FOUND,
    CudaComponent,
    DirectUrl,
    Fingerprint,
    GpuDevice,
    ModelFile,
    NativeLib,
    Package,
    Source,
)
from envcheck.policy import Policy
from envcheck.rules.rulebook import CHURN_PACKAGES, RULES
from tests.conftest import H200

BASE = lockfile.read(H200 / "envcheck.lock")
BASE = dataclasses.replace(
    BASE,
    models=(ModelFile("model/weights.safetensors", 1024, "ab" * 32),),
    sources={**BASE.sources, "models": Source("ok", "1 files hashed")},
)

Mutation = Callable[[Fingerprint], Fingerprint]


def r(fp: Fingerprint, **changes: object) -> Fingerprint:
    return dataclasses.replace(fp, **changes)  # type: ignore[arg-type]


def section(name: str, **changes: object) -> Mutation:
    return lambda fp: r(fp, **{name: dataclasses.replace(getattr(fp, name), **changes)})


def package(name: str, **changes: object) -> Mutation:
    def go(fp: Fingerprint) -> Fingerprint:
        pkgs = tuple(dataclasses.replace(p, **changes) if p.name == name else p for p in fp.packages)  # type: ignore[arg-type]
        return r(fp, packages=pkgs)

    return go


def without(name: str) -> Mutation:
    return lambda fp: r(fp, packages=tuple(p for p in fp.packages if p.name != name))


def adding(pkg: Package) -> Mutation:
    return lambda fp: r(fp, packages=tuple(sorted((*fp.packages, pkg), key=lambda p: p.name)))


def env(**variables: str) -> Mutation:
    def go(fp: Fingerprint) -> Fingerprint:
        merged = {k: v for k, v in {**fp.env.variables, **variables}.items() if v != ""}
        return r(fp, env=dataclasses.replace(fp.env, variables=merged))

    return go


def env_set(**variables: str) -> Mutation:
    """Like ``env``, but an empty value stays set, and empty (``CUDA_VISIBLE_DEVICES=""`` hides every GPU)."""
    return lambda fp: r(fp, env=dataclasses.replace(fp.env, variables={**fp.env.variables, **variables}))


def gpu(**changes: object) -> Mutation:
    def go(fp: Fingerprint) -> Fingerprint:
        devices = tuple(dataclasses.replace(d, **changes) for d in fp.gpu.devices)  # type: ignore[arg-type]
        return r(fp, gpu=dataclasses.replace(fp.gpu, devices=devices))

    return go


def no_gpu(fp: Fingerprint) -> Fingerprint:
    sources = {**fp.sources, "gpu": Source(NONE_FOUND, "nvidia-smi: not on PATH")}
    return r(
        fp, gpu=dataclasses.replace(fp.gpu, devices=(), driver_version="", cuda_driver_version=""), sources=sources
    )


def both(*mutations: Mutation) -> Mutation:
    def go(fp: Fingerprint) -> Fingerprint:
        for m in mutations:
            fp = m(fp)
        return fp

    return go


def shipped(*libs: NativeLib) -> Mutation:
    return lambda fp: r(fp, native=dataclasses.replace(fp.native, shipped=libs))


BLAS = NativeLib("blas", "openblas", "numpy.libs/libscipy_openblas64_-61654e39.so", "numpy", "0.3.34")
GOMP = NativeLib("openmp", "gnu", "torch/lib/libgomp.so.1", "torch")

# (case id, mutation, policy, self_checks, expected {(rule id, subject)})
CASES: List[Tuple[str, Mutation, Policy, bool, set]] = [
    (
        "python-impl",
        section("python", implementation="PyPy"),
        Policy(),
        False,
        {("python.implementation", "python")},
    ),
    ("python-minor", section("python", version="3.13.1"), Policy(), False, {("python.version.minor", "python")}),
    ("python-patch", section("python", version="3.12.9"), Policy(), False, {("python.version.patch", "python")}),
    (
        "free-threaded",
        section("python", free_threaded=True),
        Policy(),
        False,
        {("python.free_threaded", "python")},
    ),
    ("arch", section("os", machine="aarch64"), Policy(), False, {("os.architecture", "architecture")}),
    (
        "libc-family",
        section("os", libc_family="musl", libc_version="1.2.5"),
        Policy(),
        False,
        {("os.libc.family", "libc")},
    ),
    (
        "glibc-too-old",
        both(section("os", libc_version="2.17"), package("torch")),
        Policy(),
        False,
        {("os.libc.too_old", "torch")} | {("os.libc.too_old", n) for n in ("markupsafe",)},
    ),
    ("glibc-newer", section("os", libc_version="2.41"), Policy(), False, {("os.libc.version", "glibc")}),
    (
        "distro",
        section("os", distro_id="debian", distro_version_id="12", distro_name="Debian 12"),
        Policy(),
        False,
        {("os.distribution", "distribution")},
    ),
    ("kernel", section("os", release="6.1.0-28-amd64"), Policy(), False, {("os.kernel", "kernel")}),
    ("pkg-missing", without("scipy"), Policy(), False, {("package.missing", "scipy")}),
    (
        "pkg-missing-most",  # a lockfile from another machine: one headline, the missing ones filed under it
        lambda fp: r(fp, packages=fp.packages[:40]),
        Policy(),
        False,
        {("package.missing.most", "packages")}
        | {("package.missing", p.name) for p in BASE.packages[40:] if p.name not in CHURN_PACKAGES},
    ),
    (
        "pkg-missing-critical",
        without("torch"),
        Policy(model_critical=frozenset(["torch"])),
        False,
        {("package.missing.critical", "torch")},
    ),
    ("pkg-major", package("numpy", version="3.0.0"), Policy(), False, {("package.version.major", "numpy")}),
    (
        "pkg-minor-numeric",
        package("numpy", version="2.4.1"),
        Policy(),
        False,
        {("package.version.minor.numeric", "numpy")},
    ),
    ("pkg-minor", package("requests", version="2.40.0"), Policy(), False, {("package.version.minor", "requests")}),
    ("pkg-patch", package("numpy", version="2.5.3"), Policy(), False, {("package.version.patch", "numpy")}),
    ("pkg-opaque", package("six", version="weird-build-7"), Policy(), False, {("package.version.opaque", "six")}),
    (
        "pkg-build-tags",
        package("numpy", wheel_tags=("cp312-cp312-musllinux_1_2_x86_64",)),
        Policy(),
        False,
        {("package.build", "numpy")},
    ),
    (
        "pkg-build-record",
        package("numpy", record_digest="sha256:" + "0" * 64),
        Policy(),
        False,
        {("package.build", "numpy")},
    ),
    ("pkg-local-label", package("torch", version="2.11.0+cu130"), Policy(), False, {("package.build", "torch")}),
    (
        "pkg-source",  # no RECORD digest to tell the files apart: the source is all there is to go on
        package(
            "six",
            record_digest="",
            direct_url=DirectUrl(url="https://git.example.com/six.git", kind="vcs", vcs="git", commit_id="abc123"),
        ),
        Policy(),
        False,
        {("package.source", "six")},
    ),
    (
        "pkg-source-same-bytes",  # another source, the same RECORD digest: the same files, nothing to report
        package(
            "six",
            direct_url=DirectUrl(url="https://git.example.com/six.git", kind="vcs", vcs="git", commit_id="abc123"),
        ),
        Policy(),
        False,
        set(),
    ),
    (
        "pkg-source-other-bytes",  # another source and other files: one finding, a build change of a pure package
        package(
            "six",
            record_digest="sha256:" + "1" * 64,
            direct_url=DirectUrl(url="file:///wheels/six-1.17.0-py2.py3-none-any.whl", kind="archive"),
        ),
        Policy(),
        False,
        {("package.build.files", "six")},
    ),
    (
        "pkg-extra-changes-results",  # bottleneck beside pandas: pandas computes nan-reductions with it
        adding(Package("bottleneck", "1.4.2", wheel_tags=("cp312-cp312-manylinux_2_17_x86_64",))),
        Policy(),
        False,
        {("package.extra.changes_results", "bottleneck")},
    ),
    (
        "numpy2-dependent",  # numpy 2 installed, h5py older than its first release built for numpy 2
        package("h5py", version="3.10.0"),
        Policy(),
        True,
        {("package.version.minor", "h5py"), ("package.numpy2.dependent", "h5py")},
    ),
    ("pkg-extra-hidden", adding(Package("left-pad", "1.0")), Policy(), False, set()),
    (
        "pkg-extra-shown",
        adding(Package("left-pad", "1.0")),
        Policy(show_extra=True),
        False,
        {("package.extra", "left-pad")},
    ),
    ("churn-pip", package("pip", version="99.0"), Policy(), False, set()),
    (
        "req-missing",
        adding(Package("needy", "1.0", requires=("not-installed-anywhere>=1",))),
        Policy(),
        True,
        {("package.requirement.missing", "needy")},
    ),
    (
        "req-missing-each",  # four unmet requirements of one package: four findings, each with its own remedy
        adding(Package("needy", "1.0", requires=("absent-a>=1", "absent-b", "absent-c<3", "absent-d"))),
        Policy(),
        True,
        {("package.requirement.missing", "needy")},
    ),
    (
        "req-conflict",
        adding(Package("needy", "1.0", requires=("six>=99",))),
        Policy(),
        True,
        {("package.requirement.conflict", "needy")},
    ),
    (
        "req-numpy2",  # numpy 2.x installed, numpy 1.x required: built against numpy 1, fails at import
        adding(Package("needy", "1.0", requires=("numpy<2",))),
        Policy(),
        True,
        {("package.requirement.numpy2", "needy")},
    ),
    (
        "req-numpy-1-pin-on-2",  # an upper bound inside 2.x is an ordinary conflict, not the 1 -> 2 boundary
        adding(Package("needy", "1.0", requires=("numpy>=2,<2.1",))),
        Policy(),
        True,
        {("package.requirement.conflict", "needy")},
    ),
    (
        "req-extra-marker",
        adding(Package("needy", "1.0", requires=("absent-thing; extra == 'dev'",))),
        Policy(),
        True,
        set(),
    ),
    ("shadowed", package("six", shadowed=("1.16.0",)), Policy(), True, {("package.shadowed", "six")}),
    (
        "wheel-unsupported",
        adding(Package("native-ext", "1.0", wheel_tags=("cp311-cp311-manylinux_2_17_x86_64",))),
        Policy(),
        True,
        {("package.wheel.unsupported", "native-ext")},
    ),
    (
        "blas-vendor",
        shipped(dataclasses.replace(BLAS, vendor="mkl", path="libmkl_rt.so.2", version=""), GOMP),
        Policy(),
        False,
        {("native.blas.vendor", "blas")},
    ),
    (
        "blas-version",
        shipped(dataclasses.replace(BLAS, version="0.3.29"), GOMP),
        Policy(),
        False,
        {("native.blas.version", "openblas (numpy)")},
    ),
    (
        "openmp-vendor",
        shipped(BLAS, dataclasses.replace(GOMP, vendor="intel", path="libiomp5.so")),
        Policy(),
        False,
        {("native.openmp.vendor", "openmp")},
    ),
    (
        "isa-required",
        section("cpu", isa_level="x86-64-v1", flags=tuple(sorted(level_flags("x86-64-v1")))),
        Policy(),
        False,
        {("cpu.isa.required", "numpy")},
    ),
    (
        "isa-lost",
        lambda fp: r(
            fp,
            cpu=dataclasses.replace(
                fp.cpu,
                flags=tuple(f for f in fp.cpu.flags if not f.startswith(("avx512", "amx"))),
                isa_level="x86-64-v3",
            ),
        ),
        Policy(),
        False,
        {("cpu.isa.lost", "instruction set")},
    ),
    (
        "cpu-vendor",
        section("cpu", vendor="AuthenticAMD", model_name="AMD EPYC 9654"),
        Policy(),
        False,
        {("cpu.vendor", "vendor")},
    ),
    (
        "cpu-model",
        section("cpu", model_name="Intel(R) Xeon(R) Platinum 8480+"),
        Policy(),
        False,
        {("cpu.model", "model")},
    ),
    ("cpu-count", section("cpu", cpu_quota_millicores=4000), Policy(), False, {("cpu.count", "usable CPUs")}),
    ("cpu-more", section("cpu", logical_cpus=64, affinity_count=64), Policy(), False, set()),
    ("memory", section("memory", cgroup_limit_bytes=8 << 30), Policy(), False, {("memory.limit", "memory")}),
    (
        "memory-noise",
        lambda fp: r(fp, memory=dataclasses.replace(fp.memory, total_bytes=int(fp.memory.total_bytes * 0.98))),
        Policy(),
        False,
        set(),
    ),
    ("gpu-missing", no_gpu, Policy(), False, {("gpu.missing", "gpu")}),
    (
        "gpu-model",
        gpu(name="NVIDIA A100-SXM4-80GB", compute_capability="8.0", memory_total_bytes=85899345920),
        Policy(),
        False,
        {("gpu.model", "gpu"), ("gpu.memory", "gpu")},
    ),
    (
        "gpu-count",
        lambda fp: r(fp, gpu=dataclasses.replace(fp.gpu, devices=fp.gpu.devices * 2)),
        Policy(),
        False,
        set(),
    ),
    ("gpu-mig", gpu(mig_mode="Enabled"), Policy(), False, {("gpu.mig", "gpu")}),
    (
        "gpu-cc-6.1-on-cu130",
        gpu(name="Tesla P40", compute_capability="6.1"),
        Policy(),
        False,
        {("gpu.model", "gpu"), ("gpu.arch.unsupported", "torch")},
    ),
    (
        "gpu-cc-newer-than-build",
        gpu(name="Future GPU", compute_capability="13.0"),
        Policy(),
        False,
        {("gpu.model", "gpu")},
    ),
    (
        "gpu-cc-8.9-runs-sm_86-cubins",  # an L4 with the cu130 torch: other numerics, no missing kernels
        gpu(name="NVIDIA L4", compute_capability="8.9", memory_total_bytes=24152899584),
        Policy(),
        False,
        {("gpu.model", "gpu"), ("gpu.memory", "gpu")},
    ),
    (
        "gpu-same-cc-other-sku",  # same compute capability, same kernels: only the memory can matter
        gpu(name="NVIDIA H100 80GB HBM3", memory_total_bytes=85520809984),
        Policy(),
        False,
        {("gpu.memory", "gpu")},
    ),
    (
        "gpu-same-cc-more-memory",
        gpu(name="NVIDIA GH200 144G HBM3e", memory_total_bytes=154618822656),
        Policy(),
        False,
        set(),
    ),
    ("gpu-no-mig-support", gpu(mig_mode="N/A"), Policy(), False, set()),  # N/A and Disabled: the whole GPU
    (
        "blas-duplicate",
        lambda fp: r(
            fp,
            native=dataclasses.replace(
                fp.native,
                loaded=(
                    BLAS,
                    dataclasses.replace(
                        BLAS,
                        path="scipy.libs/libscipy_openblas-5f890258.so",
                        package="scipy",
                        version="0.3.31.dev",
                    ),
                ),
            ),
        ),
        Policy(),
        False,
        {("native.blas.duplicate", "openblas")},
    ),
    (
        "loaded-system-cudnn",
        lambda fp: r(
            fp,
            native=dataclasses.replace(
                fp.native,
                loaded=(
                    NativeLib("cudnn", "nvidia", "/usr/lib/x86_64-linux-gnu/libcudnn.so.9.14.0", "", "9.14.0"),
                ),
            ),
        ),
        Policy(),
        False,
        {("native.loaded.mismatch", "cudnn")},
    ),
    (
        "driver-too-old",  # 560 is none of the image's forward-compatibility branches: refused, and too old
        section("gpu", driver_version="560.35.03", cuda_driver_version="12.6"),
        Policy(),
        False,
        {("gpu.driver.too_old", "driver"), ("gpu.require.unmet", "NVIDIA_REQUIRE_CUDA")},
    ),
    (
        "driver-forward-compat-branch",  # 570 is: the image's cuda-compat libcuda serves the CUDA 13 wheels
        section("gpu", driver_version="570.86.15", cuda_driver_version="12.8"),
        Policy(),
        False,
        {("gpu.driver.forward_compat", "driver")},
    ),
    (
        "driver-minor-compat",
        lambda fp: r(
            fp,
            gpu=dataclasses.replace(
                fp.gpu,
                cuda_shipped=tuple(
                    dataclasses.replace(c, version="13.2")
                    if (c.component, c.package) == ("cuda-runtime", "torch")
                    else c
                    for c in fp.gpu.cuda_shipped
                ),
            ),
        ),
        Policy(),
        False,
        {("gpu.driver.minor_compat", "driver")},
    ),
    (
        "driver-newer",
        section("gpu", driver_version="590.10.01"),
        Policy(),
        False,
        {("gpu.driver.version", "driver")},
    ),
    ("env-numerics", env(NVIDIA_TF32_OVERRIDE="0"), Policy(), False, {("env.numerics", "NVIDIA_TF32_OVERRIDE")}),
    ("env-threads", env(OMP_NUM_THREADS="4"), Policy(), False, {("env.threads", "OMP_NUM_THREADS")}),
    ("env-locale", env(LC_ALL="de_DE.UTF-8"), Policy(), False, {("env.locale", "LC_ALL")}),
    ("env-timezone", section("env", timezone="Europe/Berlin"), Policy(), False, {("env.locale", "timezone")}),
    ("env-tzdata", section("env", tzdata_version="2024a"), Policy(), False, {("env.tzdata", "tzdata")}),
    # one H200: index 1 names no device, so CUDA shows none (was env.device, a medium "selects accelerators")
    (
        "env-device-hidden",
        env(CUDA_VISIBLE_DEVICES="1"),
        Policy(),
        False,
        {("env.device.hidden", "CUDA_VISIBLE_DEVICES")},
    ),
    (
        "env-device-empty",
        env_set(CUDA_VISIBLE_DEVICES=""),
        Policy(),
        False,
        {("env.device.hidden", "CUDA_VISIBLE_DEVICES")},
    ),
    ("env-device-same-gpu", env(CUDA_VISIBLE_DEVICES="0"), Policy(), False, set()),
    ("env-device", env(NVIDIA_VISIBLE_DEVICES="0,1"), Policy(), False, {("env.device", "NVIDIA_VISIBLE_DEVICES")}),
    (
        "env-device-hidden-jax",
        env(JAX_PLATFORMS="cpu"),
        Policy(),
        False,
        {("env.device.hidden.jax", "JAX_PLATFORMS")},
    ),
    ("env-unused", env(TF_ENABLE_ONEDNN_OPTS="0"), Policy(), False, {("env.unused", "TF_ENABLE_ONEDNN_OPTS")}),
    ("env-tz-utc-alias", both(env(TZ=":UTC"), section("env", timezone="UTC")), Policy(), False, set()),
    ("env-locale-alias", env(LANG="C.utf8", LC_ALL="en_US.utf8"), Policy(), False, set()),
    ("env-threads-default", env(OMP_NUM_THREADS="16"), Policy(), False, set()),
    ("env-image-only", env(CUDA_VERSION="12.4.1", NVIDIA_REQUIRE_CUDA="cuda>=12.4"), Policy(), False, set()),
    (
        "model-digest",
        lambda fp: r(fp, models=(ModelFile("model/weights.safetensors", 1024, "cd" * 32),)),
        Policy(),
        False,
        {("model.digest", "model/weights.safetensors")},
    ),
    (
        "model-missing",
        lambda fp: r(fp, models=()),
        Policy(),
        False,
        {("model.missing", "model/weights.safetensors")},
    ),
    ("ignore-rule", section("os", release="6.1.0"), Policy(ignore_rules=("os.*",)), False, set()),
    ("ignore-package", without("scipy"), Policy(ignore_packages=frozenset(["scipy"])), False, set()),
    ("tolerance-minor", package("numpy", version="2.6.0"), Policy(tolerance={"numpy": "minor"}), False, set()),
    (
        "tolerance-patch-not-minor",
        package("numpy", version="2.6.0"),
        Policy(tolerance={"numpy": "patch"}),
        False,
        {("package.version.minor.numeric", "numpy")},
    ),
]

# Adjustments that need the base to hold a GPU build with a local label.
GPU_BUILD_BASE = package("torch", version="2.11.0+cu130")(BASE)


def _ids(fp_findings: object) -> set:
    return {(f.id, f.subject) for f in fp_findings}  # type: ignore[attr-defined]


def test_identical_environment_gives_no_finding() -> None:
    assert compare(BASE, BASE, self_checks=True).findings == ()


@pytest.mark.parametrize(
    ("mutate", "policy", "self_checks", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule_fires_on_its_case_only(mutate: Mutation, policy: Policy, self_checks: bool, expected: set) -> None:
    report = compare(BASE, mutate(BASE), policy, self_checks=self_checks)
    got = _ids(report.findings)
    if expected and any(rule == "os.libc.too_old" for rule, _ in expected):
        # every wheel needing more than glibc 2.17 is reported; check the rule and two known subjects only
        assert {rule for rule, _ in got} == {"os.libc.too_old"}
        assert ("os.libc.too_old", "torch") in got  # manylinux_2_28
        assert ("os.libc.too_old", "markupsafe") not in got  # also tagged manylinux_2_17: it still loads
        return
    assert got == expected


def test_gpu_build_dropped_to_cpu() -> None:
    report = compare(GPU_BUILD_BASE, package("torch", version="2.11.0+cpu")(GPU_BUILD_BASE))
    (finding,) = report.findings
    assert finding.id == "package.build.gpu_dropped"
    assert set(finding.risks) == {AVAILABILITY, PREDICTION}
    assert "download.pytorch.org/whl/cu130" in finding.remedy


def test_tracked_user_variable() -> None:
    tracked = env(MY_FEATURE_FLAG="on")(BASE)
    report = compare(tracked, env(MY_FEATURE_FLAG="off")(BASE))
    assert _ids(report.findings) == {("env.other", "MY_FEATURE_FLAG")}
    assert compare(BASE, tracked).findings == ()  # a variable only the candidate has was never asked for


def test_gpu_count_dropped() -> None:
    two = r(BASE, gpu=dataclasses.replace(BASE.gpu, devices=BASE.gpu.devices * 2))
    assert _ids(compare(two, BASE).findings) == {("gpu.count", "gpu")}


def test_every_rule_has_a_case() -> None:
    covered = {rule for c in CASES for rule, _ in c[4]} | {"package.build.gpu_dropped", "gpu.count", "env.other"}
    covered |= {"package.version.numpy2", "package.editable.changed"}  # need another base: test_numpy_1_to_2, ...
    covered |= {"gpu.require.unmet", "gpu.require.disabled"}  # tests/rules/test_nvidia_require.py
    covered |= {"native.blas.kernels"}  # tests/rules/test_hardware.py (needs loaded libraries on both sides)
    covered |= {"env.numpy.baseline_disabled"}  # tests/rules/test_hardware.py (needs numpy's build lists)
    covered |= {"env.device.fewer"}  # tests/rules/test_environment.py (needs more than the base's one GPU)
    covered |= {"model.writer.version", "model.writer.newer", "model.reference.unavailable"}  # test_models.py
    covered |= {"evidence.import.failed", "evidence.load.failed", "evidence.load.warned"}  # tests/test_observed.py
    covered |= {"numerics.changed"}  # tests/numerics/test_findings.py (needs a battery on both sides)
    covered |= {"canary.failed"}  # tests/canary/test_canary_cli.py (needs a model server's answers)
    covered |= {"package.files.modified"}  # tests/verify/test_findings.py (needs installed files hashed)
    assert covered == {rule.id for rule in RULES}


def test_messages_say_then_now_and_how_to_fix() -> None:
    for _, mutate, policy, self_checks, _ in CASES:
        for f in compare(BASE, mutate(BASE), policy, self_checks=self_checks).findings:
            assert f.message and f.remedy, f.id
            assert "—" in f.message, f.id  # "what changed — why it matters"
            assert "{" not in f.message + f.remedy, f.id  # every template field was filled


def test_policy_overrides_probability_and_impact() -> None:
    from envcheck.policy import RuleOverride

    policy = Policy(rules={"os.kernel": RuleOverride(probability=5, impact=4)})
    (finding,) = compare(BASE, section("os", release="6.1.0")(BASE), policy).findings
    assert (finding.probability, finding.impact, finding.severity) == (5, 4, Severity.CRITICAL)


def test_not_inspected_hardware_is_skipped_and_said() -> None:
    other = r(
        BASE,
        sources={**BASE.sources, "cpu": Source("not inspected", "a root target does not show hardware")},
        cpu=dataclasses.replace(BASE.cpu, vendor="", flags=()),
    )
    report = compare(BASE, other)
    assert report.findings == ()
    assert "cpu" in report.skipped and "not inspected" in report.skipped["cpu"]


def test_severity_labels_follow_the_matrix() -> None:
    expected: Dict[int, str] = {
        1: "low",
        4: "low",
        5: "medium",
        9: "medium",
        10: "high",
        16: "high",
        20: "critical",
        25: "critical",
    }
    for score, label in expected.items():
        assert Severity.from_score(score).label == label


def test_cuda_shipped_without_gpu_change_is_quiet() -> None:
    more = r(
        BASE,
        gpu=dataclasses.replace(
            BASE.gpu, cuda_shipped=(*BASE.gpu.cuda_shipped, CudaComponent("nccl", "2.29.0", "x"))
        ),
    )
    assert compare(BASE, more).findings == ()


def test_no_gpu_on_both_sides_is_quiet() -> None:
    cpu_only = no_gpu(BASE)
    assert compare(cpu_only, cpu_only).findings == ()
    assert compare(cpu_only, BASE).findings == ()  # a GPU appearing is not a risk


def test_gpu_device_fields() -> None:
    assert GpuDevice(0, "x").compute_capability == ""


def test_each_unmet_requirement_is_its_own_finding_with_its_own_remedy() -> None:
    needs = ("absent-a>=1", "absent-b", "absent-c<3", "absent-d")
    fp = adding(Package("needy", "1.0", requires=needs))(BASE)
    found = [f for f in compare(BASE, fp, self_checks=True).findings if f.id == "package.requirement.missing"]
    assert sorted(f.remedy for f in found) == [f"pip install '{n}'" for n in sorted(needs)]


def test_numpy_1_to_2_names_the_import_failure_and_the_dependents_too_old() -> None:
    numpy1 = both(package("numpy", version="1.26.4"), package("h5py", version="3.10.0"))(BASE)
    found = {f.id: f for f in compare(numpy1, package("h5py", version="3.10.0")(BASE)).findings}
    assert set(found) == {"package.version.numpy2", "package.numpy2.dependent"}
    assert "numpy.dtype size changed" in found["package.version.numpy2"].message
    assert found["package.numpy2.dependent"].subject == "h5py"
    assert found["package.numpy2.dependent"].severity >= Severity.HIGH


def test_editable_install_whose_files_changed() -> None:
    editable = DirectUrl(url="file:///src/six", kind="editable")
    then = package("six", direct_url=editable, editable_digest="sha256:" + "1" * 64)(BASE)
    found = compare(then, package("six", editable_digest="sha256:" + "2" * 64)(then)).findings
    assert [(f.id, f.subject) for f in found] == [("package.editable.changed", "six")]
    assert found[0].severity >= Severity.MEDIUM and set(found[0].risks) == {AVAILABILITY, PREDICTION}


def test_numpy_1_requirement_under_numpy_2_is_availability_high() -> None:
    fp = adding(Package("needy", "1.0", requires=("numpy<2.0,>=1.22",)))(BASE)
    (finding,) = [f for f in compare(BASE, fp, self_checks=True).findings if f.subject == "needy"]
    assert finding.id == "package.requirement.numpy2" and finding.risks == (AVAILABILITY,)
    assert finding.severity >= Severity.HIGH
    assert "numpy.dtype size changed" in finding.message and finding.actual == "2.5.2"
