"""Test doubles shared across test modules.

``FakeNvml`` stands in for the pynvml module: it replays NVML values recorded on a real machine
(``fixtures/*/runtime.json``, key ``nvml``) through the same function names and return shapes, and counts calls.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, FrozenSet, Optional, Type

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


class NVMLError(Exception):
    """pynvml's base error; the subclasses below keep pynvml's names and messages."""


class NVMLError_LibraryNotFound(NVMLError):
    def __str__(self) -> str:
        return "NVML Shared Library Not Found"


class NVMLError_DriverNotLoaded(NVMLError):
    def __str__(self) -> str:
        return "Driver Not Loaded"


class NVMLError_NotSupported(NVMLError):
    def __str__(self) -> str:
        return "Not Supported"


class NVMLError_Unknown(NVMLError):
    def __str__(self) -> str:
        return "Unknown Error"


def recorded_nvml(name: str = "h200-serving") -> Dict[str, Any]:
    """The ``nvml`` part of a fixture's runtime.json."""
    data: Dict[str, Any] = json.loads((FIXTURES / name / "runtime.json").read_text(encoding="utf-8"))["nvml"]
    return data


class FakeNvml:
    """A pynvml look-alike replaying ``recorded`` (runtime.json's ``nvml`` shape).

    ``init_error`` makes ``nvmlInit`` raise; functions named in ``unsupported`` raise NVMLError_NotSupported;
    ``as_bytes`` returns strings as bytes, as pynvml releases before 11.5 did. ``calls`` counts every call.
    """

    NVMLError = NVMLError
    NVMLError_LibraryNotFound = NVMLError_LibraryNotFound
    NVMLError_DriverNotLoaded = NVMLError_DriverNotLoaded
    NVMLError_NotSupported = NVMLError_NotSupported
    NVMLError_Unknown = NVMLError_Unknown

    def __init__(
        self,
        recorded: Optional[Dict[str, Any]] = None,
        *,
        init_error: Optional[Type[Exception]] = None,
        unsupported: FrozenSet[str] = frozenset(),
        as_bytes: bool = False,
    ) -> None:
        self.recorded = recorded if recorded is not None else recorded_nvml()
        self.init_error = init_error
        self.unsupported = unsupported
        self.as_bytes = as_bytes
        self.calls: Counter[str] = Counter()
        self.initialized = False

    def _enter(self, name: str) -> None:
        self.calls[name] += 1
        if name != "nvmlInit" and not self.initialized:
            raise NVMLError("Uninitialized")
        if name in self.unsupported:
            raise NVMLError_NotSupported()

    def _str(self, value: str) -> Any:
        return value.encode() if self.as_bytes else value

    def _device(self, handle: Any) -> Dict[str, Any]:
        device: Dict[str, Any] = self.recorded["devices"][handle.index]
        return device

    def nvmlInit(self) -> None:
        self._enter("nvmlInit")
        if self.init_error is not None:
            raise self.init_error()
        self.initialized = True

    def nvmlShutdown(self) -> None:
        self._enter("nvmlShutdown")
        self.initialized = False

    def nvmlSystemGetDriverVersion(self) -> Any:
        self._enter("nvmlSystemGetDriverVersion")
        return self._str(self.recorded["driver"])

    def nvmlSystemGetCudaDriverVersion(self) -> int:
        self._enter("nvmlSystemGetCudaDriverVersion")
        return int(self.recorded["cuda_driver"])

    def nvmlSystemGetCudaDriverVersion_v2(self) -> int:
        self._enter("nvmlSystemGetCudaDriverVersion_v2")
        return int(self.recorded["cuda_driver"])

    def nvmlDeviceGetCount(self) -> int:
        self._enter("nvmlDeviceGetCount")
        return len(self.recorded["devices"])

    def nvmlDeviceGetHandleByIndex(self, index: int) -> Any:
        self._enter("nvmlDeviceGetHandleByIndex")
        if not 0 <= index < len(self.recorded["devices"]):
            raise NVMLError("Invalid Argument")
        return SimpleNamespace(index=index)

    def nvmlDeviceGetName(self, handle: Any) -> Any:
        self._enter("nvmlDeviceGetName")
        return self._str(self._device(handle)["name"])

    def nvmlDeviceGetCudaComputeCapability(self, handle: Any) -> Any:
        self._enter("nvmlDeviceGetCudaComputeCapability")
        major, minor = self._device(handle)["cc"]
        return (major, minor)

    def nvmlDeviceGetMemoryInfo(self, handle: Any) -> Any:
        self._enter("nvmlDeviceGetMemoryInfo")
        total = self._device(handle)["mem"]
        # The volatile halves are there, as in pynvml, so that a test can see they are not recorded.
        return SimpleNamespace(total=total, free=total - 1, used=1)

    def nvmlDeviceGetMigMode(self, handle: Any) -> Any:
        self._enter("nvmlDeviceGetMigMode")
        return list(self._device(handle)["mig"])

    def nvmlDeviceGetEccMode(self, handle: Any) -> Any:
        self._enter("nvmlDeviceGetEccMode")
        return list(self._device(handle)["ecc"])

    def nvmlDeviceGetPersistenceMode(self, handle: Any) -> Any:
        self._enter("nvmlDeviceGetPersistenceMode")
        return self._device(handle)["persist"]

    def nvmlDeviceGetArchitecture(self, handle: Any) -> Any:
        self._enter("nvmlDeviceGetArchitecture")
        return self._device(handle)["arch"]
