"""Pure comparison of kernels and batteries: verdicts, the normwise error, each kernel's bound and the impact cut
points, and a second comparison of the same batteries answered from the first."""

from __future__ import annotations

import math

import pytest

from envcheck.model import NumericsInfo, NumericsKernel
from envcheck.numerics.bounds import tolerance_ulps
from envcheck.numerics.compare import (
    ULP_TOLERANCE,
    KernelDiff,
    Verdict,
    all_equal,
    compare_batteries,
    compare_kernel,
)

BASE = NumericsKernel(
    name="numpy.matmul f64 7x7",
    dtype="float64",
    shape=(7, 7),
    digest="0123456789abcdef",
    total="3.5",
    max_abs="2.0",
    sample=("1.0", "-2.0", "0.5"),
)


def _moved(delta: float, dtype: str = "float64") -> tuple[NumericsKernel, NumericsKernel]:
    a = NumericsKernel(**{**BASE.__dict__, "dtype": dtype})
    b = NumericsKernel(
        **{**a.__dict__, "digest": "fedcba9876543210", "sample": ("1.0", repr(-2.0 + delta), "0.5")}
    )
    return a, b


def test_same_digest_is_bitwise_equal() -> None:
    assert compare_kernel(BASE, BASE).verdict is Verdict.EQUAL


def test_rounding_of_the_results_scale_is_within_ulp() -> None:
    a, b = _moved(4 * 2.0**-52 * 2)  # 4 ULP of 2.0
    diff = compare_kernel(a, b)
    assert diff.verdict is Verdict.WITHIN_ULP
    assert diff.ulps == pytest.approx(4)
    assert diff.impact == 1


@pytest.mark.parametrize(
    ("delta", "impact"),
    [(1e-9, 3), (1e-5, 4), (2e-2, 5)],
    ids=["high-below-1e-6", "high-1e-6-to-1e-3", "critical-above-1e-3"],
)
def test_impact_follows_the_relative_error(delta: float, impact: int) -> None:
    diff = compare_kernel(*_moved(delta * 2.0))
    assert diff.verdict is Verdict.DIFFERENT
    assert diff.max_rel_error == pytest.approx(delta, rel=1e-6)
    assert diff.impact == impact
    assert f"{diff.max_rel_error:.2g}" in diff.describe()


def test_float32_ulps_are_float32s() -> None:
    diff = compare_kernel(*_moved(3 * 2.0**-23 * 2, "float32"))
    assert diff.verdict is Verdict.WITHIN_ULP and diff.ulps == pytest.approx(3)


def test_sum_is_judged_against_the_size() -> None:
    b = NumericsKernel(**{**BASE.__dict__, "digest": "fedcba9876543210", "total": repr(3.5 + 49 * 2 * 2.0**-52)})
    assert compare_kernel(BASE, b).ulps == pytest.approx(1)


def test_shape_change_and_failure_are_critical() -> None:
    other = NumericsKernel(**{**BASE.__dict__, "shape": (7,)})
    assert compare_kernel(BASE, other).impact == 5 and "changed from" in compare_kernel(BASE, other).describe()
    failed = NumericsKernel(name=BASE.name, error="LinAlgError: Singular matrix")
    diff = compare_kernel(BASE, failed)
    assert math.isinf(diff.max_rel_error) and "Singular matrix" in diff.describe()
    assert compare_kernel(failed, failed).verdict is Verdict.EQUAL


def test_unmeasured_difference_says_so() -> None:
    b = NumericsKernel(**{**BASE.__dict__, "digest": "fedcba9876543210"})
    diff = compare_kernel(BASE, b)
    assert diff.verdict is Verdict.WITHIN_ULP and "elsewhere in the result" in diff.describe()


def test_batteries_compare_shared_kernels_only() -> None:
    torch = NumericsKernel(name="torch.matmul cpu f32 127x127", digest="0" * 16)
    old = NumericsInfo(kernels=(BASE, torch))
    assert [d.name for d in compare_batteries(old, NumericsInfo(kernels=(BASE,)))] == [BASE.name]
    assert all_equal(old, NumericsInfo(kernels=(BASE,)))
    assert not all_equal(old, NumericsInfo(kernels=(torch,)).__class__(kernels=(_moved(1.0)[1],)))
    assert not all_equal(old, None)


