"""``--numerics`` for real, in children of real interpreters on this machine (numpy 2.x with OpenBLAS):
another OpenBLAS kernel set, another thread count, another numpy and OpenBLAS build round otherwise, within each
kernel's bound (``envcheck.numerics.bounds``): no finding, and the report's numerics line counts them; a kernel
that lost precision is reported beyond its bound; the CLI end to end; a hostile child is one line, exit 2."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any, Dict, Optional

import pytest

from envcheck import api
from envcheck.evidence import LocalRunner
from envcheck.lockfile import read
from envcheck.numerics.compare import Verdict, changed, compare_batteries
from envcheck.numerics.run import run_battery
from envcheck.targets.factory import TargetSpec, make_target

#: numpy wheels kept on this machine for offline installs (another numpy, another bundled OpenBLAS).
WHEELS = Path("/opt/pypi-more/files")
OLD_NUMPY = "numpy==1.26.0"

pytestmark = pytest.mark.slow


def _envcheck(cwd: Path, *args: str, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OPENBLAS_", "OMP_"))}
    return subprocess.run(
        [sys.executable, "-m", "envcheck", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lockfile of this interpreter with its numerics battery, taken without OpenBLAS variables."""
    folder = tmp_path_factory.mktemp("numerics")
    done = _envcheck(folder, "snapshot", "--numerics", "-o", "envcheck.lock")
    assert done.returncode == 0, done.stderr
    return folder


def _other_core(folder: Path) -> tuple[str, str]:
    numerics = read(folder / "envcheck.lock").numerics
    assert numerics is not None and numerics.openblas
    detected = numerics.openblas[0].core
    return detected, ("Haswell" if detected == "Sandybridge" else "Sandybridge")  # Zen runs Haswell's kernels


def test_snapshot_records_the_battery_and_takes_seconds(locked: Path) -> None:
    numerics = read(locked / "envcheck.lock").numerics
    assert numerics is not None
    assert len(numerics.kernels) >= 40 and not [k for k in numerics.kernels if k.error]
    assert numerics.versions["numpy"].startswith("2.")
    assert "network" in numerics.how
    assert numerics.elapsed_ms < 10_000  # a bound, not a benchmark: measured about 3 s with torch here


