"""Which GPUs can run code built for which CUDA targets, by NVIDIA's documented compatibility rules. Pure.

A build names its targets as ``torch.cuda.get_arch_list()`` does (``sm_86``, ``sm_90a``, ``sm_100f``,
``compute_120``: ``sm_`` is native code, a cubin; ``compute_`` is PTX) or as ``TORCH_CUDA_ARCH_LIST`` does
(``8.6``, ``9.0a``, ``12.0+PTX``, ``Ampere``). A GPU is named by its compute capability (``8.9``).

The rules (NVIDIA CUDA C++ Programming Guide, "Binary Compatibility" and "PTX Compatibility" — "a cubin object
generated for compute capability X.y will only execute on devices of compute capability X.z where z≥y"; "PTX code
produced for some specific compute capability can always be compiled to binary code of greater or equal compute
capability"; "Binary compatibility is supported only for the desktop. It is not supported for Tegra"; and the
"Feature Availability" appendix with NVIDIA's "Blackwell and CUDA 12.9 Introduce Family-Specific Architecture
Features" for the suffixes):

* **cubin** ``sm_XY``: runs on compute capability X.z for every z ≥ Y — an sm_86 cubin runs on an 8.9 L4, L40S or
  RTX 4090; never on another major version.
* **PTX** ``compute_XY``: the driver JIT-compiles it for X.Y and every newer compute capability, majors included.
* **architecture-specific** ``sm_90a`` / ``compute_90a`` (Hopper onwards): exactly X.Y, nothing else.
* **family-specific** ``sm_100f`` / ``compute_100f`` (CUDA 12.9 onwards): X.z with z ≥ Y, the same major only
  (``compute_100f`` serves 10.0 and 10.3, not 11.0 or 12.0).
* **integrated GPUs** (Tegra/Jetson: 5.3, 6.2, 7.2, 8.7, and Thor as 10.1) share no cubins with the discrete GPUs
  of their major version, in either direction; PTX still JIT-compiles for them. PyTorch's own check
  (``torch/cuda/__init__.py``, ``DEVICE_REQUIREMENT``) applies the same exclusions, and maps sm_101 to Thor's
  CUDA 13 name 11.0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import FrozenSet, Iterable, Optional, Tuple

CC = Tuple[int, int]

#: Compute capabilities of integrated (Tegra/Jetson) GPUs: Jetson TX1/Nano, TX2, Xavier, Orin, Thor (CUDA 12.x).
INTEGRATED: FrozenSet[CC] = frozenset({(5, 3), (6, 2), (7, 2), (8, 7), (10, 1)})
#: CUDA 13 renamed Thor's compute capability 10.1 to 11.0: code for one runs on the other (PyTorch's table).
_RENAMED = {(10, 1): (11, 0)}

#: ``TORCH_CUDA_ARCH_LIST`` names, as ``torch.utils.cpp_extension._get_cuda_arch_flags`` expands them.
_NAMED = {
    "kepler+tesla": "3.7",
    "kepler": "3.5+PTX",
    "maxwell+tegra": "5.3",
    "maxwell": "5.0;5.2+PTX",
    "pascal": "6.0;6.1+PTX",
    "volta+tegra": "7.2",
    "volta": "7.0+PTX",
    "turing": "7.5+PTX",
    "ampere+tegra": "8.7",
    "ampere": "8.0;8.6+PTX",
    "ada": "8.9+PTX",
    "hopper": "9.0+PTX",
}

_ARCH_ENTRY = re.compile(r"^(sm|compute)_(\d+)(\d)([af]?)$")
_LIST_ENTRY = re.compile(r"^(\d+)\.(\d)([af]?)(\+ptx)?$")


@dataclass(frozen=True)
class Target:
    """One compilation target of a build."""

    major: int
    minor: int
    ptx: bool = False
    """PTX (``compute_XY``, ``+PTX``), JIT-compiled by the driver; else native code (a cubin, ``sm_XY``)."""
    suffix: str = ""
    """``a`` (architecture-specific), ``f`` (family-specific) or empty."""

    def __str__(self) -> str:
        return f"{'compute' if self.ptx else 'sm'}_{self.major}{self.minor}{self.suffix}"


def parse_cc(text: str) -> Optional[CC]:
    """``"8.9"`` -> ``(8, 9)``; None for anything else."""
    major, _, minor = text.strip().partition(".")
    if not (major.isdigit() and minor.isdigit()):
        return None
    return int(major), int(minor)


def parse_arch_list(entries: Iterable[str]) -> Tuple[Target, ...]:
    """``torch.cuda.get_arch_list()`` entries (``sm_90a``, ``compute_120``) as targets; others are left out."""
    out = []
    for entry in entries:
        m = _ARCH_ENTRY.match(entry.strip().lower())
        if m:
            out.append(Target(int(m.group(2)), int(m.group(3)), m.group(1) == "compute", m.group(4)))
    return tuple(out)


def parse_torch_cuda_arch_list(value: str) -> Tuple[Target, ...]:
    """A ``TORCH_CUDA_ARCH_LIST`` value (``"8.0;8.6;9.0a;12.0+PTX"``, spaces allowed as separators, named
    architectures expanded) as targets: ``X.Y+PTX`` is the cubin and the PTX. Unknown entries are left out."""
    out = []
    for raw in value.replace(" ", ";").split(";"):
        entry = raw.strip().lower()
        expanded = _NAMED.get(entry, entry)
        for item in expanded.lower().split(";"):
            m = _LIST_ENTRY.match(item)
            if not m:
                continue
            major, minor, suffix = int(m.group(1)), int(m.group(2)), m.group(3)
            out.append(Target(major, minor, False, suffix))
            if m.group(4):
                out.append(Target(major, minor, True, suffix))
    return tuple(out)


def runs_on(target: Target, cc: CC) -> bool:
    """Whether code built for ``target`` runs on a GPU of compute capability ``cc`` (see the module's rules)."""
    own = (target.major, target.minor)
    if _RENAMED.get(own) == cc or own == cc:
        return True
    if target.suffix == "a":
        return False
    if target.ptx and not target.suffix:
        return cc >= own
    if cc[0] != target.major or cc[1] < target.minor:
        return False
    return own not in INTEGRATED and cc not in INTEGRATED  # no cubin crosses the discrete/integrated line


def covers(targets: Iterable[Target], cc: CC) -> bool:
    """Whether any of ``targets`` runs on ``cc``."""
    return any(runs_on(t, cc) for t in targets)
