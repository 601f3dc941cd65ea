"""envcheck: fingerprint the environment a model was verified in, and catch the drift that breaks it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from envcheck._lazy import lazy_names

__version__ = "0.1.0"

#: The public API, each name imported from its module on first use: ``import envcheck`` costs nothing, and the
#: command line imports only what the command it runs needs.
_WHERE = {
    "EnvcheckError": "envcheck.errors",
    "Finding": "envcheck.findings",
    "Fingerprint": "envcheck.model",
    "GoldenError": "envcheck.golden.case",
    "LockfileError": "envcheck.lockfile",
    "ModelPathError": "envcheck.collect.models",
    "Policy": "envcheck.policy",
    "PolicyError": "envcheck.policy",
    "RemedyError": "envcheck.restore.interface",
    "Report": "envcheck.findings",
    "Severity": "envcheck.findings",
    "TargetError": "envcheck.targets.interface",
    "TargetLost": "envcheck.canary.interface",
    "check": "envcheck.api",
    "diff": "envcheck.api",
    "export": "envcheck.api",
    "golden": "envcheck.golden",
    "remedy": "envcheck.api",
    "snapshot": "envcheck.api",
}
__getattr__ = lazy_names(__name__, _WHERE)

if TYPE_CHECKING:
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
    from envcheck.restore.interface import RemedyError
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
