"""Pure comparison of two numerics batteries: per kernel bitwise equal, within its bound, or different by how much.

Errors are measured normwise, against the largest magnitude of the recorded result: ``|a - b| / max|a|`` over the
recorded values (the sample, the sum, the largest magnitude). An element near zero that a different summation
order moves by a few ULP of the *result's* scale is how floating point works, not a bug; relative to itself it
would look huge. ``ulps`` is that same error in units in the last place of the largest magnitude in the result's
dtype. Each kernel's tolerance comes from its definition (``envcheck.numerics.bounds``): at least 16 ULP, more
for long reductions and ill-conditioned solves (``2 * condition * sqrt(n)``), so "within the bound" means "as
close as two correct kernels that sum in other orders get".

What is a finding, and its impact, from the measured error (cut points, and why):

- bitwise equal: nothing to report;
- within the kernel's bound: observed equivalent, not a finding. A different blocking, thread split or SIMD width
  reorders sums; correct kernels disagree at this level, and a model whose decisions move on it was already
  unstable;
- beyond that: observed, not guessed, so at least high (issue 13: evidence outranks the guess). Under
  ``MEDIUM_BELOW`` (1e-6) relative: impact 3 (high with the rule's probability 4): larger than rounding alone,
  still below what a float32 model's outputs resolve (float32 carries about 7 digits);
- 1e-6 up to ``HIGH_BELOW`` (1e-3): impact 4 (high). Visible in float32 outputs: a threshold or an argmax near a
  tie flips; scores compared with a tolerance of 1e-6..1e-4 in tests fail;
- 1e-3 and more, a changed shape or dtype, or a kernel that fails: impact 5 (critical). That is a different
  algorithm or a wrong result (a miscompiled kernel, a broken BLAS), not rounding.
"""

from __future__ import annotations

import enum
import math
import struct
from dataclasses import dataclass
from typing import Dict, Iterable, Optional, Tuple

from envcheck.model import NumericsInfo, NumericsKernel
from envcheck.numerics.bounds import ULP_FLOOR, bound_for
from envcheck.numerics.results import as_float, by_name

#: The least tolerance, in normwise ULP of the largest magnitude (each kernel's own is ``bounds.tolerance_ulps``).
ULP_TOLERANCE = ULP_FLOOR
#: Relative errors (normwise) at which the impact steps up: see the module's docstring.
MEDIUM_BELOW = 1e-6
HIGH_BELOW = 1e-3


class Verdict(enum.Enum):
    EQUAL = "bitwise equal"
    WITHIN_ULP = "within ULP"
    DIFFERENT = "different"


@dataclass(frozen=True)
class KernelDiff:
    """How one kernel compares between the lockfile and the candidate."""

    name: str
    verdict: Verdict
    max_rel_error: float = 0.0
    """Normwise: the largest recorded difference over the result's largest magnitude; ``inf`` when the shape or
    dtype changed or a side failed."""
    ulps: float = 0.0
    """``max_rel_error`` in ULP of the largest magnitude, in the result's dtype."""
    note: str = ""
    """Why the error could not be measured (a changed shape, a failed kernel), or that the sampled values are
    equal and the difference lies elsewhere in the result."""
    tolerance: float = float(ULP_TOLERANCE)
    """The kernel's bound in ULP (``envcheck.numerics.bounds``): within it, two results are rounding apart."""
    bound: str = ""
    """What the bound is made of (``n = 1000``, ``elementwise``), for the text."""

    @property
    def impact(self) -> int:
        """1..5 from the measured error (the module's docstring has the cut points)."""
        if self.verdict is not Verdict.DIFFERENT:
            return 1
        if self.max_rel_error < MEDIUM_BELOW:
            return 3
        if self.max_rel_error < HIGH_BELOW:
            return 4
        return 5

    def describe(self) -> str:
        """``different: max relative error 3.1e-07 (5.2e+09 ULP, bound 63 ULP for n = 1000)``."""
        if self.verdict is Verdict.EQUAL:
            return "bitwise equal"
        if math.isinf(self.max_rel_error):
            return f"different: {self.note}"
        why = f" for {self.bound}" if self.bound else ""
        if self.verdict is Verdict.WITHIN_ULP:
            text = f"within {self.tolerance:.0f} ULP{why}: max relative error {self.max_rel_error:.2g} "
            text += f"({self.ulps:.3g} ULP)"
        else:
            text = f"different: max relative error {self.max_rel_error:.2g} ({self.ulps:.3g} ULP, bound "
            text += f"{self.tolerance:.0f} ULP{why})"
        return f"{text}; {self.note}" if self.note else text


def _eps(dtype: str) -> float:
    if dtype in ("float32", "complex64"):
        return 2.0**-23
    if dtype in ("float16",):
        return 2.0**-10
    return 2.0**-52


