"""Golden case documents: what is accepted, what is refused with one line, and a stable rendering."""

from __future__ import annotations

import json
from typing import Any

import pytest

from envcheck.golden.case import (
    DEFAULT_TOLERANCE,
    MAX_DEPTH,
    GoldenError,
    Tolerance,
    make_case,
    parse_case,
    render_case,
)


def test_round_trip_is_stable() -> None:
    case = make_case("iris", [[5.1, 3.5]], {"label": ["setosa"], "p": [0.97]}, {"abs": 1e-4})
    data = render_case(case)
    assert parse_case(data, default_name="x", where="f") == case
    assert render_case(parse_case(data, default_name="x", where="f")) == data
    assert case.tolerance == Tolerance(abs=1e-4, rel=DEFAULT_TOLERANCE.rel)


def test_a_file_given_without_name_takes_the_stem_and_default_tolerance() -> None:
    case = parse_case(b'{"inputs": [1], "outputs": [2]}', default_name="stem", where="f")
    assert (case.name, case.inputs, case.outputs, case.tolerance) == ("stem", [1], [2], DEFAULT_TOLERANCE)


def test_one_number_is_both_tolerances() -> None:
    assert make_case("a", 1, 2, 0.5).tolerance == Tolerance(0.5, 0.5)


def _deep(n: int) -> Any:
    value: Any = 1
    for _ in range(n):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"[1, 2]", 'expected a JSON object with "inputs" and "outputs"'),
        (b'{"inputs": 1}', "missing key 'outputs'"),
        (b'{"inputs": 1, "outputs": 2, "extra": 3}', "unknown key 'extra'"),
        (b'{"inputs": 1, "outputs": 2, "envcheck_golden": 9}', "golden format 9 is not supported"),
        (b'{"inputs": 1, "outputs": 2, "tolerance": {"abs": -1}}', "tolerance abs must be a finite number >= 0"),
        (b'{"inputs": 1, "outputs": 2, "tolerance": {"abs": Infinity}}', "finite number"),
        (b'{"inputs": 1, "outputs": 2, "tolerance": "tight"}', "tolerance must be"),
        (b'{"inputs": 1, "outputs": 2, "name": "../etc/passwd"}', "use 1-64 letters"),
        (b'{"inputs": 1, "outputs": 2, "name": ".hidden"}', "use 1-64 letters"),
        (b"\xff\xfe", "not JSON"),
        (b"{", "not JSON"),
        (json.dumps({"inputs": _deep(MAX_DEPTH + 2), "outputs": 1}).encode(), "nested deeper than"),
    ],
    ids=[
        "list",
        "missing",
        "unknown",
        "format",
        "negative",
        "inf",
        "tol-type",
        "path",
        "dot",
        "bytes",
        "trunc",
        "deep",
    ],
)
def test_bad_documents_are_one_line(text: bytes, message: str) -> None:
    with pytest.raises(GoldenError, match=message.replace("(", r"\(")) as e:
        parse_case(text, default_name="ok", where="golden.json")
    assert "\n" not in str(e.value) and str(e.value).startswith("golden.json")


def test_python_objects_that_are_not_json_are_refused() -> None:
    with pytest.raises(GoldenError, match=r"set is not JSON data .*tolist"):
        make_case("a", {1, 2}, [1])
