"""Recorded against served outputs: tolerance for numbers, exactness for labels, structure first."""

from __future__ import annotations

import math
from typing import Any

import pytest

from envcheck.golden.case import Tolerance
from envcheck.golden.compare import LABEL, NAN, NUMBER, SHAPE, TYPE, compare_outputs, describe

TIGHT = Tolerance(abs=1e-6, rel=1e-6)


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ([0.1, 0.2], [0.1 + 1e-9, 0.2]),
        ([[1.0, 2.0]], [[1.0, 2.0000015]]),  # within rel 1e-6 of 2 plus abs 1e-6
        ({"label": ["cat"], "p": [0.5]}, {"p": [0.5], "label": ["cat"]}),
        ([1, 2], [1.0, 2.0]),  # numbers, either written as int or float
        ([float("nan")], [float("nan")]),  # recorded NaN answered NaN
        ([None, True, "x"], [None, True, "x"]),
        (1e300, 1e300),
    ],
    ids=["float", "nested", "dict", "int-float", "nan-nan", "exact", "huge"],
)
def test_equal_within_tolerance(expected: Any, actual: Any) -> None:
    result = compare_outputs("c", expected, actual, TIGHT)
    assert result.ok and result.worst is None
    assert describe(result).startswith("all ")


@pytest.mark.parametrize(
    ("expected", "actual", "kind", "path"),
    [
        ([0.1, 0.2, 0.3], [0.1, 0.25, 0.3], NUMBER, "[1]"),
        ([0, 1, 1], [0, 1, 0], LABEL, "[2]"),
        (["cat"], ["dog"], LABEL, "[0]"),
        ([0.5], [float("nan")], NAN, "[0]"),
        ([0.5], [math.inf], NAN, "[0]"),
        ([0.5, 0.5], [0.5], SHAPE, ""),
        ({"p": [1.0]}, {"q": [1.0]}, SHAPE, ""),
        ([[1.0, 2.0]], [1.0, 2.0], SHAPE, ""),  # [[..]] vs [..]: one item vs two
        ([[1.0]], [1.0], TYPE, "[0]"),
        (["1"], [1], TYPE, "[0]"),
        ([True], [1], TYPE, "[0]"),
    ],
    ids=["number", "int-label", "str-label", "nan", "inf", "length", "keys", "rank", "nesting", "str-int", "bool"],
)
def test_differences(expected: Any, actual: Any, kind: str, path: str) -> None:
    result = compare_outputs("c", expected, actual, TIGHT)
    assert not result.ok
    assert result.worst is not None and (result.worst.kind, result.worst.path) == (kind, path)
    assert "worst" in describe(result)


def test_structure_outranks_a_number_and_the_largest_error_is_named() -> None:
    result = compare_outputs("c", {"a": [1.0, 2.0, 3.0], "b": ["x"]}, {"a": [1.1, 2.0, 3.5], "b": ["y"]}, TIGHT)
    assert (result.mismatches, result.compared) == (3, 4)
    assert result.worst is not None and result.worst.kind == LABEL and result.worst.path == ".b[0]"
    numbers = compare_outputs("c", [1.0, 2.0, 3.0], [1.1, 2.0, 3.5], TIGHT)
    assert numbers.worst is not None and numbers.worst.path == "[2]"
    assert numbers.worst.abs_error == pytest.approx(0.5) and numbers.worst.rel_error == pytest.approx(0.5 / 3)
    assert numbers.max_abs_error == pytest.approx(0.5)
    assert "abs error 0.5" in describe(numbers) and "2 of 3 values differ" in describe(numbers)


def test_tolerance_is_absolute_plus_relative() -> None:
    assert compare_outputs("c", [100.0], [100.9], Tolerance(abs=0.0, rel=0.01)).ok
    assert not compare_outputs("c", [100.0], [101.1], Tolerance(abs=0.0, rel=0.01)).ok
    assert compare_outputs("c", [0.0], [0.05], Tolerance(abs=0.1, rel=0.0)).ok
    zero = compare_outputs("c", [0.0], [0.5], Tolerance(abs=0.1, rel=0.0))
    assert zero.worst is not None and zero.worst.rel_error == math.inf


def test_integer_labels_are_exact_whatever_the_tolerance() -> None:
    assert not compare_outputs("c", [1], [2], Tolerance(abs=5.0, rel=5.0)).ok
