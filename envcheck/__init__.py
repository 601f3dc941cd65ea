"""envcheck: fingerprint the environment a model was verified in, and catch the drift that breaks it."""

from __future__ import annotations

__version__ = "0.1.0"

from envcheck import golden
from envcheck.api import check, diff, export, remedy, snapshot
from envcheck.canary.interface import TargetLost
from envcheck.collect.models import ModelPathError
from envcheck.errors import EnvcheckError
from envcheck.findings import Finding, Report, Severity
from envcheck.golden.case import GoldenError
from envcheck.lockfile import LockfileError
from envcheck.model import Fingerprint
from envcheck.policy import Policy, PolicyError
from envcheck.restore import RemedyError
from envcheck.targets.interface import TargetError

__all__ = [
    "EnvcheckError",
    "Finding",
    "Fingerprint",
    "GoldenError",
    "LockfileError",
    "ModelPathError",
    "Policy",
    "PolicyError",
    "RemedyError",
    "Report",
    "Severity",
    "TargetError",
    "TargetLost",
    "__version__",
    "check",
    "diff",
    "export",
    "golden",
    "remedy",
    "snapshot",
]
