"""How far two correct runs of a battery kernel may legitimately differ: a tolerance in ULP per kernel, from the
kernel's definition (how many terms each result value sums, how ill-conditioned its problem is).

Why not one fixed tolerance: another thread count or blocking reorders a reduction, and a reordered sum of ``n``
terms differs by an amount that grows with ``n``. The deterministic worst case (Higham, *Accuracy and Stability of
Numerical Algorithms*, 2nd ed., 2002, §3.1) bounds a computed dot product or sum by
``|fl(s) - s| <= gamma_n * sum|terms|`` with ``gamma_n = n*u / (1 - n*u)`` (``u`` the unit roundoff). It holds
for any data and any order, but it is far too loose to be useful here: at ``n = 10**6`` it allows a million ULP,
and a real change would hide under it. Rounding errors are not worst-case in practice: Higham & Mary, "A New
Approach to Probabilistic Rounding Error Analysis" (SIAM J. Sci. Comput. 41(5), 2019, Thm 3.1) show that
``gamma_n`` may be replaced by ``lambda * sqrt(n) * u`` with probability at least
``1 - 2*exp(-lambda**2 * (1 - u)**2 / 2)``. The battery's inputs are independent, zero-mean values in [-1, 1), so
the result's scale itself grows like ``sqrt(n)`` (as do the partial sums), and the realistic error relative to
the result's scale is about ``sqrt(n) * u``.

The bound used, in ULP of the result's largest magnitude (what ``envcheck.numerics.compare`` measures)::

    tolerance = max(ULP_FLOOR, 2 * condition * sqrt(terms))

- ``sqrt(terms)``: the probabilistic error of one reduction of ``terms`` terms, relative to the result's scale;
- ``2``: both sides carry such an error, in other orders, so their difference may reach twice one's;
- ``condition``: for a solve or a factorization a perturbation of the data (the backward error, of the same
  ``sqrt(n) * u`` size) moves the result by up to the condition number times it (Higham Thm 7.2 for ``solve``;
  Stewart's perturbation bounds for the LU factors). The battery's matrices are fixed, so their condition numbers
  are constants of its definition (2-norm, measured with numpy and rounded up: see ``tests/numerics``);
- ``ULP_FLOOR`` (16): elementwise kernels (``exp``, ``erf``) and short reductions still differ by a few ULP
  between SIMD paths and libm builds.

Measured here (numpy 2.4.6, OpenBLAS 0.3.31, 2 threads, AMD EPYC, Haswell kernels by default), full results, in
ULP of their scale: one thread instead of two moves ``numpy.dot f64 100003`` by 42 (bound 632), ``solve`` by 40
(bound 16,032) and ``lu_factor`` by 73 (bound 32,064); ``OPENBLAS_CORETYPE=Sandybridge`` (no FMA) moves the
matmuls by at most 8, ``solve`` by 101 and ``lu_factor`` by 105; numpy 1.26.0 (OpenBLAS 0.3.23) moves the
matmuls and the float32 sum by at most 8. All of them are rounding. A result computed in lower precision
(float64 products in float32: 1e-8 relative, 10**7 ULP), a wrong kernel or another algorithm stays far beyond
every bound here (the largest, 32,064 ULP, is 7e-12 relative).

pandas' ``Series.std`` and ``Series.var`` (``_pandas_kernels``) are two-pass reductions that accumulate in float64
whatever the data's type (``pandas.core.nanops.nanvar`` sums with ``dtype=np.float64``; under numpy 1.x's value
promotion the squared deviations are float32, each rounded once, which moves the float64 sum by at most one
float32 ULP). A float32 result is then rounded once from a float64 value whose reduction error, about
``sqrt(n)`` float64 ULP, is ``sqrt(n) * 2**-29`` float32 ULP (2e-6 at ``n = 10**6``): two correct runs differ by
the final rounding only, so the float32 kernels get the floor, not ``2 * sqrt(n)`` (which at ``n = 10**6`` would
allow 2,000 ULP and hide the very change they are there for: bottleneck, which pandas uses for ``std``/``var``
when installed, accumulates float32 in float32 and lands about 1,760 ULP away at offset 0, and 14 times the
result away at offset +1000). The float64 kernels are ``n``-term float64 reductions like ``numpy.sum``:
``2 * sqrt(n)``. The +1000 inputs add no condition factor: the two-pass algorithm subtracts the mean before
squaring, a mean moved by ``d`` moves the sum of squares by ``n * d**2`` only, and the deviations are formed
identically on both sides. Measured here (pandas 3.1.1): bitwise equal under one and two OpenBLAS threads and
under ``OPENBLAS_CORETYPE=Sandybridge`` (pandas uses numpy's own sum, not BLAS); with bottleneck 1.6.1 the float64
kernels move by at most 394 ULP (bound 2,000) and the float32 ones by 1,764 ULP and more (bound 16).

The table is keyed by the battery's kernel names, so it covers lockfiles written before it existed; a kernel it
does not know (a later battery's) gets ``ULP_FLOOR``, the tolerance every kernel had before.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Tuple

#: The least tolerance, in ULP: what elementwise kernels and short reductions get (the former fixed tolerance).
ULP_FLOOR = 16
#: Both results carry their own rounding error, so their difference may reach twice one's.
SIDES = 2.0

#: Elements the battery's ``numpy.sum``/``mean``/``std`` reduce (``_inputs(np, 1000003, 7, dtype)``).
LONG_REDUCTION = 1000003
#: 2-norm condition numbers of the battery's fixed matrices (``8 I`` plus values in [-1, 1), 257 x 257), rounded
#: up from numpy's ``cond``: 495.8 for ``solve``'s (seed 9) and 992.0 for ``lu_factor``'s (seed 14). Only the
#: 257 x 257 kernels get them: another size would be another matrix, and gets ``ULP_FLOOR`` until measured.
SOLVE_CONDITION = 500.0
LU_CONDITION = 1000.0


@dataclass(frozen=True)
class Bound:
    """What a kernel's tolerance is made of."""

    terms: int = 1
    """How many terms each result value sums (1: elementwise)."""
    condition: float = 1.0
    """How much the problem amplifies a perturbation of its data (1: a plain reduction)."""
    known: bool = True
    """False for a kernel name the table does not know: it gets ``ULP_FLOOR``."""
    output_ulps: float = 0.0
    """ULP (of the recorded float32) that rounding the result to a narrower type adds: a float16 or bfloat16
    matmul accumulates in float32 and rounds each value once to its own type, where two accumulation orders can
    land one of its ULP apart (2**13 float32 ULP for float16, 2**16 for bfloat16), on each side."""

    wider: bool = False
    """The reduction accumulates in float64 and rounds a float32 result once at the end (pandas' float32
    ``std``/``var``): its ``sqrt(terms)`` float64 ULP are far below one float32 ULP, so it gets ``ULP_FLOOR``."""

    @property
    def ulps(self) -> float:
        """The tolerance in ULP of the result's largest magnitude (the module's docstring derives it)."""
        reduction = 0.0 if self.wider else SIDES * self.condition * math.sqrt(self.terms)
        return max(float(ULP_FLOOR), reduction) + SIDES * self.output_ulps

    def describe(self) -> str:
        """``n = 1000`` / ``n = 257, condition 500`` / ``elementwise``, for a verdict's text."""
        if not self.known:
            return "unknown kernel"
        if self.terms <= 1:
            return "elementwise"
        text = f"n = {self.terms}" + (", accumulated in float64" if self.wider else "")
        return f"{text}, condition {self.condition:g}" if self.condition != 1.0 else text