def _ulp(value: float, dtype: str) -> float:
    """The spacing of ``dtype`` values at ``value`` (normal range)."""
    if value == 0 or not math.isfinite(value):
        return _eps(dtype) * 2.0**-126 if dtype == "float32" else 5e-324
    return _eps(dtype) * 2.0 ** math.floor(math.log2(abs(value)))


def same_bits(a: str, b: str) -> bool:
    """Two recorded values that are the same float (``nan`` equal to ``nan``)."""
    x, y = as_float(a), as_float(b)
    return struct.pack("<d", x) == struct.pack("<d", y) or (math.isnan(x) and math.isnan(y))


def compare_kernel(expected: NumericsKernel, actual: NumericsKernel) -> KernelDiff:
    """How ``actual`` compares with ``expected`` (the same kernel by name)."""
    name = expected.name
    if expected.error or actual.error:
        if expected.error and actual.error:
            return KernelDiff(name, Verdict.EQUAL)  # it failed then and fails now: nothing new about numbers
        which = f"fails in the candidate ({actual.error})" if actual.error else f"failed then ({expected.error})"
        return KernelDiff(name, Verdict.DIFFERENT, math.inf, math.inf, which)
    if (expected.dtype, expected.shape) != (actual.dtype, actual.shape):
        note = f"the result changed from {expected.dtype} {expected.shape} to {actual.dtype} {actual.shape}"
        return KernelDiff(name, Verdict.DIFFERENT, math.inf, math.inf, note)
    if expected.digest == actual.digest:
        return KernelDiff(name, Verdict.EQUAL)
    scale = abs(as_float(expected.max_abs))
    size = math.prod(expected.shape) if expected.shape else 1
    # the sum of n values may move by n times an element's rounding: it is judged against n times the scale
    pairs = [(a, b, 1) for a, b in zip(expected.sample, actual.sample)]
    pairs += [(expected.max_abs, actual.max_abs, 1), (expected.total, actual.total, max(size, 1))]
    worst = 0.0
    for a, b, weight in pairs:
        x, y = as_float(a), as_float(b)
        if same_bits(a, b):
            continue
        if not (math.isfinite(x) and math.isfinite(y)):
            return KernelDiff(name, Verdict.DIFFERENT, math.inf, math.inf, f"a value went from {a} to {b}")
        worst = max(worst, abs(x - y) / weight)
    rel = worst / scale if scale > 0 else (math.inf if worst else 0.0)
    ulps = worst / _ulp(scale, expected.dtype) if scale > 0 else rel
    note = "" if worst else "the sampled values are equal; the difference lies elsewhere in the result"
    bound = bound_for(name)
    verdict = Verdict.WITHIN_ULP if ulps <= bound.ulps else Verdict.DIFFERENT
    return KernelDiff(name, verdict, rel, ulps, note, tolerance=bound.ulps, bound=bound.describe())


#: The last comparison and the two batteries it was of (held, so their ids cannot be reused while it is kept).
_last: Optional[Tuple[NumericsInfo, NumericsInfo, Tuple[KernelDiff, ...]]] = None


def compare_batteries(expected: NumericsInfo, actual: NumericsInfo) -> Tuple[KernelDiff, ...]:
    """Every kernel both batteries ran, compared, in the lockfile's order. A kernel only one side ran (scipy
    or torch not installed on the other) is left out: the package findings say that.

    One comparison feeds several readers (``all_equal``, ``findings.numerics_changes``, the report's line): the
    last result is kept for the same two objects (by identity; both are frozen), so asking again costs nothing.
    """
    global _last
    last = _last  # one read: another thread may replace it meanwhile, and a whole tuple is replaced at once
    if last is not None and last[0] is expected and last[1] is actual:
        return last[2]
    theirs = by_name(actual)
    diffs = tuple(compare_kernel(k, theirs[k.name]) for k in expected.kernels if k.name in theirs)
    _last = (expected, actual, diffs)
    return diffs


def changed(diffs: Iterable[KernelDiff]) -> Tuple[KernelDiff, ...]:
    """The kernels whose results differ beyond rounding (each kernel's bound)."""
    return tuple(d for d in diffs if d.verdict is Verdict.DIFFERENT)


def all_equal(expected: Optional[NumericsInfo], actual: Optional[NumericsInfo]) -> bool:
    """Both batteries ran, share at least one kernel, and every shared kernel is bitwise equal or within its
    bound: observed equivalent."""
    if expected is None or actual is None:
        return False
    diffs = compare_batteries(expected, actual)
    return bool(diffs) and not changed(diffs)


def summary(diffs: Iterable[KernelDiff]) -> Dict[str, int]:
    """Kernels per verdict (``bitwise equal``: 40, ...)."""
    out: Dict[str, int] = {}
    for d in diffs:
        out[d.verdict.value] = out.get(d.verdict.value, 0) + 1
    return out
