"""The report's line about the numerics battery: that ``check --numerics`` ran, what it compared and on what.

A battery that comes out equivalent adds no finding, so without this line a user cannot tell it ran, nor how
close the candidate came (bitwise, or rounding apart and how far from the bound). Pure: two batteries in, one
line out.
"""

from __future__ import annotations

from typing import List, Sequence

from envcheck.model import NumericsInfo
from envcheck.numerics.compare import KernelDiff, Verdict, compare_batteries


def _counts(diffs: Sequence[KernelDiff]) -> str:
    equal = sum(1 for d in diffs if d.verdict is Verdict.EQUAL)
    within = sum(1 for d in diffs if d.verdict is Verdict.WITHIN_ULP)
    different = sum(1 for d in diffs if d.verdict is Verdict.DIFFERENT)
    return f"{equal} bitwise equal, {within} within rounding, {different} different"


def _runtime(info: NumericsInfo) -> str:
    """``numpy 2.4.6, scipy 1.17.1; OpenBLAS 0.3.31 Haswell, 2 threads; 1.1 s``."""
    parts: List[str] = []
    versions = ", ".join(f"{name} {version}" for name, version in sorted(info.versions.items()) if version)
    if versions:
        parts.append(versions)
    blas = list(dict.fromkeys(" ".join((o.config.split()[1:2] or ["?"]) + [o.core or "?"]) for o in info.openblas))
    threads = list(dict.fromkeys(o.threads for o in info.openblas if o.threads))
    if blas:
        text = "OpenBLAS " + ", ".join(blas)
        if threads:
            text += f", {'/'.join(threads)} thread{'' if threads == ['1'] else 's'}"
        parts.append(text)
    parts.append(f"{info.elapsed_ms / 1000:.1f} s")
    return "; ".join(parts)


def _closest(diffs: Sequence[KernelDiff]) -> str:
    """The kernel within rounding that came closest to its bound, or ``""`` when none is."""
    within = [d for d in diffs if d.verdict is Verdict.WITHIN_ULP and d.tolerance > 0]
    if not within:
        return ""
    worst = max(within, key=lambda d: d.ulps / d.tolerance)
    return f"; closest to its bound: {worst.name}, {worst.ulps:.3g} of {worst.tolerance:.0f} ULP"


def describe(expected: NumericsInfo, actual: NumericsInfo) -> str:
    """One line: how many kernels were compared and with which verdicts, the candidate's numpy, OpenBLAS and
    threads, how long the battery took, and the kernel closest to its bound (``numerics: 29 kernels compared:
    12 bitwise equal, 17 within rounding, 0 different (numpy 2.4.6; OpenBLAS 0.3.31 Haswell, 2 threads; 1.1 s);
    closest to its bound: numpy.dot f64 100003, 42 of 632 ULP``)."""
    diffs = compare_batteries(expected, actual)
    runtime = _runtime(actual)
    if not diffs:
        return (
            f"numerics: no kernel in common with the lockfile's battery (battery {expected.battery} there, "
            f"{actual.battery} here; {runtime})"
        )
    theirs = {k.name for k in actual.kernels}
    missing = sum(1 for k in expected.kernels if k.name not in theirs)
    not_run = f", {missing} of the lockfile's not run here" if missing else ""
    return (
        f"numerics: {len(diffs)} kernel{'' if len(diffs) == 1 else 's'} compared: {_counts(diffs)}{not_run} "
        f"({runtime}){_closest(diffs)}"
    )
