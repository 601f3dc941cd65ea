"""The child's output is hostile: anything but the battery's line is one ``NumericsError`` line."""

from __future__ import annotations

import json
from typing import Any

import pytest

from envcheck.numerics.battery import MARKER
from envcheck.numerics.results import MAX_KERNELS, NumericsError, parse_output

KERNEL = {
    "name": "numpy.sum f64",
    "dtype": "float64",
    "shape": [],
    "digest": "0123456789abcdef",
    "sum": "1.5",
    "max_abs": "1.5",
    "sample": ["1.5"],
}
GOOD = {
    "battery": 1,
    "python": "3.11.7",
    "versions": {"numpy": "2.4.6"},
    "kernels": [KERNEL],
    "elapsed_ms": 3,
    "openblas": [{"path": "libopenblas.so", "core": "Haswell", "config": "OpenBLAS 0.3.27", "threads": "2"}],
}


def _line(data: Any) -> str:
    return MARKER + json.dumps(data)


def test_good_output_parses_after_noise() -> None:
    info = parse_output("hello from a .pth file\n" + _line(GOOD) + "\n")
    assert info.kernels[0].digest == "0123456789abcdef" and info.openblas[0].core == "Haswell"


@pytest.mark.parametrize(
    ("stdout", "says"),
    [
        ("", "printed no result"),
        (MARKER + "{not json", "not JSON"),
        (MARKER + "[" * 100000 + "]" * 100000, "not JSON"),
        (MARKER + '{"kernels": NaN}', "not JSON"),
        (MARKER + "x" * (2 << 20), "bytes (at most"),
        (_line([1, 2]), "not an object"),
        (_line({**GOOD, "kernels": []}), "no kernel"),
        (_line({**GOOD, "kernels": [KERNEL] * (MAX_KERNELS + 1)}), "items (at most"),
        (_line({**GOOD, "kernels": [{**KERNEL, "digest": "../../etc"}]}), "16 hex digits"),
        (_line({**GOOD, "kernels": [{**KERNEL, "sum": "1e5; rm -rf"}]}), "not a number"),
        (_line({**GOOD, "kernels": [{**KERNEL, "shape": [-1]}]}), "non-negative integer"),
        (_line({**GOOD, "kernels": [{**KERNEL, "name": 7}]}), "not a string"),
        (_line({"battery": 1, "error": "ModuleNotFoundError: No module named 'numpy'"}), "No module named"),
    ],
    ids=[
        "empty",
        "malformed",
        "deep",
        "nan",
        "huge",
        "list",
        "no-kernels",
        "too-many",
        "digest",
        "number",
        "shape",
        "name",
        "no-numpy",
    ],
)
def test_hostile_output_is_one_line(stdout: str, says: str) -> None:
    with pytest.raises(NumericsError) as e:
        parse_output(stdout)
    assert says in str(e.value)
    assert "\n" not in str(e.value) and len(str(e.value)) < 400


def test_long_strings_are_cut() -> None:
    info = parse_output(_line({**GOOD, "python": "3" * 100000}))
    assert len(info.python) <= 300
