"""The fingerprint's software sections from the probe's output: the one place where a ``contract.ProbeOutput``
section becomes the model's dataclasses.

Each contract TypedDict has the keys of its dataclass (``tests/test_contract.py`` holds them equal), so the
conversion is ``model.from_data`` per section: strict about types, with the section's name in every error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Tuple, TypeVar

from envcheck.contract import ProbeOutput
from envcheck.model import (
    EnvInfo,
    FingerprintDataError,
    NativeInfo,
    OsInfo,
    Package,
    PythonInfo,
    Source,
    from_data,
)


@dataclass(frozen=True)
class Software:
    """What a target's probe read: the software sections of a fingerprint, and where each came from."""

    sources: Dict[str, Source] = field(default_factory=dict)
    os: OsInfo = field(default_factory=OsInfo)
    python: PythonInfo = field(default_factory=PythonInfo)
    packages: Tuple[Package, ...] = ()
    native: NativeInfo = field(default_factory=NativeInfo)
    """``shipped`` and ``builds``; ``loaded`` is left to the snapshot, which alone can see a process's maps."""
    env: EnvInfo = field(default_factory=EnvInfo)


_T = TypeVar("_T")


class ProbeDataError(FingerprintDataError):
    """A section of the probe's output does not convert to the model; the message names the section."""


def software(raw: ProbeOutput) -> Software:
    """The model's software sections from the probe's output. Raises ``ProbeDataError`` naming the first key
    that is wrong (a producer's bug, or output from another process that slipped past ``check_output``)."""
    try:
        sources = {str(k): from_data(Source, v, f"probe sources.{k}") for k, v in raw["sources"].items()}
    except FingerprintDataError as e:
        raise ProbeDataError(f"malformed sources: {e}") from e
    try:
        packages = tuple(from_data(Package, p, f"probe packages[{i}]") for i, p in enumerate(raw["packages"]))
    except FingerprintDataError as e:
        raise ProbeDataError(f"a malformed package: {e}") from e
    return Software(
        sources=sources,
        os=_section(OsInfo, raw["os"], "os"),
        python=_section(PythonInfo, raw["python"], "python"),
        packages=packages,
        native=_section(NativeInfo, raw["native"], "native"),
        env=_section(EnvInfo, raw["env"], "env"),
    )


def _section(cls: type[_T], data: object, key: str) -> _T:
    try:
        return from_data(cls, data, f"probe {key}")
    except FingerprintDataError as e:
        raise ProbeDataError(f"a malformed {key} section: {e}") from e
