"""The battery's source, run in this test process (the tool itself only ever runs it in a child): its inputs
are the same bytes as a pure-Python splitmix64 (so they do not depend on numpy's RNG or version), and an
unchanged environment gives bitwise the same results run after run."""

from __future__ import annotations

import importlib.util
import json
from typing import Any, Dict

import numpy as np
import pytest

from envcheck.numerics.battery import MARKER, SOURCE
from envcheck.numerics.compare import compare_batteries
from envcheck.numerics.results import parse_result

MASK = (1 << 64) - 1


@pytest.fixture(scope="module")
def battery() -> Dict[str, Any]:
    namespace: Dict[str, Any] = {"__name__": "battery"}
    exec(compile(SOURCE, "battery", "exec"), namespace)
    return namespace


def _splitmix(i: int, seed: int) -> int:
    x = (i * 0x9E3779B97F4A7C15 + (seed + 1) * 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_inputs_are_a_pure_python_hash_not_numpys_rng(battery: Dict[str, Any], dtype: str) -> None:
    got = battery["_inputs"](np, 1000, 42, dtype)
    bits, scale = (11, 2.0**-53) if dtype == "float64" else (40, 2.0**-24)
    want = [(_splitmix(i, 42) >> bits) * scale * 2.0 - 1.0 for i in range(1000)]
    assert got.dtype == np.dtype(dtype)
    assert [float(v) for v in got] == want
    assert min(want) >= -1.0 and max(want) < 1.0


@pytest.mark.slow
def test_unchanged_environment_is_bitwise_quiet_over_100_runs(battery: Dict[str, Any]) -> None:
    first = parse_result(battery["run"](np))
    names = [k.name for k in first.kernels]
    assert len(names) == len(set(names)) >= 40
    assert not [k for k in first.kernels if k.error]
    for _ in range(99):
        again = parse_result(battery["run"](np))
        diffs = compare_batteries(first, again)
        assert len(diffs) == len(first.kernels)
        assert [d.name for d in diffs if d.verdict.value != "bitwise equal"] == []


def test_kernels_cover_the_shapes_and_libraries(battery: Dict[str, Any]) -> None:
    names = {name for name, _ in battery["_kernels"](np)}
    for n in (1, 7, 64, 127, 257, 1000):
        assert f"numpy.matmul f32 {n}x{n}" in names and f"numpy.matmul f64 {n}x{n}" in names
    for kernel in ("numpy.std f32", "numpy.tanh f64", "numpy.linalg.svd f64 127x64", "numpy.fft.rfft f64 1000"):
        assert kernel in names
    assert next(n for n, _ in battery["_scipy_kernels"](np)) == "scipy.linalg.lu_factor f64 257"
    torch_kernels = {n for n, _ in battery["_torch_kernels"](np)}
    if importlib.util.find_spec("torch") is None:
        assert torch_kernels == set()  # torch not installed: its kernels are left out, not failed
    else:
        assert "torch.matmul cpu f32 1000x1000" in torch_kernels


def test_result_is_bounded_json(battery: Dict[str, Any]) -> None:
    text = MARKER + json.dumps(battery["run"](np))
    assert len(text) < 64 << 10
    assert "NaN" not in text and "Infinity" not in text
