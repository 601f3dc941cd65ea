"""Rules for the native runtime, CPU, memory and GPU."""

from __future__ import annotations

import re
from typing import Dict, FrozenSet, Iterable, Iterator, List, Optional, Tuple

from packaging.specifiers import SpecifierSet

from envcheck.isa import LADDERS, isa_level, level_flags, level_rank, unsupported_features
from envcheck.model import OK, CpuInfo, CudaComponent, Fingerprint, GpuDevice, NativeLib, PackageBuild
from envcheck.policy import Policy
from envcheck.rules.interface import Change
from envcheck.rules.nvidia_require import forward_compat_cuda
from envcheck.rules.packages import parse_version
from envcheck.rules.tables import CUDA_MIN_DRIVER, DISPATCH_FLAGS, ISA_REQUIREMENTS


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.1f} GiB"


def _vendors(libs: Tuple[NativeLib, ...], kind: str) -> List[str]:
    return sorted({lib.vendor for lib in libs if lib.kind == kind})


def compare_native(expected: Fingerprint, actual: Fingerprint, policy: Policy) -> Iterator[Change]:
    # Loaded libraries say what really runs; compare them when both sides have them, else what is shipped.
    both_loaded = bool(expected.native.loaded) and bool(actual.native.loaded)
    old = expected.native.loaded if both_loaded else expected.native.shipped
    new = actual.native.loaded if both_loaded else actual.native.shipped
    for kind, rule in (("blas", "native.blas.vendor"), ("openmp", "native.openmp.vendor")):
        a, b = _vendors(old, kind), _vendors(new, kind)
        if a and b and a != b:
            yield Change(rule, kind, " + ".join(a), " + ".join(b))
    if both_loaded:
        yield from _kernels_changed(old, new)
    old_blas: Dict[Tuple[str, str], Dict[str, str]] = {}
    for lib in old:
        if lib.kind == "blas" and lib.version:
            old_blas.setdefault((lib.package, lib.vendor), {})[lib.version] = lib.architecture
    for lib in new:
        if lib.kind != "blas" or not lib.version:
            continue
        versions = old_blas.get((lib.package, lib.vendor))
        if versions and lib.version not in versions:
            before = " / ".join(_with_kernels(v, versions[v]) for v in sorted(versions))
            after = _with_kernels(lib.version, lib.architecture)
            yield Change("native.blas.version", _blas(lib), before, after, package=lib.package)


def _blas(lib: NativeLib) -> str:
    """How a BLAS is named in findings: ``openblas (numpy)``, ``mkl (system)``."""
    return f"{lib.vendor} ({lib.package or 'system'})"


def _with_kernels(version: str, kernels: str) -> str:
    return f"{version} ({kernels} kernels)" if kernels else version


def _kernels_changed(old: Tuple[NativeLib, ...], new: Tuple[NativeLib, ...]) -> Iterator[Change]:
    """A loaded BLAS of the same package and version whose kernel set (OpenBLAS core name) differs."""
    before = {(lib.package, lib.vendor, lib.version): lib.architecture for lib in old if lib.kind == "blas"}
    for lib in new:
        was = before.get((lib.package, lib.vendor, lib.version), "")
        if lib.kind == "blas" and was and lib.architecture and was != lib.architecture:
            yield Change("native.blas.kernels", _blas(lib), was, lib.architecture, package=lib.package)


def compare_cpu(expected: Fingerprint, actual: Fingerprint, policy: Policy) -> Iterator[Change]:
    e, a = expected.cpu, actual.cpu
    before = {c.subject for c in isa_required(expected)}
    # A drift only: what the lockfile already had, or a package the model did not use, is the self-checks' job.
    required = [c for c in isa_required(actual) if c.subject not in before and expected.package(c.subject)]
    yield from required
    same_architecture = not (e.architecture and a.architecture and e.architecture != a.architecture)
    if not required and same_architecture and _flags_fit(e) and _flags_fit(a):
        # Dispatch-relevant flags, and every flag of the training CPU's level: a lower level is a loss too.
        watched = DISPATCH_FLAGS | level_flags(e.isa_level)
        lost = sorted(set(e.flags) & watched - set(a.flags))
        if lost or level_rank(a.isa_level) < level_rank(e.isa_level):
            kernels = _kernels_lost(actual.native.builds or expected.native.builds, e, a)
            yield Change(
                "cpu.isa.lost",
                "instruction set",
                e.isa_level or "-",
                a.isa_level or "-",
                {"lost": " ".join(lost) or "-", "kernels": kernels},
            )
    if e.vendor and a.vendor and e.vendor != a.vendor:
        libs = [lib.vendor for lib in actual.native.shipped if lib.vendor in ("mkl",)]
        note = "MKL and oneDNN take " if libs or actual.package("torch") else ""
        yield Change("cpu.vendor", "vendor", e.vendor, a.vendor, {"libs": note})
    elif e.model_name and a.model_name and e.model_name != a.model_name:
        yield Change("cpu.model", "model", e.model_name, a.model_name)
    old, new = _usable(expected), _usable(actual)
    if old and new and new < old:
        yield Change(
            "cpu.count", "usable CPUs", f"{old / 1000:g}", f"{new / 1000:g}", {"expected_count": f"{old / 1000:g}"}
        )


