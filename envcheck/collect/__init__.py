"""In-process collectors: each reads one fingerprint section from the live system."""

from __future__ import annotations

from typing import TYPE_CHECKING

from envcheck._lazy import lazy_names
from envcheck.collect.interface import Collected, Collector

# Each collector is imported when first named: a snapshot of a static tree reads no hardware.
__getattr__ = lazy_names(
    __name__,
    {
        "CpuCollector": "envcheck.collect.cpu",
        "cuda_shipped": "envcheck.collect.cuda",
        "GpuCollector": "envcheck.collect.gpu",
        "MemoryCollector": "envcheck.collect.memory",
        "LoadedLibrariesCollector": "envcheck.collect.native",
    },
)

if TYPE_CHECKING:
    from envcheck.collect.cpu import CpuCollector
    from envcheck.collect.cuda import cuda_shipped
    from envcheck.collect.gpu import GpuCollector
    from envcheck.collect.memory import MemoryCollector
    from envcheck.collect.native import LoadedLibrariesCollector

__all__ = [
    "Collected",
    "Collector",
    "CpuCollector",
    "GpuCollector",
    "LoadedLibrariesCollector",
    "MemoryCollector",
    "cuda_shipped",
]
