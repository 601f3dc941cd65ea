"""pandas in the battery: its ``Series.std``/``var`` kernels and their bounds (float32 accumulates in float64, so
the floor; float64 like ``numpy.sum``), the accelerators it records, and the cause a battery names when one of them
(bottleneck, numexpr) appeared, disappeared or moved. The slow tests run the battery for real in a venv of this
interpreter with and without bottleneck installed beside pandas."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np
import pytest

from envcheck.compare import compare
from envcheck.evidence import LocalRunner
from envcheck.model import Fingerprint, NumericsInfo, NumericsKernel, Package, Source
from envcheck.numerics.battery import SOURCE
from envcheck.numerics.bounds import ULP_FLOOR, bound_for
from envcheck.numerics.compare import Verdict, compare_batteries
from envcheck.numerics.findings import ACCELERATORS, likely_cause, numerics_changes
from envcheck.numerics.run import run_battery
from tests.numerics.venvs import install_bottleneck, write_pth
from tests.numerics.venvs import pth_venv as pth_venv_of

N = 1000003
F32 = [f"pandas.Series.{m} f32 {N}{o}" for m in ("std", "var") for o in ("", " +1000")]
F64 = [f"pandas.Series.{m} f64 {N}{o}" for m in ("std", "var") for o in ("", " +1000")]


@pytest.fixture(scope="module")
def battery() -> Dict[str, Any]:
    namespace: Dict[str, Any] = {"__name__": "battery"}
    exec(compile(SOURCE, "battery", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("name", F32)
def test_float32_kernels_accumulate_in_float64_and_get_the_floor(name: str) -> None:
    bound = bound_for(name)
    assert (bound.known, bound.terms, bound.wider, bound.ulps) == (True, N, True, ULP_FLOOR)
    assert bound.describe() == f"n = {N}, accumulated in float64"


@pytest.mark.parametrize("name", F64)
def test_float64_kernels_are_n_term_reductions_like_numpy_sum(name: str) -> None:
    bound = bound_for(name)
    assert (bound.known, bound.terms, bound.wider) == (True, N, False)
    assert bound.ulps == pytest.approx(2 * math.sqrt(N)) and bound.ulps == bound_for("numpy.sum f64").ulps


@pytest.mark.parametrize(
    "name", ["pandas.Series.std f16 1000003", "pandas.Series.mean f32 1000003", "pandas.Series.std f32"]
)
def test_other_pandas_names_are_unknown(name: str) -> None:
    assert not bound_for(name).known


def test_the_battery_runs_the_pandas_kernels_in_the_datas_type(battery: Dict[str, Any]) -> None:
    assert importlib.util.find_spec("pandas") is not None, "pandas is not installed here (the test extra has it)"
    kernels = battery["_pandas_kernels"](np)
    assert sorted(name for name, _ in kernels) == sorted(F32 + F64)
    results = {name: thunk() for name, thunk in kernels}
    assert {str(np.asarray(results[n]).dtype) for n in F32} == {"float32"}
    assert {str(np.asarray(results[n]).dtype) for n in F64} == {"float64"}
    # the battery's inputs are uniform in [-1, 1): standard deviation 1/sqrt(3), whatever the offset
    for name, value in results.items():
        want = 1 / 3 if ".var " in name else 1 / math.sqrt(3)
        assert float(value) == pytest.approx(want, rel=2e-3), name
    assert not [name for name, _ in kernels if not bound_for(name).known]


def test_the_battery_records_pandas_and_the_accelerators_it_loaded(battery: Dict[str, Any]) -> None:
    import pandas

    assert set(battery["ACCELERATORS"]) == set(ACCELERATORS)
    versions = battery["run"](np)["versions"]
    assert versions["pandas"] == pandas.__version__
    for name in ACCELERATORS:
        assert (name in versions) == (name in sys.modules), name


KERNEL = NumericsKernel(
    name=F32[0], dtype="float32", shape=(), digest="0123456789abcdef", total="0.5", max_abs="0.5", sample=("0.5",)
)
MOVED = dataclasses.replace(
    KERNEL, digest="fedcba9876543210", total="0.4999", max_abs="0.4999", sample=("0.4999",)
)


def _fp(kernel: NumericsKernel, **accelerators: str) -> Fingerprint:
    versions = {"numpy": "2.4.6", "pandas": "3.1.1", **accelerators}
    return Fingerprint(numerics=NumericsInfo(versions=versions, kernels=(kernel,)))


@pytest.mark.parametrize(
    ("then", "now", "cause", "remedy"),
    [
        (
            {},
            {"bottleneck": "1.6.1"},
            "bottleneck 1.6.1 added: pandas uses it for std/var/min/max/median when installed",
            "uninstall bottleneck or pin it as in training, or `pd.set_option('compute.use_bottleneck', False)`",
        ),
        (
            {"bottleneck": "1.6.1"},
            {},
            "bottleneck 1.6.1 removed: pandas uses it for std/var/min/max/median when installed",
            "install bottleneck 1.6.1 as in training, or `pd.set_option('compute.use_bottleneck', False)` in both",
        ),
        (
            {"bottleneck": "1.3.8"},
            {"bottleneck": "1.6.1"},
            "bottleneck 1.3.8 -> 1.6.1: pandas uses it",
            "pin bottleneck 1.3.8 as in training",
        ),
        (
            {},
            {"numexpr": "2.11.0"},
            "numexpr 2.11.0 added: pandas uses it for eval/query",
            "`pd.set_option('compute.use_numexpr', False)`",
        ),
    ],
    ids=["bottleneck-added", "bottleneck-removed", "bottleneck-moved", "numexpr-added"],
)
def test_an_accelerator_that_came_went_or_moved_is_the_named_cause(
    then: Dict[str, str], now: Dict[str, str], cause: str, remedy: str
) -> None:
    expected, actual = _fp(KERNEL, **then), _fp(MOVED, **now)
    (change,) = list(numerics_changes(expected, actual))
    assert change.subject == F32[0] and "bound 16 ULP" in change.fields["detail"]
    assert cause in change.fields["cause"] and remedy in change.fields["remedy"]
    assert "another build" not in change.fields["cause"]  # named once, as an accelerator
    found, fix = likely_cause(expected, actual)
    assert (found, fix) == (change.fields["cause"], change.fields["remedy"])


def test_the_same_accelerator_on_both_sides_is_no_cause() -> None:
    found, _ = likely_cause(_fp(KERNEL, bottleneck="1.6.1"), _fp(MOVED, bottleneck="1.6.1"))
    assert "bottleneck" not in found and "nothing else recorded differs" in found


def test_a_battery_that_never_ran_pandas_says_nothing_of_its_accelerators() -> None:
    """A lockfile from a battery before pandas' kernels (or without pandas) never looked for bottleneck."""
    older = Fingerprint(numerics=NumericsInfo(versions={"numpy": "2.4.6"}, kernels=(KERNEL,)))
    found, _ = likely_cause(older, _fp(MOVED, bottleneck="1.6.1"))
    assert "bottleneck" not in found


