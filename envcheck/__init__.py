"""envcheck: fingerprint the environment a model was verified in, and catch the drift that breaks it."""

from __future__ import annotations

__version__ = "0.1.0"

from envcheck.api import check, diff, snapshot
from envcheck.collect.models import ModelPathError
from envcheck.errors import EnvcheckError
from envcheck.findings import Finding, Report, Severity
from envcheck.lockfile import LockfileError
from envcheck.model import Fingerprint
from envcheck.policy import Policy, PolicyError
from envcheck.targets.interface import TargetError

__all__ = [
    "EnvcheckError",
    "Finding",
    "Fingerprint",
    "LockfileError",
    "ModelPathError",
    "Policy",
    "PolicyError",
    "Report",
    "Severity",
    "TargetError",
    "__version__",
    "check",
    "diff",
    "snapshot",
]
