"""CUDA library versions the environment ships, read from package metadata and build files alone.

Nothing is imported or loaded: the answer comes from distribution names and versions (``nvidia-cudnn-cu13
9.19.0.56``), torch's own ``torch/version.py`` (``cuda: Optional[str] = '13.0'``, read by the probe), else its
local version label (``torch 2.4.0+cu121``) or, for the PyPI torch wheels that carry no label, the CUDA pin in
torch's Requires-Dist (``cuda-toolkit[...]==13.0.2``, ``nvidia-cuda-runtime-cu12==12.4.127``). The image's own
toolkit (``CUDA_VERSION``) is an environment variable, judged by the rules from the ``env`` section.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterable, List, Optional, Tuple

from envcheck.model import CudaComponent, Package, PackageBuild
from envcheck.probe import canonicalize_name

if TYPE_CHECKING:
    from packaging.version import Version

#: NVIDIA redistributable wheels. The CUDA 12 era names end in ``-cu12`` (``-cu11`` before); from CUDA 13 the
#: toolkit wheels drop the suffix (``nvidia-cuda-runtime``, ``nvidia-cublas``) while cuDNN and NCCL keep it.
_NVIDIA_WHEEL = re.compile(r"^nvidia-(?P<lib>cuda-runtime|cudnn|nccl|cublas)(?:-cu\d+)?$")

#: ``cupy-cuda13x`` (any 13.x), ``cupy-cuda117`` (11.7), ``cupy-cuda92`` (9.2).
_CUPY = re.compile(r"^cupy-cuda(?P<digits>\d+)(?P<any>x?)$")
#: ``jax-cuda12-plugin`` and ``jax-cuda12-pjrt``: built for a CUDA major version.
_JAX_PLUGIN = re.compile(r"^jax-cuda(?P<major>\d+)-(?:plugin|pjrt)$")
#: torch's ``+cu121`` label and old jaxlib's ``+cuda11.cudnn86`` label.
_TORCH_LOCAL = re.compile(r"^cu(?P<digits>\d{2,3})$")
_JAXLIB_LOCAL = re.compile(r"^cuda(?P<cuda>\d+)(?:[._]cudnn(?P<cudnn>\d{2}))?$")
#: Requirements of the label-less torch wheels that pin the CUDA runtime they were built with.
_TORCH_CUDA_PINS = ("cuda-toolkit", "nvidia-cuda-runtime", "nvidia-cuda-runtime-cu12", "nvidia-cuda-runtime-cu11")


def cuda_shipped(packages: Iterable[Package], builds: Iterable[PackageBuild] = ()) -> Tuple[CudaComponent, ...]:
    """The CUDA components the environment ships, one per (component, package), sorted.

    Versions of NVIDIA's wheels are kept verbatim (``9.19.0.56``); versions inferred from a build label or pin are
    what that label states (``13.0`` for ``+cu130``, ``13`` for ``cupy-cuda13x``). A CPU-only build ships nothing.
    A package's recorded build (``torch/version.py``) wins over its label and pins.
    """
    built = {b.package: b for b in builds if b.source}
    found = set()
    for pkg in packages:
        found.update(_components(pkg, built.get(canonicalize_name(pkg.name))))
    return tuple(sorted(found, key=lambda c: (c.component, c.package, c.version)))


def _components(pkg: Package, build: Optional[PackageBuild] = None) -> List[CudaComponent]:
    name = canonicalize_name(pkg.name)
    match = _NVIDIA_WHEEL.match(name)
    if match:
        return [CudaComponent(match.group("lib"), pkg.version, name)]
    match = _CUPY.match(name)
    if match:
        digits = match.group("digits")
        version = digits if match.group("any") else _split_minor(digits)
        return [CudaComponent("cuda-runtime", version, name)]
    match = _JAX_PLUGIN.match(name)
    if match:
        return [CudaComponent("cuda-runtime", match.group("major"), name)]
    if name == "torch":
        version = build.cuda if build is not None else _torch_cuda(pkg)
        return [CudaComponent("cuda-runtime", version, name)] if version else []
    if name == "jaxlib":
        return _jaxlib_cuda(pkg)
    return []


def _torch_cuda(pkg: Package) -> str:
    local = _local_label(pkg.version)
    if local is not None:
        match = _TORCH_LOCAL.match(local)
        # ``+cpu``, ``+rocm6.1``, ``+xpu``: a build label that names no CUDA is authoritative, pins or not.
        return _split_minor(match.group("digits")) if match else ""
    for line in pkg.requires:
        pinned = _pinned_version(line, _TORCH_CUDA_PINS)
        if pinned is not None:
            return f"{pinned.major}.{pinned.minor}"
    return ""


def _jaxlib_cuda(pkg: Package) -> List[CudaComponent]:
    match = _JAXLIB_LOCAL.match(_local_label(pkg.version) or "")
    if not match:
        return []
    out = [CudaComponent("cuda-runtime", match.group("cuda"), "jaxlib")]
    if match.group("cudnn"):
        out.append(CudaComponent("cudnn", _split_minor(match.group("cudnn")), "jaxlib"))
    return out


def _local_label(version: str) -> Optional[str]:
    """The part after ``+``, lower-cased, or None when there is none; invalid versions are split by hand."""
    from packaging.version import InvalidVersion, Version  # only for a torch or jaxlib wheel: not at start

    try:
        return Version(version).local
    except InvalidVersion:
        _, plus, local = version.partition("+")
        return local.strip().lower() if plus else None


def _pinned_version(line: str, names: Tuple[str, ...]) -> Optional[Version]:
    """The version of an exact ``==`` pin on one of ``names``, or None."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.version import InvalidVersion, Version

    try:
        req = Requirement(line)
    except InvalidRequirement:
        return None
    if canonicalize_name(req.name) not in names:
        return None
    for spec in req.specifier:
        if spec.operator == "==" and "*" not in spec.version:
            try:
                return Version(spec.version)
            except InvalidVersion:
                return None
    return None


def _split_minor(digits: str) -> str:
    """``130`` -> ``13.0``, ``92`` -> ``9.2``: the last digit is the minor version."""
    return f"{int(digits[:-1])}.{digits[-1]}"