def _kernels_lost(builds: Iterable[PackageBuild], old: CpuInfo, new: CpuInfo) -> str:
    """``numpy loses its X86_V4, AVX512_ICL kernels; `` for the recorded dispatch lists, or empty."""
    parts = []
    for build in builds:
        had = set(build.simd_dispatch) - set(unsupported_features(build.simd_dispatch, old.flags))
        gone = [f for f in unsupported_features(build.simd_dispatch, new.flags) if f in had]
        if gone:
            parts.append(f"{build.package} loses its {', '.join(gone)} kernels; ")
    return "".join(parts)


def _flags_fit(cpu: CpuInfo) -> bool:
    """Whether the flags describe a CPU of the recorded architecture. Under emulation (an amd64 container on an
    arm64 host, qemu-user) /proc/cpuinfo shows the host's CPU: every feature would look missing."""
    if not cpu.flags:
        return False
    return cpu.architecture not in LADDERS or bool(isa_level(cpu.flags, cpu.architecture))


def _usable(fp: Fingerprint) -> int:
    """Usable CPUs in millicores: affinity, capped by the cgroup quota."""
    count = fp.cpu.affinity_count or fp.cpu.logical_cpus
    millis = count * 1000
    if fp.cpu.cpu_quota_millicores is not None:
        millis = min(millis, fp.cpu.cpu_quota_millicores) if millis else fp.cpu.cpu_quota_millicores
    return millis


def isa_required(actual: Fingerprint) -> Iterator[Change]:
    """Installed packages whose baseline needs more than this CPU has: they cannot be imported here.

    A package's own recorded baseline (numpy's build lists) is used where the snapshot has it, else the
    ``ISA_REQUIREMENTS`` table (x86-64 only).
    """
    cpu = actual.cpu
    if not _flags_fit(cpu):
        return
    recorded = {b.package: b for b in actual.native.builds if b.simd_baseline}
    for name in sorted(recorded):
        build = recorded[name]
        missing = unsupported_features(build.simd_baseline, cpu.flags)
        if missing and actual.package(name):
            baseline = " ".join(build.simd_baseline)
            yield Change(
                "cpu.isa.required",
                name,
                baseline,
                cpu.isa_level or "unknown",
                {"needed": " ".join(missing)},
                package=name,
            )
    if cpu.architecture not in ("x86_64", "AMD64"):
        return
    for name, spec, need in ISA_REQUIREMENTS:
        pkg = actual.package(name)
        version = parse_version(pkg.version) if pkg else None
        if (
            name in recorded
            or pkg is None
            or version is None
            or version not in SpecifierSet(spec, prereleases=True)
        ):
            continue
        ok = level_rank(cpu.isa_level) >= level_rank(need) if level_rank(need) else need in cpu.flags
        if not ok:
            yield Change(
                "cpu.isa.required", name, need, cpu.isa_level or "unknown", {"needed": need}, package=name
            )


def compare_memory(expected: Fingerprint, actual: Fingerprint, policy: Policy) -> Iterator[Change]:
    old, new = _memory(expected), _memory(actual)
    if old and new and new < old * 0.9:  # RAM of "the same" machine type varies by a few percent
        yield Change("memory.limit", "memory", _gib(old), _gib(new))


def _memory(fp: Fingerprint) -> int:
    total = fp.memory.total_bytes
    limit = fp.memory.cgroup_limit_bytes
    return min(total, limit) if limit is not None and total else (limit or total)