def _package_fp(pandas: str, versions: Dict[str, str]) -> Fingerprint:
    return Fingerprint(
        sources={"packages": Source()},
        packages=(Package("pandas", pandas),),
        numerics=NumericsInfo(versions=versions, kernels=(KERNEL,)),
    )


@pytest.mark.parametrize(
    ("versions", "answered"),
    [({"numpy": "2.4.6", "pandas": "3.1.1"}, True), ({"numpy": "2.4.6"}, False)],
    ids=["battery-ran-pandas", "battery-without-pandas"],
)
def test_an_equal_battery_answers_a_pandas_patch_only_when_it_ran_pandas(
    versions: Dict[str, str], answered: bool
) -> None:
    changed = {f.id: f for f in compare(_package_fp("3.1.0", versions), _package_fp("3.1.1", versions)).findings}
    assert "package.version.patch" in changed, sorted(changed)
    assert ("observed equivalent" in changed["package.version.patch"].message) == answered


# --- the battery for real, with and without bottleneck beside pandas (slow: installs it from the index) ---


@pytest.fixture(scope="module")
def pth_venv(tmp_path_factory: pytest.TempPathFactory) -> Tuple[str, Path, Path]:
    """(python, its .pth file, the bottleneck folder): a venv of this interpreter whose .pth file adds this
    interpreter's site-packages (numpy, pandas), and the bottleneck folder when a test writes it there."""
    assert importlib.util.find_spec("pandas") is not None, "pandas is not installed here (the test extra has it)"
    folder = tmp_path_factory.mktemp("pandas-bottleneck")
    python = pth_venv_of(folder / "venv")
    pth = sorted((folder / "venv").glob("lib/python3*/site-packages/battery.pth"))[0]
    return str(python), pth, install_bottleneck(folder / "bottleneck-site")


