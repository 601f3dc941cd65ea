"""In-process collectors: each reads one fingerprint section from the live system."""

from envcheck.collect.cpu import CpuCollector
from envcheck.collect.cuda import cuda_shipped
from envcheck.collect.gpu import GpuCollector
from envcheck.collect.interface import Collected, Collector
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
