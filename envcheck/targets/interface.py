"""A target is where a fingerprint's software sections come from: this interpreter, another one, later a
process, a folder or a container. Each runs or reads the stdlib-only probe and returns its raw JSON."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Dict, Sequence


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