def compare_gpu(expected: Fingerprint, actual: Fingerprint, policy: Policy) -> Iterator[Change]:
    e, a = expected.gpu, actual.gpu
    if not e.devices:
        return
    if not a.devices:
        names = ", ".join(sorted({d.name for d in e.devices}))
        yield Change("gpu.missing", "gpu", f"{len(e.devices)} x {names}", actual.source("gpu").detail or "none")
        return
    if _architectures(e.devices, a.devices) != _architectures(a.devices, e.devices):
        yield Change("gpu.model", "gpu", _names(e.devices), _names(a.devices))
    if len(a.devices) < len(e.devices):
        yield Change("gpu.count", "gpu", str(len(e.devices)), str(len(a.devices)))
    old_mem = min(d.memory_total_bytes for d in e.devices)
    new_mem = min(d.memory_total_bytes for d in a.devices)
    if old_mem and new_mem and new_mem < old_mem * 0.97:
        yield Change("gpu.memory", "gpu", _gib(old_mem), _gib(new_mem))
    if any(_mig(d) for d in a.devices) and not any(_mig(d) for d in e.devices):
        old_mig = "/".join(sorted({d.mig_mode for d in e.devices if d.mig_mode})) or "-"
        yield Change("gpu.mig", "gpu", old_mig, "/".join(sorted({d.mig_mode for d in a.devices if d.mig_mode})))
    # What the lockfile's own environment already had is no drift; versions from different sources of one
    # runtime (13.0 from torch, 13.0.2 from a pin) are one CUDA.
    had = {_major(c.fields["cuda"]) for c in driver_too_old(expected)}
    too_old = [c for c in driver_too_old(actual) if _major(c.fields["cuda"]) not in had]
    yield from too_old
    had_compat = {_major_minor(c.fields["cuda"]) for c in driver_minor_compat(expected)}
    compat = [c for c in driver_minor_compat(actual) if _major_minor(c.fields["cuda"]) not in had_compat]
    yield from compat
    if (
        not too_old
        and not compat
        and e.driver_version
        and a.driver_version
        and e.driver_version != a.driver_version
    ):
        yield Change("gpu.driver.version", "driver", e.driver_version, a.driver_version)


def _names(devices: Tuple[GpuDevice, ...]) -> str:
    return ", ".join(
        sorted({f"{d.name} (compute {d.compute_capability})" if d.compute_capability else d.name for d in devices})
    )


def _architectures(devices: Tuple[GpuDevice, ...], other: Tuple[GpuDevice, ...]) -> FrozenSet[str]:
    """What decides which kernels a GPU runs: its compute capability. Another SKU of the same capability (H100
    and H200, A100 40 and 80 GB, L4 and L40S) runs the same cubins with the same TF32/bf16 paths; the memory it
    adds or lacks is ``gpu.memory``'s. (cuBLAS promises bit-wise identical results on "GPUs with the same
    architecture and the same number of SMs" — cuBLAS guide, "Results reproducibility"; SM counts are not
    recorded, so a same-architecture SKU is not reported.) Names stand in where a side lacks capabilities."""
    if all(d.compute_capability for d in (*devices, *other)):
        return frozenset(d.compute_capability for d in devices)
    return frozenset(d.name for d in devices)


def _mig(device: GpuDevice) -> bool:
    """MIG on: the process gets a slice. ``Disabled`` and ``N/A`` (a GPU without MIG) both mean the whole GPU."""
    return device.mig_mode.strip().lower() == "enabled"


def _major(version: str) -> Optional[int]:
    head = version.split(".")[0]
    return int(head) if head.isdigit() else None


def driver_too_old(fp: Fingerprint) -> Iterator[Change]:
    """CUDA runtimes the packages ship that the GPU driver is too old for: below the minimum driver of the
    runtime's major version (minor-version compatibility covers the rest of the major), and not served by the
    image's forward-compatibility libraries (``forward_compat_cuda``)."""
    if fp.source("gpu").status != OK or not fp.gpu.driver_version:
        return
    driver = _driver_tuple(fp.gpu.driver_version)
    if driver is None:
        return
    compat = forward_compat_cuda(fp)
    worst: Dict[int, Tuple[str, str]] = {}
    served: Dict[int, Tuple[str, str]] = {}
    for comp in _runtimes(fp):
        cuda = _major(comp.version)
        if cuda is None or cuda not in CUDA_MIN_DRIVER or _driver_at_least(driver, cuda):
            continue
        if compat is not None and cuda <= compat[0]:
            served.setdefault(cuda, (comp.version, comp.package))
        else:
            worst.setdefault(cuda, (comp.version, comp.package))
    for cuda, (version, package) in sorted(worst.items()):
        fields = {"cuda": version, "needed": CUDA_MIN_DRIVER[cuda], **_origin(package)}
        yield Change("gpu.driver.too_old", "driver", "", fp.gpu.driver_version, fields, package=package)
    # Runs only through the image's forward-compatibility libraries: not broken, but it depends on the node's
    # container toolkit loading them (enable-cuda-compat) on a data-center GPU, which the fingerprint cannot see.
    for cuda, (version, package) in sorted(served.items()):
        fields = {"cuda": version, "needed": CUDA_MIN_DRIVER[cuda], **_origin(package)}
        yield Change("gpu.driver.forward_compat", "driver", "", fp.gpu.driver_version, fields, package=package)


