"""Rules across the GPU and the native runtime a process really uses: architectures a framework was built for,
two BLAS builds loaded at once, a loaded library that is not the one the packages ship.

Each check looks at one fingerprint. As drift (``compare``) they report only what the lockfile did not already
have, so that a fingerprint compared with itself gives nothing. ``arch_unsupported`` and ``loaded_mismatch`` are
also self-checks (``envcheck.rules.selfcheck``): a GPU torch has no kernels for, or a CUDA library loaded from
outside the package that ships it, is wrong in the candidate whatever the lockfile says. ``blas_duplicates`` is
drift only: pip's numpy and scipy wheels each ship their own OpenBLAS, so any process that imports both loads
two builds, and reporting that on every such environment would be noise the user cannot act on.
"""

from __future__ import annotations

from typing import Callable, Dict, Iterator, List, Tuple

from envcheck.cuda_arch import Target, covers, parse_arch_list, parse_cc
from envcheck.model import Fingerprint, NativeLib
from envcheck.policy import Policy
from envcheck.rules.interface import Change
from envcheck.rules.tables import TORCH_ARCHS


def _torch_targets(fp: Fingerprint) -> Tuple[Tuple[Target, ...], bool, str]:
    """(what torch carries code for, whether that list is the build's own, where it came from): recorded
    in-process (``torch.cuda.get_arch_list()``, PTX entries included), else the release table for the CUDA variant
    the packages say torch was built with (native code only; whether such a build also has PTX is not known)."""
    rt = fp.gpu.torch
    if rt is not None and rt.arch_list:
        return parse_arch_list(rt.arch_list), True, "torch.cuda.get_arch_list()"
    cuda = next(
        (c.version for c in fp.gpu.cuda_shipped if c.package == "torch" and c.component == "cuda-runtime"), ""
    )
    caps = (parse_cc(cc) for cc in TORCH_ARCHS.get(".".join(cuda.split(".")[:2]), ()))
    return tuple(Target(*cc) for cc in caps if cc), False, f"the release table for CUDA {cuda}"


def arch_unsupported(fp: Fingerprint) -> Iterator[Change]:
    """GPUs that no code torch carries runs on: no cubin of the GPU's major version at or below its minor, no
    architecture-specific target of exactly it, no PTX at or below it (``envcheck.cuda_arch``). An sm_86 build
    runs on an 8.9 GPU; an sm_90a-only build runs on 9.0 alone.

    From the release table, where the build's PTX is not known, a GPU newer than every listed architecture is
    given the benefit of the doubt (a build with PTX of its newest architecture JIT-compiles for it)."""
    if fp.package("torch") is None or not fp.gpu.devices:
        return
    targets, recorded, source = _torch_targets(fp)
    if not targets:
        return
    newest = max((t.major, t.minor) for t in targets)
    shown = ", ".join(str(t) if recorded else f"{t.major}.{t.minor}" for t in targets)
    for text in sorted({d.compute_capability for d in fp.gpu.devices if d.compute_capability}):
        cc = parse_cc(text)
        if cc is None or covers(targets, cc) or (not recorded and cc > newest):
            continue
        oldest = min(targets, key=lambda t: (t.major, t.minor))
        yield Change(
            "gpu.arch.unsupported",
            "torch",
            f"{oldest.major}.{oldest.minor}",
            text,
            {"package": "torch", "archs": f"{shown}, per {source}", "cc_digits": f"{cc[0]}{cc[1]}"},
            package="torch",
        )


def blas_duplicates(fp: Fingerprint) -> Iterator[Change]:
    """Different builds of one BLAS vendor loaded in one process (numpy's and scipy's OpenBLAS, say)."""
    by_vendor: Dict[str, List[NativeLib]] = {}
    for lib in fp.native.loaded:
        if lib.kind == "blas":
            by_vendor.setdefault(lib.vendor, []).append(lib)
    for vendor, libs in sorted(by_vendor.items()):
        builds = sorted({(lib.package or "system", lib.version or "?") for lib in libs})
        if len(builds) > 1:
            shown = ", ".join(f"{pkg} {version}" for pkg, version in builds)
            yield Change("native.blas.duplicate", vendor, "", shown, {"count": str(len(builds))})


def loaded_mismatch(fp: Fingerprint) -> Iterator[Change]:
    """CUDA libraries a process loaded from outside the packages that ship them (a system cuDNN beside the
    wheel's)."""
    shipped: Dict[str, NativeLib] = {}
    for lib in fp.native.shipped:
        if lib.package.startswith("nvidia-") and lib.kind in ("cudnn", "nccl", "cublas", "cudart"):
            shipped.setdefault(lib.kind, lib)
    for lib in fp.native.loaded:
        wheel = shipped.get(lib.kind)
        if wheel is None or lib.package:
            continue
        version = f" ({lib.version})" if lib.version else ""
        yield Change(
            "native.loaded.mismatch",
            lib.kind,
            f"{wheel.package} {wheel.version}".strip(),
            f"{lib.path}{version}",
            package=wheel.package,
        )


def _new(
    expected: Fingerprint, actual: Fingerprint, check: Callable[[Fingerprint], Iterator[Change]]
) -> Iterator[Change]:
    before = {(c.rule, c.subject, c.actual) for c in check(expected)}
    for change in check(actual):
        if (change.rule, change.subject, change.actual) not in before:
            yield change


def compare_runtime_gpu(expected: Fingerprint, actual: Fingerprint, policy: Policy) -> Iterator[Change]:
    yield from _new(expected, actual, arch_unsupported)


def compare_runtime_native(expected: Fingerprint, actual: Fingerprint, policy: Policy) -> Iterator[Change]:
    yield from _new(expected, actual, blas_duplicates)
    yield from _new(expected, actual, loaded_mismatch)
