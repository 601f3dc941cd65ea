"""The report's numerics line (pure): counts per verdict, the candidate's libraries, OpenBLAS and threads, the
battery's time, the kernel closest to its bound, kernels only the lockfile ran, and no kernel in common."""

from __future__ import annotations

import dataclasses

from envcheck.model import NumericsInfo, NumericsKernel, OpenBlasRuntime
from envcheck.numerics.describe import describe

MATMUL = NumericsKernel(
    name="numpy.matmul f64 1000x1000",
    dtype="float64",
    shape=(1000, 1000),
    digest="0123456789abcdef",
    total="3.5",
    max_abs="2.0",
    sample=("1.0", "-2.0"),
)
EXP = dataclasses.replace(MATMUL, name="numpy.exp f64", shape=(100003,), digest="1111111111111111")
SOLVE = dataclasses.replace(MATMUL, name="numpy.linalg.solve f64 257", shape=(257,), digest="2222222222222222")
BLAS = OpenBlasRuntime(
    path="libscipy_openblas64_.so", core="Haswell", config="OpenBLAS 0.3.31 DYNAMIC_ARCH", threads="2"
)
SCIPY_BLAS = OpenBlasRuntime(path="libscipy_openblas.so", core="Haswell", config="OpenBLAS 0.3.30 x", threads="2")
LOCKED = NumericsInfo(
    versions={"numpy": "2.4.6", "scipy": "1.17.1"},
    openblas=(BLAS, SCIPY_BLAS),
    kernels=(MATMUL, EXP, SOLVE),
    elapsed_ms=1130,
)


def _moved(kernel: NumericsKernel, ulps: float) -> NumericsKernel:
    return dataclasses.replace(kernel, digest="ffffffffffffffff", sample=("1.0", repr(-2.0 - ulps * 2.0**-51)))


def test_an_unchanged_battery_says_it_ran_and_on_what() -> None:
    assert describe(LOCKED, LOCKED) == (
        "numerics: 3 kernels compared: 3 bitwise equal, 0 within rounding, 0 different "
        "(numpy 2.4.6, scipy 1.17.1; OpenBLAS 0.3.31 Haswell, 0.3.30 Haswell, 2 threads; 1.1 s)"
    )


def test_rounding_apart_names_the_kernel_closest_to_its_bound() -> None:
    """The solve moved by more ULP, but the matmul came closer to its (much tighter) bound."""
    one_thread = dataclasses.replace(
        LOCKED,
        openblas=(dataclasses.replace(BLAS, threads="1"),),
        kernels=(_moved(MATMUL, 40), EXP, _moved(SOLVE, 101)),
        elapsed_ms=870,
    )
    line = describe(LOCKED, one_thread)
    assert line.startswith("numerics: 3 kernels compared: 1 bitwise equal, 2 within rounding, 0 different ")
    assert "OpenBLAS 0.3.31 Haswell, 1 thread; 0.9 s)" in line
    assert line.endswith("; closest to its bound: numpy.matmul f64 1000x1000, 40 of 63 ULP")


def test_different_kernels_and_kernels_not_run_here_are_counted() -> None:
    candidate = dataclasses.replace(LOCKED, versions={"numpy": "2.5.0"}, kernels=(_moved(MATMUL, 1e6), EXP))
    line = describe(LOCKED, candidate)
    counts = "1 bitwise equal, 0 within rounding, 1 different, 1 of the lockfile's not run here"
    assert f"2 kernels compared: {counts}" in line
    assert "(numpy 2.5.0; OpenBLAS" in line and "closest" not in line


def test_no_kernel_in_common_and_no_openblas() -> None:
    later = NumericsInfo(battery=2, versions={"numpy": "3.0.0"}, kernels=(dataclasses.replace(MATMUL, name="x"),))
    assert describe(LOCKED, later) == (
        "numerics: no kernel in common with the lockfile's battery (battery 1 there, 2 here; numpy 3.0.0; 0.0 s)"
    )
