"""A target is where a fingerprint's software sections come from: this interpreter, another one, later a
process, a folder or a container. Each runs or reads the stdlib-only probe and returns its raw JSON."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Dict, Mapping, Optional, Sequence, Tuple

if TYPE_CHECKING:
    from envcheck.collect.interface import Collected, Collector
    from envcheck.model import NativeLib, Package, PythonInfo


class TargetError(Exception):
    """The target could not be inspected; the message is one line for the user."""


class Target(ABC):
    """Where an environment is read from."""

    kind: ClassVar[str]
    #: True when the probe runs in the very process being fingerprinted (its loaded libraries are ours).
    in_process: ClassVar[bool] = False
    #: True when CPU, memory and GPU can be read from this machine for this target.
    shows_hardware: ClassVar[bool] = True

    @property
    @abstractmethod
    def name(self) -> str:
        """How the target is recorded in the lockfile's ``meta.target``."""

    @abstractmethod
    def probe(self, extra_env: Sequence[str] = ()) -> Dict[str, Any]:
        """The probe's JSON for this target; raises ``TargetError``."""

    @property
    def hardware_note(self) -> str:
        """Why hardware is not inspected, when ``shows_hardware`` is false."""
        return f"a {self.kind} target does not show the hardware it will run on"

    def hardware(self, packages: Tuple[Package, ...]) -> Sequence[Collector[Any]]:
        """The CPU, memory and GPU collectors for this target: by default, this machine's."""
        from envcheck.collect.cpu import CpuCollector
        from envcheck.collect.gpu import GpuCollector
        from envcheck.collect.memory import MemoryCollector

        return (CpuCollector(), MemoryCollector(), GpuCollector(packages=packages))

    def loaded_libraries(
        self, python: PythonInfo, owners: Mapping[str, str], versions: Mapping[str, str]
    ) -> Optional[Collected[Tuple[NativeLib, ...]]]:
        """The native libraries the target's process has mapped, where it has one that can be read."""
        return None
