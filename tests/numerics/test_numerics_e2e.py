"""``--numerics`` for real, in children of real interpreters on this machine (numpy 2.x with OpenBLAS):
another OpenBLAS kernel set, another thread count, another numpy and OpenBLAS build are reported with their cause;
the CLI end to end; a hostile child is one line, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Dict, Optional

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
    return detected, ("Sandybridge" if detected == "Haswell" else "Haswell")


def test_snapshot_records_the_battery_and_takes_seconds(locked: Path) -> None:
    numerics = read(locked / "envcheck.lock").numerics
    assert numerics is not None
    assert len(numerics.kernels) >= 40 and not [k for k in numerics.kernels if k.error]
    assert numerics.versions["numpy"].startswith("2.")
    assert "network" in numerics.how
    assert numerics.elapsed_ms < 10_000  # a bound, not a benchmark: measured about 3 s with torch here


def test_unchanged_environment_is_quiet(locked: Path) -> None:
    done = _envcheck(locked, "check", "envcheck.lock", "--numerics", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["findings"] == []


def test_openblas_coretype_is_reported_with_its_cause(locked: Path) -> None:
    detected, other = _other_core(locked)
    done = _envcheck(
        locked, "check", "envcheck.lock", "--numerics", "--format", "json", env={"OPENBLAS_CORETYPE": other}
    )
    assert done.returncode == 1, done.stdout + done.stderr
    found = [f for f in json.loads(done.stdout)["findings"] if f["id"] == "numerics.changed"]
    assert found, done.stdout
    assert any(f["subject"].startswith("numpy.dot") or "matmul" in f["subject"] for f in found)
    assert {f["severity"] for f in found} & {"high", "critical"}
    for f in found:
        assert f"OpenBLAS kernels {detected} -> {other} (OPENBLAS_CORETYPE unset -> {other})" in f["message"]
        assert "OPENBLAS_CORETYPE" in f["remedy"]


def test_thread_count_changes_results_here(locked: Path) -> None:
    """On this 2-CPU machine OpenBLAS uses 2 threads by default; with 1, the blocked LAPACK paths (solve, LU)
    and the large products split their work otherwise: reported, the cause named. With 2, nothing changes."""
    one = _envcheck(
        locked,
        "check",
        "envcheck.lock",
        "--numerics",
        "--format",
        "json",
        "--fail-on",
        "never",
        env={"OPENBLAS_NUM_THREADS": "1"},
    )
    found = [f for f in json.loads(one.stdout)["findings"] if f["id"] == "numerics.changed"]
    if os.cpu_count() == 1:
        assert found == []
        return
    assert found, one.stdout
    assert all("OpenBLAS threads 2 -> 1 (OPENBLAS_NUM_THREADS unset -> 1)" in f["message"] for f in found)
    same = _envcheck(
        locked,
        "check",
        "envcheck.lock",
        "--numerics",
        "--format",
        "json",
        env={"OPENBLAS_NUM_THREADS": str(os.cpu_count())},
    )
    assert same.returncode == 0 and json.loads(same.stdout)["findings"] == [], same.stdout


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


def test_another_numpy_and_openblas_build_is_reported(locked: Path, old_numpy: Path) -> None:
    expected = read(locked / "envcheck.lock").numerics
    actual = run_battery(LocalRunner(str(old_numpy)))
    assert expected is not None and actual.versions["numpy"] == "1.26.0"
    diffs = compare_batteries(expected, actual)
    assert "numpy.matmul f64 1000x1000" in {d.name for d in diffs}
    assert changed(diffs), "another numpy and OpenBLAS build gave bitwise the same results everywhere"
    report = api.check(
        locked / "envcheck.lock",
        target=make_target(TargetSpec(python=str(old_numpy))),
        numerics=LocalRunner(str(old_numpy)),
        loaded=False,
        fail_on="never",
    )
    found = [f for f in report.findings if f.id == "numerics.changed"]
    assert found
    assert all("another build: numpy 2." in f.message and "-> 1.26.0" in f.message for f in found)
    assert {d.verdict for d in diffs} >= {Verdict.EQUAL}


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
    "huge": "import sys, os; ('envcheck-evidence' in ' '.join(sys.orig_argv)) and (sys.stdout.write("
    "'ENVCHECK-NUMERICS ' + 'x' * (4 << 20)), sys.stdout.flush(), os._exit(0))\n",
    "malformed": "import sys, os; ('envcheck-evidence' in ' '.join(sys.orig_argv)) and (sys.stdout.write("
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