#: Output rounding of the GPU's half-precision matmuls, in float32 ULP (float32 has 23 fraction bits, float16 10,
#: bfloat16 7): see ``Bound.output_ulps``.
HALF_OUTPUT = {"f16": float(2 ** (23 - 10)), "bf16": float(2 ** (23 - 7))}

_PATTERNS: Tuple[Tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), kind)
    for p, kind in (
        (r"^(?:numpy|torch)\.matmul (?:cpu )?f(?:32|64) (\d+)x\d+$", "size"),
        (r"^torch\.matmul cuda f32 tf32-o(?:n|ff) (\d+)x\d+$", "size"),
        (r"^torch\.matmul cuda f16 (\d+)x\d+$", "f16"),
        (r"^torch\.matmul cuda bf16 (\d+)x\d+$", "bf16"),
        (r"^numpy\.dot (?:matvec )?f(?:32|64) (\d+)$", "size"),
        (r"^numpy\.(?:sum|mean|std) f(?:32|64)$", "long"),
        (r"^pandas\.Series\.(?:std|var) f32 (\d+)(?: \+\d+)?$", "wider"),
        (r"^pandas\.Series\.(?:std|var) f64 (\d+)(?: \+\d+)?$", "size"),
        (r"^numpy\.(?:exp|log|sin|tanh) f(?:32|64)$", "elementwise"),
        (r"^scipy\.special\.\w+ f64$", "elementwise"),
        (r"^numpy\.linalg\.solve f64 (257)$", "solve"),
        (r"^scipy\.linalg\.lu_factor f64 (257)$", "lu"),
        (r"^numpy\.linalg\.svd f64 (\d+)x\d+$", "size"),
        (r"^numpy\.fft\.r?fft f64 (\d+)$", "fft"),
    )
)


def bound_for(name: str) -> Bound:
    """The bound of the battery's kernel ``name`` (``numpy.matmul f64 1000x1000``), from its definition.

    A matmul or dot of size ``n`` sums ``n`` products per value; the singular values of an ``m x k`` matrix come
    from Householder reflections over ``m`` rows (Weyl: they move by the 2-norm of the perturbation, condition 1);
    an FFT of ``n`` points adds ``log2 n`` levels (Higham Thm 24.2)."""
    for pattern, kind in _PATTERNS:
        found = pattern.match(name)
        if found is None:
            continue
        size = int(found.group(1)) if found.groups() else 1
        if kind == "size":
            return Bound(terms=max(size, 1))
        if kind == "long":
            return Bound(terms=LONG_REDUCTION)
        if kind == "solve":
            return Bound(terms=max(size, 1), condition=SOLVE_CONDITION)
        if kind == "lu":
            return Bound(terms=max(size, 1), condition=LU_CONDITION)
        if kind in HALF_OUTPUT:
            return Bound(terms=max(size, 1), output_ulps=HALF_OUTPUT[kind])
        if kind == "wider":
            return Bound(terms=max(size, 1), wider=True)
        if kind == "fft":
            return Bound(terms=max(1, math.ceil(math.log2(max(size, 2)))))
        return Bound()
    return Bound(known=False)


def tolerance_ulps(name: str) -> float:
    """ULP of the result's scale within which two results of kernel ``name`` are rounding apart."""
    return bound_for(name).ulps
