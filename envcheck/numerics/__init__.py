"""The numerics fingerprint (opt-in, ``--numerics``): a small deterministic battery of numerical kernels run in a
child of the target's interpreter, recorded as digests and magnitudes, and compared kernel by kernel.

``battery`` holds the child's source; ``results`` parses its output into the model's ``NumericsInfo``;
``bounds`` gives each kernel's tolerance from its definition (reduction length, condition number); ``compare``
says per kernel bitwise equal / within its bound / different and by how much; ``findings`` turns that into
``numerics.changed`` changes with a likely cause; ``describe`` writes the report's line saying what was compared;
``run`` runs the battery through an evidence ``Runner`` (imported where it is used: it brings the targets'
modules, and the comparison must not).
"""

from __future__ import annotations

from envcheck.numerics.compare import KernelDiff, Verdict, compare_batteries, compare_kernel
from envcheck.numerics.results import NumericsError, parse_output

__all__ = [
    "KernelDiff",
    "NumericsError",
    "Verdict",
    "compare_batteries",
    "compare_kernel",
    "parse_output",
]
