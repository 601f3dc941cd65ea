"""Where an environment is read from."""

from envcheck.targets.interface import Target, TargetError
from envcheck.targets.local import LocalTarget
from envcheck.targets.python import PythonTarget

__all__ = ["LocalTarget", "PythonTarget", "Target", "TargetError"]