def test_unchanged_environment_is_quiet_and_says_the_battery_ran(locked: Path) -> None:
    done = _envcheck(locked, "check", "envcheck.lock", "--numerics", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["findings"] == []
    line = _numerics_line(report)
    count = len(read(locked / "envcheck.lock").numerics.kernels)  # type: ignore[union-attr]
    assert line.startswith(f"numerics: {count} kernels compared: {count} bitwise equal, 0 within rounding, 0 ")
    text = _envcheck(locked, "check", "envcheck.lock", "--numerics")
    assert text.returncode == 0 and text.stdout.splitlines()[1].startswith("numerics: "), text.stdout


def _check_json(folder: Path, env: Dict[str, str], *extra: str) -> Dict[str, Any]:
    done = _envcheck(folder, "check", "envcheck.lock", "--numerics", "--format", "json", *extra, env=env)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    report: Dict[str, Any] = json.loads(done.stdout)
    return report


def _numerics_line(report: Dict[str, Any]) -> str:
    lines = [e for e in report["evidence"] if e.startswith("numerics: ")]
    assert len(lines) == 1, report["evidence"]
    return str(lines[0])


def _within(line: str) -> int:
    found = re.search(r"(\d+) bitwise equal, (\d+) within rounding, (\d+) different", line)
    assert found, line
    return int(found.group(2))


def test_openblas_coretype_is_rounding_apart_here_and_the_report_says_so(locked: Path) -> None:
    """Sandybridge's kernels (no FMA) instead of the detected Haswell's round otherwise: measured here, the
    matmuls move by at most 8 ULP of their scale, ``solve`` by 101 and ``lu_factor`` by 105 (condition numbers
    500 and 1000), all within the kernels' bounds (``envcheck.numerics.bounds``). Not a finding, but visible: the
    report's numerics line counts the kernels within rounding and names the one closest to its bound, and the
    variable's own guess is lowered as observed equivalent."""
    detected, other = _other_core(locked)
    report = _check_json(locked, {"OPENBLAS_CORETYPE": other})
    assert [f for f in report["findings"] if f["id"] == "numerics.changed"] == []
    line = _numerics_line(report)
    assert _within(line) > 0 and " 0 different" in line, line
    assert f" {other}" in line and f" {detected}" not in line and "closest to its bound: " in line, line
    variable = [f for f in report["findings"] if f["subject"] == "OPENBLAS_CORETYPE"]
    assert variable and all(f["evidence"] == "observed-equivalent" for f in variable), report["findings"]


def test_thread_count_is_rounding_apart_here(locked: Path) -> None:
    """On this 2-CPU machine OpenBLAS uses 2 threads by default; with 1, the long dot product and the blocked
    LAPACK paths (solve, LU) split their work otherwise and round otherwise: measured 42 ULP of the result's
    scale for ``numpy.dot f64 100003`` (bound 632), 40 for ``solve`` and 73 for ``lu_factor`` over the full
    results. Within every kernel's bound, so not a finding; the report's line says how many kernels moved and
    that one thread ran. With 2, every kernel is bitwise equal."""
    one = _check_json(locked, {"OPENBLAS_NUM_THREADS": "1"}, "--fail-on", "never")
    assert [f for f in one["findings"] if f["id"] == "numerics.changed"] == [], one["findings"]
    line = _numerics_line(one)
    assert "1 thread;" in line and " 0 different" in line, line
    if (os.cpu_count() or 1) > 1:
        assert _within(line) > 0, line
    same = _check_json(locked, {"OPENBLAS_NUM_THREADS": str(os.cpu_count())})
    assert same["findings"] == [], same
    assert re.search(r"numerics: (\d+) kernels compared: \1 bitwise equal, 0 within", _numerics_line(same))


#: True in the battery's child only: its command line names envcheck's evidence child (read from /proc, since
#: ``sys.orig_argv`` is 3.10+ and a .pth line runs before ``sys.argv`` is final).
IN_CHILD = "(b'envcheck-evidence' in open('/proc/self/cmdline', 'rb').read())"
#: A .pth file's line that, only in the battery's child (``IN_CHILD``), makes ``numpy.dot`` compute float64
#: products in float32: a kernel that lost precision (what a broken BLAS or a low-precision mode does), which no
#: bound may hide.
LOW_PRECISION = (
    f"import sys; {IN_CHILD} and exec("
    "'import numpy\\nnumpy.dot = lambda a, b, _dot=numpy.dot: _dot(numpy.asarray(a, numpy.float32), "
    "numpy.asarray(b, numpy.float32)).astype(numpy.result_type(a, b))', {})\n"
)


def test_a_kernel_that_lost_precision_is_reported_beyond_its_bound(locked: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False, system_site_packages=True)
    site = sorted(env_dir.glob("lib/python3*/site-packages"))[0]
    spec = importlib.util.find_spec("numpy")
    assert spec is not None and spec.origin, "numpy is not importable here"
    # this interpreter's numpy (the lockfile's) before the base interpreter's: a .pth path line, then the patch
    (site / "low_precision.pth").write_text(f"{Path(spec.origin).parents[1]}\n{LOW_PRECISION}")
    python = str(env_dir / "bin" / "python")
    report = _check_json(locked, {}, "--python", python)
    found = {f["subject"]: f for f in report["findings"] if f["id"] == "numerics.changed"}
    assert {"numpy.dot f64 100003", "numpy.dot matvec f64 1000"} <= set(found), report["findings"]
    assert not [name for name in found if " f32 " in name or "matmul" in name], sorted(found)
    assert all(f["severity"] in ("high", "critical") for f in found.values())
    assert "bound 632 ULP for n = 100003" in found["numpy.dot f64 100003"]["message"]
    assert f" {len(found)} different" in _numerics_line(report)


@pytest.fixture(scope="module")
def old_numpy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv of this interpreter with numpy 1.26 (its own OpenBLAS 0.3.23 build): from the wheels kept on this
    machine where they are, else from the package index (numpy 1.26.0 has wheels for CPython 3.9 to 3.12)."""
    folder = tmp_path_factory.mktemp("old-numpy")
    venv.create(folder / "venv", with_pip=False)
    python = folder / "venv" / "bin" / "python"
    args = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--only-binary=:all:"]
    if WHEELS.is_dir():
        args += ["--find-links", str(WHEELS)]
    done = subprocess.run([*args, OLD_NUMPY], capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return python


def test_another_numpy_and_openblas_build_is_rounding_apart_here(locked: Path, old_numpy: Path) -> None:
    expected = read(locked / "envcheck.lock").numerics
    actual = run_battery(LocalRunner(str(old_numpy)))
    assert expected is not None and actual.versions["numpy"] == "1.26.0"
    diffs = compare_batteries(expected, actual)
    assert "numpy.matmul f64 1000x1000" in {d.name for d in diffs}
    # measured here: the float32 sum by 8 ULP, the matmuls by at most 6, the FFTs by 2.5, all within rounding
    assert {d.verdict for d in diffs} == {Verdict.EQUAL, Verdict.WITHIN_ULP}, [d.describe() for d in diffs]
    assert changed(diffs) == ()
    report = api.check(
        locked / "envcheck.lock",
        target=make_target(TargetSpec(python=str(old_numpy))),
        numerics=LocalRunner(str(old_numpy)),
        loaded=False,
        fail_on="never",
    )
    assert [f for f in report.findings if f.id == "numerics.changed"] == []
    line = [e for e in report.evidence if e.startswith("numerics: ")]
    assert len(line) == 1 and "numpy 1.26.0;" in line[0] and " 0 different" in line[0], report.evidence
    assert _within(line[0]) == sum(1 for d in diffs if d.verdict is Verdict.WITHIN_ULP) > 0


def test_check_without_a_recorded_battery_is_one_line(tmp_path: Path) -> None:
    assert _envcheck(tmp_path, "snapshot", "-o", "plain.lock").returncode == 0
    done = _envcheck(tmp_path, "check", "plain.lock", "--numerics")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "holds no numerics battery" in done.stderr


@pytest.mark.parametrize(
    ("target", "says"),
    [(["--root", "/"], "--root and --image-archive are read without running"), (["--pid", "1"], "add --pid-exec")],
    ids=["root", "pid"],
)
def test_targets_without_an_interpreter_refuse_in_one_line(tmp_path: Path, target: list[str], says: str) -> None:
    done = _envcheck(tmp_path, "snapshot", "--numerics", *target, "-o", "x.lock")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and says in done.stderr
    assert not (tmp_path / "x.lock").exists()


#: A .pth file that, only in the battery's child, prints what a hostile interpreter could, then exits.
HOSTILE = {
    "huge": f"import sys, os; {IN_CHILD} and (sys.stdout.write("
    "'ENVCHECK-NUMERICS ' + 'x' * (4 << 20)), sys.stdout.flush(), os._exit(0))\n",
    "malformed": f"import sys, os; {IN_CHILD} and (sys.stdout.write("
    '\'ENVCHECK-NUMERICS {"kernels": [{"name": \\n\'), sys.stdout.flush(), os._exit(0))\n',
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_child_output_is_one_line_exit_2(locked: Path, tmp_path: Path, kind: str) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False, system_site_packages=True)
    site = sorted(env_dir.glob("lib/python3*/site-packages"))[0]
    (site / "hostile.pth").write_text(HOSTILE[kind])
    python = env_dir / "bin" / "python"
    done = _envcheck(locked, "check", str(locked / "envcheck.lock"), "--numerics", "--python", str(python))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("envcheck: error: the numerics battery")
    assert "Traceback" not in done.stderr
