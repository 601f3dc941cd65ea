"""Pure comparison of kernels and batteries: verdicts, the normwise error and the impact cut points."""

from __future__ import annotations

import math

import pytest

from envcheck.model import NumericsInfo, NumericsKernel
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