def _driver_tuple(version: str) -> Optional[Tuple[int, ...]]:
    """``580.159.04`` -> ``(580, 159, 4)``; None for anything but digits and dots."""
    parts = version.strip().split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else None


def _driver_at_least(driver: Tuple[int, ...], cuda_major: int) -> bool:
    """Whether a driver meets the minimum NVIDIA names for a CUDA major version (``CUDA_MIN_DRIVER``): every
    later driver does — drivers are backward compatible with every older toolkit (CUDA Compatibility guide)."""
    needed = _driver_tuple(CUDA_MIN_DRIVER.get(cuda_major, "0")) or (0,)
    return driver >= needed


def driver_minor_compat(fp: Fingerprint) -> Iterator[Change]:
    """CUDA runtimes newer than the CUDA version the driver supports, within its major version: they run under
    minor-version compatibility (limited features, no JIT of the newer toolkit's PTX). Below the major version's
    minimum driver is ``driver_too_old``'s case, not this one."""
    supported = _major_minor(fp.gpu.cuda_driver_version)
    driver = _driver_tuple(fp.gpu.driver_version)
    if fp.source("gpu").status != OK or supported is None or driver is None:
        return
    newer = [
        (runtime, comp)
        for comp, runtime in ((c, _major_minor(c.version)) for c in _runtimes(fp))
        if runtime is not None
        and runtime[0] == supported[0]
        and runtime > supported
        and _driver_at_least(driver, runtime[0])
    ]
    if newer:
        # The newest runtime says the most; a package's before the image's toolkit at the same version.
        _, comp = max(newer, key=lambda rc: (rc[0], bool(rc[1].package)))
        fields = {"cuda": comp.version, "driver_cuda": fp.gpu.cuda_driver_version, **_origin(comp.package)}
        yield Change("gpu.driver.minor_compat", "driver", "", fp.gpu.driver_version, fields, package=comp.package)


#: A ``CUDA_VERSION`` value as NVIDIA's CUDA base images set it to the toolkit they install (``13.0.1``).
_CUDA_VERSION = re.compile(r"^\d+\.\d+(?:\.\d+)*$")


def _runtimes(fp: Fingerprint) -> List[CudaComponent]:
    """The CUDA runtimes the packages ship, then the image's own toolkit (its ``CUDA_VERSION``, as a component with
    no package): a wheel that needs more of the driver is the sharper finding. An image that states its driver
    requirement (``NVIDIA_REQUIRE_*``, NVIDIA's images do) is judged by that instead, the way the container
    runtime does, forward-compatibility branches included (``gpu.require.*``)."""
    shipped = sorted((c for c in fp.gpu.cuda_shipped if c.component == "cuda-runtime"), key=lambda c: c.package)
    variables = fp.env.variables
    toolkit = variables.get("CUDA_VERSION", "").strip()
    if _CUDA_VERSION.match(toolkit) and not any(name.startswith("NVIDIA_REQUIRE_") for name in variables):
        shipped.append(CudaComponent("cuda-runtime", toolkit, ""))
    return shipped


def _origin(package: str) -> Dict[str, str]:
    if package:
        return {"origin": f"shipped by {package}", "downgrade": f"install a {package} build for an older CUDA"}
    return {
        "origin": "the image's CUDA toolkit (CUDA_VERSION)",
        "downgrade": "build the image on a CUDA base the driver supports",
    }


def _major_minor(version: str) -> Optional[Tuple[int, int]]:
    parts = version.split(".")
    if len(parts) < 2 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    return int(parts[0]), int(parts[1])
