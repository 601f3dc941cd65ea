"""Each kernel's tolerance from its definition: the formula, every kernel of the battery known to the table, the
condition numbers it assumes no smaller than the battery's matrices have, older names and unknown ones."""

from __future__ import annotations

import math
from typing import Any, Dict

import numpy as np
import pytest

from envcheck.numerics.battery import SOURCE
from envcheck.numerics.bounds import (
    LONG_REDUCTION,
    LU_CONDITION,
    SOLVE_CONDITION,
    ULP_FLOOR,
    Bound,
    bound_for,
    tolerance_ulps,
)


@pytest.fixture(scope="module")
def battery() -> Dict[str, Any]:
    namespace: Dict[str, Any] = {"__name__": "battery"}
    exec(compile(SOURCE, "battery", "exec"), namespace)
    return namespace


@pytest.mark.parametrize(
    ("name", "terms", "condition", "ulps"),
    [
        ("numpy.matmul f64 1x1", 1, 1.0, 16),
        ("numpy.matmul f64 7x7", 7, 1.0, 16),
        ("numpy.matmul f32 1000x1000", 1000, 1.0, 2 * math.sqrt(1000)),
        ("torch.matmul cpu f32 1000x1000", 1000, 1.0, 2 * math.sqrt(1000)),
        ("numpy.dot matvec f64 257", 257, 1.0, 2 * math.sqrt(257)),
        ("numpy.dot f64 100003", 100003, 1.0, 2 * math.sqrt(100003)),
        ("numpy.sum f32", LONG_REDUCTION, 1.0, 2 * math.sqrt(LONG_REDUCTION)),
        ("numpy.std f64", LONG_REDUCTION, 1.0, 2 * math.sqrt(LONG_REDUCTION)),
        ("numpy.exp f32", 1, 1.0, 16),
        ("scipy.special.erf f64", 1, 1.0, 16),
        ("numpy.linalg.solve f64 257", 257, SOLVE_CONDITION, 2 * SOLVE_CONDITION * math.sqrt(257)),
        ("scipy.linalg.lu_factor f64 257", 257, LU_CONDITION, 2 * LU_CONDITION * math.sqrt(257)),
        ("numpy.linalg.svd f64 127x64", 127, 1.0, 2 * math.sqrt(127)),
        ("numpy.fft.fft f64 4096", 12, 1.0, 16),
        ("numpy.fft.rfft f64 1000", 10, 1.0, 16),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bound_follows_the_kernels_definition(name: str, terms: int, condition: float, ulps: float) -> None:
    bound = bound_for(name)
    assert (bound.terms, bound.condition, bound.known) == (terms, condition, True)
    assert bound.ulps == pytest.approx(ulps) and tolerance_ulps(name) == bound.ulps


@pytest.mark.parametrize(
    "name",
    ["numpy.einsum f64 9", "numpy.linalg.solve f64 500", "scipy.linalg.lu_factor f64 64", "", "numpy.sum f16"],
    ids=["later-kernel", "other-solve-size", "other-lu-size", "empty", "other-dtype"],
)
def test_a_kernel_the_table_does_not_know_gets_the_floor(name: str) -> None:
    """A later battery's kernel, or a solve of another matrix whose condition number was never measured: the
    former fixed tolerance, loud rather than blind."""
    bound = bound_for(name)
    assert not bound.known and bound.ulps == ULP_FLOOR and bound.describe() == "unknown kernel"


def test_every_kernel_of_the_battery_has_a_bound(battery: Dict[str, Any]) -> None:
    names = [name for name, _ in battery["_kernels"](np) + battery["_scipy_kernels"](np)]
    names += [f"torch.matmul cpu f32 {n}x{n}" for n in (127, 1000)]  # named as _torch_kernels names them
    assert len(names) >= 40
    assert [name for name in names if not bound_for(name).known] == []


@pytest.mark.parametrize(
    ("seed", "condition"), [(9, SOLVE_CONDITION), (14, LU_CONDITION)], ids=["solve", "lu_factor"]
)
def test_condition_numbers_are_the_battery_matrices_rounded_up(
    battery: Dict[str, Any], seed: int, condition: float
) -> None:
    matrix = battery["_inputs"](np, 257 * 257, seed, "float64").reshape(257, 257) + np.eye(257) * 8.0
    measured = float(np.linalg.cond(matrix))
    assert measured <= condition < measured * 1.1, measured


def test_bounds_describe_themselves() -> None:
    assert Bound(1000).describe() == "n = 1000"
    assert Bound(257, 500.0).describe() == "n = 257, condition 500"
    assert Bound().describe() == "elementwise"


def test_the_largest_bound_still_sees_a_lower_precision_result() -> None:
    """The loosest kernel (the LU factors of a matrix of condition 1000) allows 7e-12 relative in float64; a
    float64 result computed in float32 is off by about 1e-8 relative, three orders of magnitude beyond."""
    loosest = max(tolerance_ulps(n) for n in ("numpy.linalg.solve f64 257", "scipy.linalg.lu_factor f64 257"))
    assert loosest * 2.0**-52 < 1e-11
    assert 2.0 * math.sqrt(LONG_REDUCTION) * 2.0**-23 < 1e-3  # float32's longest sum: below the critical cut
