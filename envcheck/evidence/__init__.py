"""Evidence: what the candidate's interpreter does with the model's modules and files, not a guess from versions.

Opt-in checks that run the candidate's code in a child of its interpreter (never in envcheck's process), each
bounded in time, output and memory and cut off from the network: ``import_check`` (does each module import?) and
``load_check`` (does each model file load?). A ``Runner`` starts the child: ``LocalRunner`` for an interpreter on
this machine, ``DockerRunner`` for an image or a running container (imported on first use: it brings the Docker
target's modules).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from envcheck._lazy import lazy_names
from envcheck.evidence.interface import ChildRun, EvidenceError, Network, Outcome, Runner, RunnerError

# The checks and runners are imported when first named: a snapshot names Runner only.
__getattr__ = lazy_names(
    __name__,
    {
        "ImportReport": "envcheck.evidence.imports",
        "ModuleResult": "envcheck.evidence.imports",
        "import_check": "envcheck.evidence.imports",
        "LoadReport": "envcheck.evidence.loads",
        "LoadResult": "envcheck.evidence.loads",
        "ModelFormat": "envcheck.evidence.loads",
        "load_check": "envcheck.evidence.loads",
        "DEFAULT_MEMORY_LIMIT": "envcheck.evidence.local",
        "LocalRunner": "envcheck.evidence.local",
        "DockerRunner": "envcheck.evidence.docker",
    },
)

if TYPE_CHECKING:
    from envcheck.evidence.docker import DockerRunner
    from envcheck.evidence.imports import ImportReport, ModuleResult, import_check
    from envcheck.evidence.loads import LoadReport, LoadResult, ModelFormat, load_check
    from envcheck.evidence.local import DEFAULT_MEMORY_LIMIT, LocalRunner

__all__ = [
    "DEFAULT_MEMORY_LIMIT",
    "ChildRun",
    "DockerRunner",
    "EvidenceError",
    "ImportReport",
    "LoadReport",
    "LoadResult",
    "LocalRunner",
    "ModelFormat",
    "ModuleResult",
    "Network",
    "Outcome",
    "Runner",
    "RunnerError",
    "import_check",
    "load_check",
]
