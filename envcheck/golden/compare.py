"""Recorded outputs against served ones, within a tolerance. Pure.

Numbers compare as ``|actual - expected| <= abs + rel * |expected|``; integers on both sides are labels and
compare exactly, as do strings, booleans and nulls; a NaN where a number was recorded, another length, other keys
or another type is a structural difference, which outranks any numeric one. The result names the worst element
(its path, ``[3][1]`` or ``.probabilities[0]``), what was recorded and served there, and the error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, List, Optional

from envcheck.golden.case import Tolerance

NUMBER = "number"
LABEL = "label"
NAN = "nan"
SHAPE = "shape"
TYPE = "type"
#: Structural kinds: the served output is not the recorded one's kind of thing at all.
STRUCTURAL = (NAN, SHAPE, TYPE)


@dataclass(frozen=True)
class Mismatch:
    path: str
    """Where in the output (``[3][1]``; empty: the whole output)."""
    kind: str
    """``number`` (beyond the tolerance), ``label`` (an exact value differs) or a structural kind."""
    expected: str
    actual: str
    abs_error: float = 0.0
    rel_error: float = 0.0


@dataclass(frozen=True)
class CaseResult:
    name: str
    compared: int
    """Leaf values compared."""
    mismatches: int
    worst: Optional[Mismatch] = None
    max_abs_error: float = 0.0
    """The largest absolute error over numbers, within the tolerance or not."""

    @property
    def ok(self) -> bool:
        return self.mismatches == 0


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


class _Walk:
    def __init__(self, tolerance: Tolerance) -> None:
        self.tolerance = tolerance
        self.compared = 0
        self.found: List[Mismatch] = []
        self.max_abs = 0.0

    def walk(self, expected: Any, actual: Any, path: str) -> None:
        if isinstance(expected, list):
            if not isinstance(actual, list):
                self._add(path, TYPE, expected, actual)
            elif len(expected) != len(actual):
                self._add(path, SHAPE, f"{len(expected)} items", f"{len(actual)} items")
            else:
                for i, (e, a) in enumerate(zip(expected, actual)):
                    self.walk(e, a, f"{path}[{i}]")
            return
        if isinstance(expected, dict):
            if not isinstance(actual, dict):
                self._add(path, TYPE, expected, actual)
            elif set(expected) != set(actual):
                self._add(path, SHAPE, sorted(expected), sorted(actual))
            else:
                for key in sorted(expected):
                    self.walk(expected[key], actual[key], f"{path}.{key}")
            return
        self.compared += 1
        if _is_number(expected) and _is_number(actual):
            self._number(expected, actual, path)
        elif type(expected) is not type(actual) and not (_is_number(expected) and _is_number(actual)):
            self._add(path, TYPE, expected, actual)
        elif expected != actual:
            self._add(path, LABEL, expected, actual)

    def _number(self, expected: Any, actual: Any, path: str) -> None:
        if isinstance(expected, int) and isinstance(actual, int):
            if expected != actual:
                self._add(path, LABEL, expected, actual)
            return
        e, a = float(expected), float(actual)
        if math.isnan(e) or math.isnan(a):
            if not (math.isnan(e) and math.isnan(a)):
                self._add(path, NAN, expected, actual)
            return
        if math.isinf(e) or math.isinf(a):
            if e != a:
                self._add(path, NAN, expected, actual, math.inf, math.inf)
            return
        err = abs(a - e)
        self.max_abs = max(self.max_abs, err)
        if err > self.tolerance.abs + self.tolerance.rel * abs(e):
            rel = err / abs(e) if e else math.inf
            self._add(path, NUMBER, expected, actual, err, rel)

    def _add(self, path: str, kind: str, expected: Any, actual: Any, err: float = 0.0, rel: float = 0.0) -> None:
        self.found.append(Mismatch(path, kind, _short(expected), _short(actual), err, rel))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _rank(m: Mismatch) -> tuple[int, float]:
    return (2 if m.kind in STRUCTURAL else 1 if m.kind == LABEL else 0, m.abs_error)


def compare_outputs(name: str, expected: Any, actual: Any, tolerance: Tolerance) -> CaseResult:
    """Compare one case's recorded ``expected`` outputs with the served ``actual`` ones."""
    w = _Walk(tolerance)
    w.walk(expected, actual, "")
    worst = max(w.found, key=_rank, default=None)
    return CaseResult(name, w.compared, len(w.found), worst, w.max_abs)


def describe(result: CaseResult) -> str:
    """One phrase: what differs, where, by how much."""
    m = result.worst
    if m is None:
        return f"all {result.compared} values within the tolerance"
    where = f"at {m.path}" if m.path else "the whole output"
    of = f"{result.mismatches} of {result.compared} values differ" if result.compared else "the output differs"
    if m.kind == NUMBER:
        return (
            f"{of}; worst {where}: recorded {m.expected}, served {m.actual} (abs error {m.abs_error:.3g}, "
            f"rel error {m.rel_error:.3g})"
        )
    what = {LABEL: "label", NAN: "not a finite number", SHAPE: "another shape", TYPE: "another type"}[m.kind]
    return f"{of}; worst {where}: {what}: recorded {m.expected}, served {m.actual}"
