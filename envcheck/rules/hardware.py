"""Rules for the native runtime, CPU, memory and GPU."""

from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Set, Tuple

from packaging.specifiers import SpecifierSet

from envcheck.model import OK, Fingerprint, NativeLib
from envcheck.policy import Policy
from envcheck.rules.interface import Change
from envcheck.rules.packages import parse_version
from envcheck.rules.tables import CUDA_MIN_DRIVER, DISPATCH_FLAGS, ISA_REQUIREMENTS, LEVELS


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
    old_blas: Dict[Tuple[str, str], Set[str]] = {}
    for lib in old:
        if lib.kind == "blas" and lib.version:
            old_blas.setdefault((lib.package, lib.vendor), set()).add(lib.version)
    for lib in new:
        if lib.kind != "blas" or not lib.version:
            continue
        versions = old_blas.get((lib.package, lib.vendor))
        if versions and lib.version not in versions:
            before = " / ".join(sorted(versions))
            subject = f"{lib.vendor} ({lib.package or 'system'})"
            yield Change("native.blas.version", subject, before, lib.version, package=lib.package)


def _level_number(level: str) -> int:
    return LEVELS.index(level) + 1 if level in LEVELS else 0


def compare_cpu(expected: Fingerprint, actual: Fingerprint, policy: Policy) -> Iterator[Change]:
    e, a = expected.cpu, actual.cpu
    before = {c.subject for c in isa_required(expected)}
    # A drift only: what the lockfile already had, or a package the model did not use, is the self-checks' job.
    required = [c for c in isa_required(actual) if c.subject not in before and expected.package(c.subject)]
    yield from required
    lost = sorted(set(e.flags) & DISPATCH_FLAGS - set(a.flags))
    if lost and not required and e.flags and a.flags:
        yield Change(
            "cpu.isa.lost", "instruction set", e.isa_level or "-", a.isa_level or "-", {"lost": " ".join(lost)}
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


def _usable(fp: Fingerprint) -> int:
    """Usable CPUs in millicores: affinity, capped by the cgroup quota."""
    count = fp.cpu.affinity_count or fp.cpu.logical_cpus
    millis = count * 1000
    if fp.cpu.cpu_quota_millicores is not None:
        millis = min(millis, fp.cpu.cpu_quota_millicores) if millis else fp.cpu.cpu_quota_millicores
    return millis


def isa_required(actual: Fingerprint) -> Iterator[Change]:
    """Installed packages whose baseline needs more than this CPU has (an illegal instruction at import)."""
    cpu = actual.cpu
    if not cpu.flags or cpu.architecture not in ("x86_64", "AMD64"):
        return
    for name, spec, need in ISA_REQUIREMENTS:
        pkg = actual.package(name)
        version = parse_version(pkg.version) if pkg else None
        if pkg is None or version is None or version not in SpecifierSet(spec, prereleases=True):
            continue
        ok = _level_number(cpu.isa_level) >= _level_number(need) if need in LEVELS else need in cpu.flags
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
    old_names = [
        f"{d.name} (compute {d.compute_capability})" if d.compute_capability else d.name for d in e.devices
    ]
    new_names = [
        f"{d.name} (compute {d.compute_capability})" if d.compute_capability else d.name for d in a.devices
    ]
    if sorted(set(old_names)) != sorted(set(new_names)):
        yield Change("gpu.model", "gpu", ", ".join(sorted(set(old_names))), ", ".join(sorted(set(new_names))))
    if len(a.devices) < len(e.devices):
        yield Change("gpu.count", "gpu", str(len(e.devices)), str(len(a.devices)))
    old_mem = min(d.memory_total_bytes for d in e.devices)
    new_mem = min(d.memory_total_bytes for d in a.devices)
    if old_mem and new_mem and new_mem < old_mem * 0.97:
        yield Change("gpu.memory", "gpu", _gib(old_mem), _gib(new_mem))
    old_mig = {d.mig_mode for d in e.devices if d.mig_mode}
    new_mig = {d.mig_mode for d in a.devices if d.mig_mode}
    if old_mig and new_mig and old_mig != new_mig:
        yield Change("gpu.mig", "gpu", "/".join(sorted(old_mig)), "/".join(sorted(new_mig)))
    before = {c.fields["cuda"] for c in driver_too_old(expected)}
    too_old = [c for c in driver_too_old(actual) if c.fields["cuda"] not in before]
    yield from too_old
    if not too_old and e.driver_version and a.driver_version and e.driver_version != a.driver_version:
        yield Change("gpu.driver.version", "driver", e.driver_version, a.driver_version)


def _major(version: str) -> Optional[int]:
    head = version.split(".")[0]
    return int(head) if head.isdigit() else None


def driver_too_old(fp: Fingerprint) -> Iterator[Change]:
    """CUDA runtimes the packages ship that the GPU driver is too old for."""
    if fp.source("gpu").status != OK or not fp.gpu.driver_version:
        return
    driver = _major(fp.gpu.driver_version)
    if driver is None:
        return
    worst: Dict[int, Tuple[str, str]] = {}
    for comp in fp.gpu.cuda_shipped:
        if comp.component != "cuda-runtime":
            continue
        cuda = _major(comp.version)
        if cuda is not None and cuda in CUDA_MIN_DRIVER and driver < CUDA_MIN_DRIVER[cuda]:
            worst.setdefault(cuda, (comp.version, comp.package))
    for cuda, (version, package) in sorted(worst.items()):
        yield Change(
            "gpu.driver.too_old",
            "driver",
            "",
            fp.gpu.driver_version,
            {"cuda": version, "needed": str(CUDA_MIN_DRIVER[cuda]), "package": package},
            package=package,
        )