def test_tolerance_is_documented_in_the_verdict() -> None:
    assert f"within {ULP_TOLERANCE} ULP" in KernelDiff("k", Verdict.WITHIN_ULP, 1e-16, 1.0).describe()


def _named(
    name: str, ulps: float, dtype: str = "float64", scale: float = 2.0
) -> tuple[NumericsKernel, NumericsKernel]:
    """A kernel ``name`` whose second sample value moved by ``ulps`` ULP of its scale (2.0)."""
    eps = 2.0**-52 if dtype == "float64" else 2.0**-23
    a = NumericsKernel(**{**BASE.__dict__, "name": name, "dtype": dtype, "max_abs": repr(scale)})
    b = NumericsKernel(
        **{**a.__dict__, "digest": "fedcba9876543210", "sample": ("1.0", repr(-2.0 + ulps * eps * 2))}
    )
    return a, b


@pytest.mark.parametrize(
    ("name", "ulps", "verdict"),
    [
        ("numpy.matmul f64 7x7", 40, Verdict.DIFFERENT),
        ("numpy.matmul f64 1000x1000", 40, Verdict.WITHIN_ULP),
        ("numpy.matmul f64 1000x1000", 70, Verdict.DIFFERENT),
        ("numpy.dot f64 100003", 600, Verdict.WITHIN_ULP),
        ("numpy.linalg.solve f64 257", 101, Verdict.WITHIN_ULP),
        ("numpy.exp f64", 20, Verdict.DIFFERENT),
        ("a.later.kernel f64 9", 20, Verdict.DIFFERENT),
    ],
    ids=["short-matmul", "long-matmul", "long-matmul-beyond", "long-dot", "ill-conditioned", "exp", "unknown"],
)
def test_tolerance_grows_with_the_reduction_length(name: str, ulps: float, verdict: Verdict) -> None:
    """A reduction of n terms reordered moves by about sqrt(n) ULP of the result's scale (the thread change
    measured 42 ULP in ``numpy.dot f64 100003``); elementwise kernels and unknown ones keep 16."""
    diff = compare_kernel(*_named(name, ulps))
    assert diff.verdict is verdict and diff.ulps == pytest.approx(ulps)
    assert diff.tolerance == pytest.approx(tolerance_ulps(name))
    assert (diff.impact == 1) is (verdict is Verdict.WITHIN_ULP)


def test_a_real_change_is_beyond_the_loosest_bound() -> None:
    """1e-9 relative in the loosest kernel (LU factors, condition 1000: 7e-12 allowed) is a finding."""
    a, _ = _named("scipy.linalg.lu_factor f64 257", 0)
    b = NumericsKernel(**{**a.__dict__, "digest": "fedcba9876543210", "sample": ("1.0", repr(-2.0 * (1 + 1e-9)))})
    diff = compare_kernel(a, b)
    assert diff.verdict is Verdict.DIFFERENT and diff.impact == 3
    assert "bound 32062 ULP for n = 257, condition 1000" in diff.describe()


def test_verdict_text_names_the_bound() -> None:
    within = compare_kernel(*_named("numpy.matmul f64 1000x1000", 40))
    assert within.describe().startswith("within 63 ULP for n = 1000: max relative error")
    different = compare_kernel(*_named("numpy.exp f64", 20))
    assert "(20 ULP, bound 16 ULP for elementwise)" in different.describe()


def test_comparing_the_same_two_batteries_again_is_free() -> None:
    """``envcheck.compare`` asks ``all_equal`` and ``numerics_changes`` (and the report's line) about the same
    two batteries: the second time is the first's result, by identity; other batteries are compared anew."""
    old, new = NumericsInfo(kernels=(BASE,)), NumericsInfo(kernels=(_moved(1e-9)[1],))
    first = compare_batteries(old, new)
    assert first[0].verdict is Verdict.DIFFERENT
    assert compare_batteries(old, new) is first
    equal_copy = NumericsInfo(kernels=(_moved(1e-9)[1],))
    again = compare_batteries(old, equal_copy)
    assert again is not first and again == first
    assert compare_batteries(old, old)[0].verdict is Verdict.EQUAL
