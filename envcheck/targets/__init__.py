"""Where an environment is read from."""

from __future__ import annotations

from typing import TYPE_CHECKING

from envcheck._lazy import lazy_names
from envcheck.targets.interface import Target, TargetError

# Each target is imported when first named: a command reads one kind of target.
__getattr__ = lazy_names(
    __name__,
    {
        "LocalTarget": "envcheck.targets.local",
        "PythonTarget": "envcheck.targets.python",
    },
)

if TYPE_CHECKING:
    from envcheck.targets.local import LocalTarget
    from envcheck.targets.python import PythonTarget

__all__ = ["LocalTarget", "PythonTarget", "Target", "TargetError"]