def _battery(pth_venv: Tuple[str, Path, Path], with_bottleneck: bool) -> NumericsInfo:
    python, pth, bottleneck = pth_venv
    write_pth(pth, [bottleneck] if with_bottleneck else [])
    return run_battery(LocalRunner(python))


@pytest.fixture(scope="module")
def batteries(pth_venv: Tuple[str, Path, Path]) -> Dict[Optional[bool], NumericsInfo]:
    """This interpreter's battery (None), and the venv's without (False) and with (True) bottleneck."""
    return {
        None: run_battery(LocalRunner(sys.executable)),
        False: _battery(pth_venv, False),
        True: _battery(pth_venv, True),
    }


def _changes(expected: NumericsInfo, actual: NumericsInfo) -> Dict[str, Dict[str, str]]:
    return {
        c.subject: c.fields for c in numerics_changes(Fingerprint(numerics=expected), Fingerprint(numerics=actual))
    }


@pytest.mark.slow
def test_without_bottleneck_nothing_changes(batteries: Dict[Optional[bool], NumericsInfo]) -> None:
    here, plain = batteries[None], batteries[False]
    assert "bottleneck" not in here.versions and "bottleneck" not in plain.versions
    assert plain.versions["pandas"] == here.versions["pandas"]
    diffs = {d.name: d for d in compare_batteries(here, plain)}
    assert {diffs[name].verdict for name in F32 + F64} == {Verdict.EQUAL}
    assert _changes(here, plain) == {}


@pytest.mark.slow
def test_bottleneck_beside_pandas_changes_the_float32_kernels_and_is_named(
    batteries: Dict[Optional[bool], NumericsInfo],
) -> None:
    """Measured here (bottleneck 1.6.1): the float32 kernels 1,764 ULP and more apart (bound 16; 14 times the
    result at +1000), the float64 ones at most 394 ULP (bound 2,000): rounding."""
    plain, accelerated = batteries[False], batteries[True]
    version = accelerated.versions["bottleneck"]
    changes = _changes(plain, accelerated)
    assert sorted(changes) == sorted(F32), sorted(changes)
    for fields in changes.values():
        assert f"bottleneck {version} added: pandas uses it for std/var/min/max/median" in fields["cause"]
        assert "compute.use_bottleneck" in fields["remedy"]
    assert changes[F32[1]]["impact"] == "5"  # std at +1000: float32 accumulation cancels most digits
    diffs = {d.name: d for d in compare_batteries(plain, accelerated)}
    assert {diffs[name].verdict for name in F64} <= {Verdict.EQUAL, Verdict.WITHIN_ULP}
    # the other way round (training had it, the candidate does not): removed
    back = _changes(accelerated, plain)
    assert sorted(back) == sorted(F32)
    assert f"bottleneck {version} removed" in back[F32[0]]["cause"]
