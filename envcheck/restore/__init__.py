"""Getting back: what restores a lockfile's package set on a candidate (``envcheck remedy``).

``plan`` compares the lockfile's packages with the candidate's (pure); ``render`` writes the plan as a pip
requirements file or a PEP 751 ``pylock.toml``. What no package manager restores (Python, the OS, the CPU, the
GPU driver, native libraries) is listed in a comment block at the top of either.
"""

from __future__ import annotations

from envcheck.restore.interface import FORMATS, Pin, Plan, RemedyError, Source
from envcheck.restore.plan import plan
from envcheck.restore.pylock import render_pylock
from envcheck.restore.requirements import render_requirements

__all__ = ["FORMATS", "Pin", "Plan", "RemedyError", "Source", "plan", "render"]


def render(remedy: Plan, fmt: str) -> str:
    """``remedy`` as text in ``fmt`` (one of ``FORMATS``)."""
    if fmt == "requirements":
        return render_requirements(remedy)
    if fmt == "pylock":
        return render_pylock(remedy)
    raise RemedyError(f"unknown remedy format {fmt!r} (one of {', '.join(FORMATS)})")
