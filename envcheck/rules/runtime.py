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

from envcheck.model import Fingerprint, NativeLib
from envcheck.policy import Policy
from envcheck.rules.interface import Change
from envcheck.rules.tables import TORCH_ARCHS


def _cc_tuple(text: str) -> Tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def _torch_archs(fp: Fingerprint) -> Tuple[Tuple[str, ...], str]:
    """(compute capabilities torch carries kernels for, where that came from): recorded in-process, else the
    release table for the CUDA variant the packages say torch was built with."""
    rt = fp.gpu.torch
    if rt is not None and rt.arch_list:
        caps = tuple(f"{a[3:-1]}.{a[-1]}" for a in rt.arch_list if a.startswith("sm_") and a[3:].isdigit())
        return caps, "torch.cuda.get_arch_list()"
    cuda = next(
        (c.version for c in fp.gpu.cuda_shipped if c.package == "torch" and c.component == "cuda-runtime"), ""
    )
    return TORCH_ARCHS.get(".".join(cuda.split(".")[:2]), ()), f"the release table for CUDA {cuda}"


def arch_unsupported(fp: Fingerprint) -> Iterator[Change]:
    """GPUs whose compute capability torch has no kernels (nor PTX to JIT from) for."""
    if fp.package("torch") is None or not fp.gpu.devices:
        return
    archs, source = _torch_archs(fp)
    if not archs:
        return
    newest = max(_cc_tuple(a) for a in archs)
    for cc in sorted({d.compute_capability for d in fp.gpu.devices if d.compute_capability}):
        if cc in archs or _cc_tuple(cc) > newest:  # newer GPUs JIT the newest architecture's PTX
            continue
        yield Change(
            "gpu.arch.unsupported",
            "torch",
            min(archs, key=_cc_tuple),
            cc,
            {"package": "torch", "archs": f"{', '.join(archs)}, per {source}", "cc_digits": cc.replace(".", "")},
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
