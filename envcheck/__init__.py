"""envcheck: fingerprint the environment a model was verified in, and catch the drift that breaks it."""

from __future__ import annotations

__version__ = "0.1.0"

from envcheck.api import snapshot
from envcheck.collect.models import ModelPathError
from envcheck.lockfile import LockfileError
from envcheck.model import Fingerprint
from envcheck.targets.interface import TargetError

__all__ = ["Fingerprint", "LockfileError", "ModelPathError", "TargetError", "__version__", "snapshot"]
