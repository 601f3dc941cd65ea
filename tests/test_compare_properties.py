"""Property tests for the comparison: identity, the risk matrix, determinism, one-package edits, TOML round trip.

The strategies build arbitrary but valid fingerprints: every section filled with values of the shapes real
environments produce (PEP 440 and verbatim versions, local labels, manylinux tags, GPU devices, locale
variables...), mixed with free text where the model holds free text.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional, Tuple, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.utils import canonicalize_name

import envcheck
from envcheck import lockfile
from envcheck.compare import compare
from envcheck.findings import Finding, Severity
from envcheck.model import (
    SECTIONS,
    STATUSES,
    CpuInfo,
    CudaComponent,
    DirectUrl,
    EnvInfo,
    Fingerprint,
    GpuDevice,
    GpuInfo,
    MemoryInfo,
    Meta,
    ModelFile,
    NativeInfo,
    NativeLib,
    OsInfo,
    Package,
    PackageBuild,
    PythonInfo,
    Source,
)
from envcheck.policy import Policy, RuleOverride
from envcheck.rules.packages import numpy2_dependents
from envcheck.rules.rulebook import BY_ID, CHURN_PACKAGES

T = TypeVar("T")

PROPERTY = settings(max_examples=100, deadline=None)

# --- text --------------------------------------------------------------------------------------------------------

#: What real environments hold in free-text fields: printable text, including non-ASCII. Surrogates and C0
#: controls are left out here and exercised on their own in ``test_free_text_with_controls_survives_the_lockfile``.
_PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x2FFF, codec="utf-8")
text = st.text(_PRINTABLE, max_size=24)
word = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
digest = st.one_of(st.just(""), hex64.map(lambda h: "sha256:" + h))
small = st.integers(min_value=0, max_value=2**40)
big = st.integers(min_value=0, max_value=2**62)


def _tuple(elements: st.SearchStrategy[T], max_size: int = 4) -> st.SearchStrategy[Tuple[T, ...]]:
    return st.lists(elements, max_size=max_size).map(tuple)


# --- packages ----------------------------------------------------------------------------------------------------

_release = st.lists(st.integers(0, 30), min_size=1, max_size=4).map(lambda parts: ".".join(map(str, parts)))
_local = st.sampled_from(["cu121", "cu118", "cu130", "cpu", "rocm6.2", "local.1", "g1a2b3c4", "ubuntu1"])
_pep440 = st.builds(
    lambda epoch, release, pre, post, dev, local: (
        f"{epoch}{release}{pre}{post}{dev}" + (f"+{local}" if local else "")
    ),
    st.sampled_from(["", "", "", "1!"]),
    _release,
    st.sampled_from(["", "", "a1", "b2", "rc1"]),
    st.sampled_from(["", "", ".post1"]),
    st.sampled_from(["", "", ".dev0"]),
    st.one_of(st.none(), _local),
)
#: Versions found in the wild that PEP 440 refuses: kept and compared verbatim.
_opaque = st.one_of(
    st.sampled_from(["unknown", "2.0-beta_x", "1.0.0-SNAPSHOT", "0.1-r2 (custom)", "dev", "1.2.3.final-7"]),
    st.builds(lambda a, b: f"{a}-{b}-x", word, word),
)
version = st.one_of(_pep440, _pep440, _pep440, _opaque)

_platform = st.sampled_from(
    [
        "manylinux_2_17_x86_64",
        "manylinux2014_x86_64",
        "manylinux_2_28_x86_64",
        "manylinux_2_39_x86_64",
        "manylinux_2_28_aarch64",
        "manylinux1_x86_64",
        "musllinux_1_2_x86_64",
        "linux_x86_64",
        "macosx_11_0_arm64",
        "win_amd64",
    ]
)
_py = st.sampled_from(["cp39", "cp311", "cp312", "cp313", "cp313t", "pp310"])
wheel_tag = st.one_of(
    st.just("py3-none-any"),
    st.just("py2.py3-none-any"),
    st.builds(lambda py, plat: f"{py}-{py}-{plat}", _py, _platform),
    st.builds(lambda py, plat: f"{py}-abi3-{plat}", st.sampled_from(["cp38", "cp39", "cp312"]), _platform),
    st.just("not-a-tag"),
)

_req_name = st.one_of(word, st.sampled_from(["numpy", "torch", "typing-extensions", "nvidia-cublas-cu12"]))
requires_line = st.one_of(
    _req_name,
    st.builds(lambda n, op, v: f"{n}{op}{v}", _req_name, st.sampled_from([">=", "==", "<", "~=", "!="]), _release),
    st.builds(lambda n: f"{n}; python_version < '3.8'", _req_name),
    st.builds(lambda n: f'{n}[extra]>=1; extra == "test"', _req_name),
    st.builds(lambda n: f"{n}; sys_platform == 'win32'", _req_name),
    st.sampled_from(["!!! not a requirement", "foo (>=1.0)", "bar; weird_marker == '1'"]),
)

direct_url = st.builds(
    DirectUrl,
    url=st.sampled_from(["", "file:///src/pkg", "https://example.com/pkg.whl", "https://github.com/o/r.git"]),
    kind=st.sampled_from(["", "editable", "dir", "vcs", "archive"]),
    vcs=st.sampled_from(["", "git", "hg"]),
    commit_id=st.one_of(st.just(""), st.text("0123456789abcdef", min_size=40, max_size=40)),
    requested_revision=st.sampled_from(["", "main", "v1.0"]),
    archive_hash=st.one_of(st.just(""), hex64.map(lambda h: "sha256=" + h)),
)


def _name(raw: str) -> str:
    return str(canonicalize_name(raw))


_KNOWN_NAMES = [
    "numpy",
    "torch",
    "scikit-learn",
    "tensorflow",
    "nvidia-cudnn-cu12",
    "nvidia-ml-py",
    "typing-extensions",
]
_made_up_name = st.builds(
    lambda a, sep, b: _name(f"{a}{sep}{b}"), word, st.sampled_from(["", "-", "_", "."]), word
)
#: Any name, harmless churn (pip, setuptools...) included.
package_name = st.one_of(_made_up_name, st.sampled_from([*_KNOWN_NAMES, *sorted(CHURN_PACKAGES)]))
#: Names the comparison does not treat as churn.
_not_churn = st.one_of(_made_up_name.filter(lambda n: n not in CHURN_PACKAGES), st.sampled_from(_KNOWN_NAMES))


@st.composite
def package(draw: st.DrawFn, name: Optional[str] = None) -> Package:
    return Package(
        name=name if name is not None else draw(package_name),
        version=draw(version),
        installer=draw(st.sampled_from(["", "pip", "uv", "conda"])),
        wheel_tags=draw(_tuple(wheel_tag, 2)),
        requested=draw(st.booleans()),
        direct_url=draw(st.one_of(st.none(), st.none(), direct_url)),
        record_digest=draw(digest),
        requires=draw(_tuple(requires_line, 3)),
        shadowed=draw(_tuple(version, 2)),
        metadata_format=draw(st.sampled_from(["dist-info", "egg-info"])),
        editable_digest=draw(digest),
        locations=draw(_tuple(st.sampled_from(["/venv/lib/python3.12/site-packages", "/usr/lib/python3"]), 3)),
    )


def packages(
    names: st.SearchStrategy[str] = package_name, min_size: int = 0, max_size: int = 8
) -> st.SearchStrategy[Tuple[Package, ...]]:
    """Distinct names, as a real site-packages holds them (one winner per name)."""
    return (
        st.lists(names, min_size=min_size, max_size=max_size, unique=True)
        .flatmap(lambda ns: st.tuples(*[package(n) for n in ns]))
        .map(tuple)
    )


# --- the other sections ------------------------------------------------------------------------------------------

_arch = st.sampled_from(["x86_64", "aarch64", "arm64", "ppc64le", ""])

os_info = st.builds(
    OsInfo,
    system=st.sampled_from(["Linux", "Darwin", ""]),
    release=st.one_of(st.sampled_from(["6.8.0-45-generic", "6.18.44-fc-v657-gpu", "5.15.0"]), text),
    machine=_arch,
    distro_id=st.sampled_from(["ubuntu", "debian", "alpine", "rhel", ""]),
    distro_version_id=st.sampled_from(["24.04", "22.04", "12", "3.20", ""]),
    distro_name=text,
    libc_family=st.sampled_from(["glibc", "musl", ""]),
    libc_version=st.sampled_from(["2.39", "2.35", "2.28", "2.17", "1.2.5", "", "weird"]),
    page_size=st.one_of(st.none(), st.sampled_from([4096, 16384, 65536])),
    container=st.sampled_from(["", "docker", "podman", "kubernetes", "container"]),
)

_py_version = st.builds(lambda m, p: f"3.{m}.{p}", st.integers(8, 14), st.integers(0, 12))
python_info = st.builds(
    PythonInfo,
    implementation=st.sampled_from(["CPython", "PyPy", ""]),
    version=st.one_of(_py_version, st.just("3.13.0rc1")),
    build=text,
    compiler=text,
    abiflags=st.sampled_from(["", "t", "d"]),
    soabi=text,
    cache_tag=st.sampled_from(["cpython-312", "cpython-311", "pypy310"]),
    pointer_bits=st.sampled_from([32, 64]),
    byteorder=st.sampled_from(["little", "big"]),
    free_threaded=st.booleans(),
    executable=st.sampled_from(["/usr/bin/python3", "/opt/venv/bin/python", "/tmp/x y/bin/python"]),
    prefix=text,
    base_prefix=text,
    in_venv=st.booleans(),
    interpreter_tag=st.sampled_from(["cp312", "cp311", "cp313", "pp310", ""]),
    abi_tag=st.sampled_from(["cp312", "cp311", "cp313t", ""]),
    platform_tag=_platform,
    best_tag=text,
    markers=st.one_of(
        st.just({}),
        st.fixed_dictionaries(
            {
                "python_version": st.sampled_from(["3.11", "3.12"]),
                "python_full_version": _py_version,
                "sys_platform": st.sampled_from(["linux", "darwin"]),
                "platform_machine": _arch,
                "implementation_name": st.just("cpython"),
                "os_name": st.just("posix"),
            }
        ),
    ),
)

native_lib = st.builds(
    NativeLib,
    kind=st.sampled_from(["blas", "lapack", "openmp", "cudart", "cudnn", "nccl", "cublas", "cuda-driver"]),
    vendor=st.sampled_from(["openblas", "mkl", "blis", "reference", "gnu", "intel", "llvm", "nvidia"]),
    path=st.sampled_from(["numpy.libs/libopenblas.so", "/usr/lib/libgomp.so.1", "torch/lib/libgomp.so"]),
    package=st.sampled_from(["", "numpy", "scipy", "torch"]),
    version=st.sampled_from(["", "0.3.27", "0.3.30", "2024.1"]),
    architecture=st.sampled_from(["", "Haswell", "SkylakeX", "Zen"]),
)
_simd = st.lists(st.sampled_from(["SSE3", "X86_V2", "X86_V3", "X86_V4", "AVX512_SPR", "ASIMD", "SVE", "RVV"]))
package_build = st.builds(
    PackageBuild,
    package=st.sampled_from(["numpy", "torch"]),
    source=st.sampled_from(["torch/version.py", "numpy/_core/_multiarray_umath.so"]),
    cuda=st.sampled_from(["", "12.8", "13.0"]),
    simd_baseline=_simd.map(tuple),
    simd_dispatch=_simd.map(tuple),
)
native_info = st.builds(
    NativeInfo, shipped=_tuple(native_lib, 3), loaded=_tuple(native_lib, 2), builds=_tuple(package_build, 2)
)

_flags = st.lists(
    st.sampled_from(["sse2", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "amx_tile", "asimd"]),
    unique=True,
).map(lambda fs: tuple(sorted(fs)))
cpu_info = st.builds(
    CpuInfo,
    architecture=_arch,
    vendor=st.sampled_from(["GenuineIntel", "AuthenticAMD", "ARM", ""]),
    model_name=st.one_of(st.sampled_from(["Intel(R) Xeon(R) Processor", "AMD EPYC 9654"]), text),
    family=st.one_of(st.none(), st.integers(0, 25)),
    model=st.one_of(st.none(), st.integers(0, 255)),
    stepping=st.one_of(st.none(), st.integers(0, 15)),
    flags=_flags,
    isa_level=st.sampled_from(["", "x86-64-v1", "x86-64-v2", "x86-64-v3", "x86-64-v4", "armv8.2-a", "armv9.0-a"]),
    logical_cpus=st.integers(0, 512),
    physical_cores=st.integers(0, 256),
    affinity=st.sampled_from(["", "0-15", "0,2,4"]),
    affinity_count=st.integers(0, 512),
    cgroup_version=st.sampled_from(["", "v1", "v2"]),
    cpu_quota_millicores=st.one_of(st.none(), st.integers(1, 512_000)),
)
memory_info = st.builds(MemoryInfo, total_bytes=big, cgroup_limit_bytes=st.one_of(st.none(), big))

gpu_device = st.builds(
    GpuDevice,
    index=st.integers(0, 7),
    name=st.sampled_from(["NVIDIA H200", "NVIDIA A100-SXM4-80GB", "Tesla T4", "NVIDIA L4"]),
    architecture=st.sampled_from(["", "Hopper", "Ampere", "Turing"]),
    compute_capability=st.sampled_from(["", "9.0", "8.0", "7.5", "8.9"]),
    memory_total_bytes=small,
    mig_mode=st.sampled_from(["", "Disabled", "Enabled"]),
    ecc=st.sampled_from(["", "Enabled", "Disabled"]),
    persistence=st.sampled_from(["", "Enabled", "Disabled"]),
)
cuda_component = st.builds(
    CudaComponent,
    component=st.sampled_from(["cuda-runtime", "cudnn", "nccl", "cublas"]),
    version=st.sampled_from(["11.8", "12.1", "12.8.90", "13.0", "9.1.0", "2.21.5", "x"]),
    package=st.sampled_from(["torch", "nvidia-cuda-runtime-cu12", "nvidia-cudnn-cu12", "jax-cuda12-plugin"]),
)
gpu_info = st.builds(
    GpuInfo,
    driver_version=st.sampled_from(["", "580.95.05", "535.104.05", "470.57.02", "n/a"]),
    cuda_driver_version=st.sampled_from(["", "13.0", "12.2", "11.4"]),
    devices=_tuple(gpu_device, 2),
    cuda_shipped=_tuple(cuda_component, 2),
)

_env_name = st.one_of(
    st.sampled_from(
        [
            "TZ",
            "LANG",
            "LANGUAGE",
            "LC_ALL",
            "LC_NUMERIC",
            "LC_TIME",
            "OMP_NUM_THREADS",
            "MKL_NUM_THREADS",
            "KMP_AFFINITY",
            "KMP_BLOCKTIME_THREADS",
            "MKL_CBWR",
            "NVIDIA_TF32_OVERRIDE",
            "PYTHONHASHSEED",
            "CUDA_VISIBLE_DEVICES",
            "NVIDIA_VISIBLE_DEVICES",
            "NVIDIA_REQUIRE_CUDA",
            "CUDA_VERSION",
            "MY_FEATURE_FLAG",
        ]
    ),
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789", min_size=1, max_size=12),
)
env_info = st.builds(
    EnvInfo,
    variables=st.dictionaries(
        _env_name, st.one_of(text, st.sampled_from(["", "0", "1", "UTC", "C.UTF-8"])), max_size=4
    ),
    redacted=_tuple(st.sampled_from(["HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "WANDB_API_KEY"]), 2),
    timezone=st.sampled_from(["", "UTC", "Europe/Paris", "America/New_York"]),
    tzdata_version=st.sampled_from(["", "2024a", "2025b"]),
)

model_file = st.builds(
    ModelFile,
    path=st.one_of(st.sampled_from(["model.safetensors", "weights/model.pt", "tok/vocab.json"]), text),
    size=big,
    sha256=hex64,
)

sources = st.dictionaries(
    st.sampled_from(SECTIONS),
    st.builds(Source, status=st.sampled_from(STATUSES), detail=text),
)
#: Most examples have every section readable, so that the comparators run rather than being skipped.
_all_ok = st.just({s: Source("ok", "") for s in SECTIONS})

meta = st.builds(
    Meta,
    tool=st.sampled_from(["envcheck 0.1.0", ""]),
    created=st.sampled_from(["2026-11-28T18:59:04Z", ""]),
    target=st.sampled_from(["local", "python:/opt/venv/bin/python", "lockfile"]),
    digest=st.just(""),
)


def _models(fp_models: List[ModelFile]) -> Tuple[ModelFile, ...]:
    seen: Dict[str, ModelFile] = {}
    for m in fp_models:
        seen.setdefault(m.path, m)
    return tuple(seen.values())


@st.composite
def fingerprint(
    draw: st.DrawFn,
    pkgs: Optional[st.SearchStrategy[Tuple[Package, ...]]] = None,
    srcs: Optional[st.SearchStrategy[Dict[str, Source]]] = None,
) -> Fingerprint:
    return Fingerprint(
        meta=draw(meta),
        sources=draw(srcs if srcs is not None else st.one_of(_all_ok, _all_ok, sources)),
        os=draw(os_info),
        python=draw(python_info),
        packages=draw(pkgs if pkgs is not None else packages()),
        native=draw(native_info),
        cpu=draw(cpu_info),
        memory=draw(memory_info),
        gpu=draw(gpu_info),
        env=draw(env_info),
        models=_models(draw(st.lists(model_file, max_size=2))),
    )


_rule_ids = sorted(BY_ID)
policies = st.builds(
    Policy,
    fail_on=st.sampled_from([None, "low", "medium", "high", "critical", "never"]),
    model_critical=st.frozensets(package_name, max_size=3),
    tolerance=st.dictionaries(package_name, st.sampled_from(["exact", "patch", "minor", "major"]), max_size=3),
    ignore_packages=st.frozensets(package_name, max_size=2),
    ignore_rules=_tuple(st.sampled_from([*_rule_ids, "cpu.*", "package.version.*"]), 2),
    rules=st.dictionaries(
        st.sampled_from(_rule_ids),
        st.builds(
            RuleOverride,
            probability=st.one_of(st.none(), st.integers(1, 5)),
            impact=st.one_of(st.none(), st.integers(1, 5)),
        ),
        max_size=4,
    ),
    show_extra=st.booleans(),
)


def _mutated(draw: st.DrawFn, fp: Fingerprint) -> Fingerprint:
    """``fp`` with some sections replaced and some packages changed, dropped or added: a plausible candidate."""
    changes: Dict[str, Any] = {}
    for name, strategy in (
        ("os", os_info),
        ("python", python_info),
        ("native", native_info),
        ("cpu", cpu_info),
        ("memory", memory_info),
        ("gpu", gpu_info),
        ("env", env_info),
        ("sources", st.one_of(_all_ok, sources)),
    ):
        if draw(st.integers(0, 3)) == 0:
            changes[name] = draw(strategy)
    pkgs: List[Package] = []
    for pkg in fp.packages:
        roll = draw(st.integers(0, 5))
        if roll == 0:
            continue  # removed
        if roll == 1:
            pkgs.append(draw(package(pkg.name)))  # another version, build or source
        elif roll == 2:
            pkgs.append(dataclasses.replace(pkg, version=draw(version)))
        else:
            pkgs.append(pkg)
    have = {p.name for p in pkgs} | {p.name for p in fp.packages}
    for extra in draw(st.lists(package(), max_size=2)):
        if extra.name not in have:
            have.add(extra.name)
            pkgs.append(extra)
    changes["packages"] = tuple(pkgs)
    return dataclasses.replace(fp, **changes)


@st.composite
def pairs(draw: st.DrawFn) -> Tuple[Fingerprint, Fingerprint]:
    a = draw(fingerprint())
    b = draw(fingerprint()) if draw(st.integers(0, 4)) == 0 else _mutated(draw, a)
    return a, b


# --- (a) identity ------------------------------------------------------------------------------------------------


@PROPERTY
@given(fingerprint(), policies)
def test_an_identical_fingerprint_gives_no_finding(fp: Fingerprint, policy: Policy) -> None:
    report = compare(fp, fp, policy)
    assert report.findings == ()
    assert report.return_code == 0
    # Equal but not the same objects, as a lockfile read twice gives; and through the public API.
    assert compare(fp, dataclasses.replace(fp), policy).findings == ()
    assert envcheck.diff(fp, dataclasses.replace(fp), policy=policy).findings == ()
    assert envcheck.diff(fp, fp).findings == ()


# --- (b) the risk matrix -----------------------------------------------------------------------------------------

_MATRIX = {**dict.fromkeys(range(1, 5), "low"), **dict.fromkeys(range(5, 10), "medium")}
_MATRIX.update({**dict.fromkeys(range(10, 17), "high"), **dict.fromkeys(range(20, 26), "critical")})
_one_to_five = st.integers(1, 5)


@given(_one_to_five, _one_to_five, _one_to_five, _one_to_five)
def test_severity_is_monotone_in_probability_and_impact(p: int, i: int, p2: int, i2: int) -> None:
    p, p2 = sorted((p, p2))
    i, i2 = sorted((i, i2))
    assert Severity.from_score(p * i) <= Severity.from_score(p2 * i2)
    assert Severity.from_score(p * i) <= Severity.from_score(p2 * i)
    assert Severity.from_score(p * i) <= Severity.from_score(p * i2)


@pytest.mark.parametrize("p", range(1, 6))
@pytest.mark.parametrize("i", range(1, 6))
def test_every_cell_of_the_matrix(p: int, i: int) -> None:
    assert Severity.from_score(p * i).label == _MATRIX[p * i]


@pytest.mark.parametrize("score", [0, 26, -1, 100])
def test_a_score_outside_the_matrix_is_refused(score: int) -> None:
    with pytest.raises(ValueError, match=r"outside 1\.\.25"):
        Severity.from_score(score)


def _check_matrix(findings: Tuple[Finding, ...]) -> None:
    for f in findings:
        assert 1 <= f.probability <= 5 and 1 <= f.impact <= 5
        assert f.score == f.probability * f.impact
        assert f.severity.label == _MATRIX[f.score], f


# --- (c) determinism and order -----------------------------------------------------------------------------------


@settings(max_examples=75, deadline=None)
@given(pairs(), policies, st.booleans(), st.randoms(use_true_random=False))
def test_compare_is_deterministic_and_sorted(
    pair: Tuple[Fingerprint, Fingerprint], policy: Policy, self_checks: bool, rnd: Any
) -> None:
    a, b = pair
    first = compare(a, b, policy, self_checks=self_checks)
    assert compare(a, b, policy, self_checks=self_checks) == first
    findings = first.findings
    _check_matrix(findings)
    assert list(findings) == sorted(findings, key=Finding.sort_key)
    severities = [f.severity for f in findings]
    assert severities == sorted(severities, reverse=True)  # most severe first
    # one finding per rule, subject and what it found there (each unmet requirement of a package is its own)
    assert len({(f.id, f.subject, f.message) for f in findings}) == len(findings)
    for f in findings:  # the policy's overrides and ignores reach the findings
        override = policy.rules.get(f.id)
        if override and override.probability:
            assert f.probability == override.probability
        if override and override.impact:
            assert f.impact == override.impact
        assert not policy.ignores_rule(f.id)
    # The order packages were listed in (site-packages order, lockfile order) does not matter.
    a2 = dataclasses.replace(a, packages=tuple(rnd.sample(a.packages, len(a.packages))))
    b2 = dataclasses.replace(b, packages=tuple(rnd.sample(b.packages, len(b.packages))))
    assert compare(a2, b2, policy, self_checks=self_checks).findings == findings


# --- (d) one package more or less --------------------------------------------------------------------------------


@st.composite
def fingerprint_and_other(draw: st.DrawFn) -> Tuple[Fingerprint, Package]:
    """A fingerprint and one more (non-churn) package it does not hold."""
    fp = draw(fingerprint(packages(_not_churn), _all_ok))
    names = {p.name for p in fp.packages}
    other = draw(package(draw(_not_churn.filter(lambda n: n not in names))))
    return fp, other


def _insert(pkgs: Tuple[Package, ...], pkg: Package, at: int) -> Tuple[Package, ...]:
    at = at % (len(pkgs) + 1)
    return (*pkgs[:at], pkg, *pkgs[at:])


@settings(max_examples=60, deadline=None)
@given(fingerprint_and_other(), st.integers(0, 100), st.booleans())
def test_an_added_package_is_silent_unless_show_extra(
    case: Tuple[Fingerprint, Package], at: int, show_extra: bool
) -> None:
    fp, extra = case
    actual = dataclasses.replace(fp, packages=_insert(fp.packages, extra, at))
    findings = compare(fp, actual, Policy(show_extra=show_extra)).findings
    # the documented exception: a compiled package too old for the numpy 2 installed fails at import
    breaks = {(c.rule, c.subject) for c in numpy2_dependents(actual) if c.subject == extra.name}
    assert {(f.id, f.subject) for f in findings if f.id == "package.numpy2.dependent"} == breaks
    findings = tuple(f for f in findings if f.id != "package.numpy2.dependent")
    if show_extra:
        assert [(f.id, f.subject) for f in findings] == [("package.extra", extra.name)]
        assert findings[0].actual == extra.version
    else:
        assert findings == ()


@settings(max_examples=60, deadline=None)
@given(fingerprint(packages(_not_churn, min_size=1), _all_ok), st.integers(0, 100), st.booleans())
def test_a_removed_package_is_one_missing_finding(fp: Fingerprint, at: int, critical: bool) -> None:
    gone = fp.packages[at % len(fp.packages)]
    actual = dataclasses.replace(fp, packages=tuple(p for p in fp.packages if p is not gone))
    policy = Policy(model_critical=frozenset([gone.name]) if critical else frozenset())
    findings = compare(fp, actual, policy).findings
    rule = "package.missing.critical" if critical else "package.missing"
    assert [(f.id, f.subject) for f in findings] == [(rule, gone.name)]
    assert findings[0].expected == gone.version
    assert gone.name in findings[0].remedy


# --- the lockfile round trip -------------------------------------------------------------------------------------


@settings(max_examples=75, deadline=None)
@given(fingerprint())
def test_a_fingerprint_survives_the_lockfile(fp: Fingerprint) -> None:
    text = lockfile.dumps(fp)
    back = lockfile.loads(text)
    assert back == dataclasses.replace(fp, meta=dataclasses.replace(fp.meta, digest=back.meta.digest))
    assert lockfile.dumps(back) == text  # and writes the same bytes again


_any_text = st.text(st.characters(codec="utf-8"), max_size=16)


@settings(max_examples=60, deadline=None)
@given(_any_text, _any_text, _any_text)
def test_free_text_with_controls_survives_the_lockfile(detail: str, value: str, model_path: str) -> None:
    """NUL, DEL, C0/C1 controls and line breaks in free text (a hostile variable, an odd path) round-trip."""
    fp = Fingerprint(
        sources={"env": Source("ok", detail)},
        env=EnvInfo(variables={"MY_VAR": value}),
        models=(ModelFile(model_path, 1, "0" * 64),),
    )
    back = lockfile.loads(lockfile.dumps(fp))
    assert (back.sources, back.env, back.models) == (fp.sources, fp.env, fp.models)
