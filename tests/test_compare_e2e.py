"""End to end: `envcheck diff` and `envcheck check` on two real virtual environments that differ in a known way.

Venv A is what the model was verified in; venv B is a candidate with one of each kind of drift:

    alpha     1.0          -> 2.0          package.version.major (and 2.0 requires zeta, which is absent)
    beta      2.1          -> (missing)    package.missing
    torchish  0.5+cu121    -> 0.5+cpu      package.build.gpu_dropped
    xgboost   1.7.0        -> 1.8.0        package.version.minor.numeric
    delta     3.0          =  3.0          nothing
    gamma     (absent)     -> 1.0          package.extra, only with --show-extra
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, Optional, Set, Tuple

import pytest

from tests.conftest import build_wheel

pytestmark = pytest.mark.slow

EXPECTED_DIFF = {
    ("package.version.major", "alpha"),
    ("package.missing", "beta"),
    ("package.build.gpu_dropped", "torchish"),
    ("package.version.minor.numeric", "xgboost"),
}


def run(
    *args: str, env: Optional[Dict[str, str]] = None, cwd: Optional[Path] = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=300, check=False, env=env, cwd=cwd)


def envcheck(*args: str, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "envcheck", *args, env=env)


def clean_env(**extra: str) -> Dict[str, str]:
    """This process's environment without what would change the output format, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "NO_COLOR")}
    env.update(extra)
    return env


def _venv(root: Path, wheels: Path, *names: str) -> Path:
    venv.EnvBuilder(with_pip=False).create(root)
    python = root / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index", "--no-deps"]
    done = run(*pip, *[str(next(wheels.glob(f"{n}-*.whl"))) for n in names])
    assert done.returncode == 0, done.stderr
    return python


@pytest.fixture(scope="module")
def venvs(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, Path, Path, Path]:
    """(python A, python B, A.lock, B.lock): built and snapshotted once for the module."""
    root = tmp_path_factory.mktemp("compare-e2e")
    a_wheels, b_wheels = root / "wheels-a", root / "wheels-b"
    build_wheel(a_wheels, "alpha", "1.0", requires=["beta>=2"])
    build_wheel(a_wheels, "beta", "2.1")
    build_wheel(a_wheels, "torchish", "0.5+cu121")
    build_wheel(a_wheels, "xgboost", "1.7.0")
    build_wheel(a_wheels, "delta", "3.0")
    build_wheel(b_wheels, "alpha", "2.0", requires=["zeta>=1"])
    build_wheel(b_wheels, "torchish", "0.5+cpu")
    build_wheel(b_wheels, "xgboost", "1.8.0")
    build_wheel(b_wheels, "gamma", "1.0")
    shutil.copy(next(a_wheels.glob("delta-*.whl")), b_wheels)
    python_a = _venv(root / "venv-a", a_wheels, "alpha", "beta", "torchish", "xgboost", "delta")
    python_b = _venv(root / "venv-b", b_wheels, "alpha", "torchish", "xgboost", "gamma", "delta")
    locks = root / "locks"
    locks.mkdir()
    for name, python in (("A", python_a), ("B", python_b)):
        proc = envcheck("snapshot", "--python", str(python), "-o", str(locks / f"{name}.lock"), env=clean_env())
        assert proc.returncode == 0, proc.stderr
    return python_a, python_b, locks / "A.lock", locks / "B.lock"


@pytest.fixture()
def locks(venvs: Tuple[Path, Path, Path, Path], tmp_path: Path) -> Tuple[Path, Path]:
    """Copies of both lockfiles in a folder of this test's own, where a policy file may be put beside them."""
    a, b = tmp_path / "A.lock", tmp_path / "B.lock"
    shutil.copy(venvs[2], a)
    shutil.copy(venvs[3], b)
    return a, b


def ids(stdout: str) -> Set[Tuple[str, str]]:
    return {(f["id"], f["subject"]) for f in json.loads(stdout)["findings"]}


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# --- diff --------------------------------------------------------------------------------------------------------


def test_diff_reports_exactly_the_known_drift(locks: Tuple[Path, Path]) -> None:
    a, b = locks
    proc = envcheck("diff", str(a), str(b), "--format", "json", env=clean_env())
    assert proc.returncode == 1, proc.stderr
    assert ids(proc.stdout) == EXPECTED_DIFF
    report = json.loads(proc.stdout)
    assert report["summary"]["highest"] == "high"
    by_id = {f["id"]: f for f in report["findings"]}
    assert by_id["package.version.major"]["expected"] == "1.0"
    assert by_id["package.version.major"]["actual"] == "2.0"
    assert "pip install 'alpha==1.0'" in by_id["package.version.major"]["remedy"]
    assert "availability" in by_id["package.build.gpu_dropped"]["risks"]
    assert "cu121" in by_id["package.build.gpu_dropped"]["remedy"]
    assert [f["severity"] for f in report["findings"]] == ["high", "high", "medium", "medium"]


def test_show_extra_adds_exactly_the_extra_package(locks: Tuple[Path, Path]) -> None:
    a, b = locks
    proc = envcheck("diff", str(a), str(b), "--format", "json", "--show-extra", env=clean_env())
    assert proc.returncode == 1, proc.stderr
    assert ids(proc.stdout) == {*EXPECTED_DIFF, ("package.extra", "gamma")}


def test_diff_of_a_lockfile_with_itself_is_no_drift(locks: Tuple[Path, Path]) -> None:
    a, _ = locks
    proc = envcheck("diff", str(a), str(a), env=clean_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert one_line(proc.stdout).startswith("no drift")


# --- check -------------------------------------------------------------------------------------------------------


def test_check_against_the_other_venv_adds_only_the_expected_self_check(
    venvs: Tuple[Path, Path, Path, Path], locks: Tuple[Path, Path]
) -> None:
    _, python_b, _, _ = venvs
    a, _ = locks
    proc = envcheck("check", str(a), "--python", str(python_b), "--format", "json", env=clean_env())
    assert proc.returncode == 1, proc.stderr
    assert ids(proc.stdout) == {*EXPECTED_DIFF, ("package.requirement.missing", "alpha")}


def test_check_against_the_same_venv_is_one_no_drift_line(
    venvs: Tuple[Path, Path, Path, Path], locks: Tuple[Path, Path]
) -> None:
    python_a, _, _, _ = venvs
    a, _ = locks
    proc = envcheck("check", str(a), "--python", str(python_a), env=clean_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert one_line(proc.stdout).startswith("no drift:")
    assert proc.stderr == ""


# --- thresholds --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fail_on", "code"),
    [("never", 0), ("critical", 0), ("high", 1), ("medium", 1), ("low", 1)],
    ids=["never", "critical-above-worst", "high", "medium", "low"],
)
def test_fail_on(locks: Tuple[Path, Path], fail_on: str, code: int) -> None:
    a, b = locks
    proc = envcheck("diff", str(a), str(b), "--fail-on", fail_on, env=clean_env())
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "alpha" in proc.stdout  # findings are reported whatever the threshold


# --- formats -----------------------------------------------------------------------------------------------------


def _written(locks: Tuple[Path, Path], fmt: str, tmp_path: Path) -> str:
    a, b = locks
    out = tmp_path / f"report.{fmt}"
    proc = envcheck("diff", str(a), str(b), "--format", fmt, "-o", str(out), env=clean_env())
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""  # the report went to the file
    return out.read_text(encoding="utf-8")


def test_json_file(locks: Tuple[Path, Path], tmp_path: Path) -> None:
    assert ids(_written(locks, "json", tmp_path)) == EXPECTED_DIFF


def test_junit_file(locks: Tuple[Path, Path], tmp_path: Path) -> None:
    root = ET.fromstring(_written(locks, "junit", tmp_path))
    failures = root.findall(".//testcase/failure")
    assert {f.get("type") for f in failures} == {"high"}  # medium findings pass at --fail-on high
    names = {case.get("name") for case in root.iter("testcase")}
    assert {f"{rule}: {subject}" for rule, subject in EXPECTED_DIFF} <= names
    assert {case.get("classname") for case in root.iter("testcase") if case.find("failure") is not None} == {
        "packages"
    }


def test_markdown_file(locks: Tuple[Path, Path], tmp_path: Path) -> None:
    text = _written(locks, "markdown", tmp_path)
    lines = text.splitlines()
    assert any(line.startswith("|---") or line.startswith("|:-:") for line in lines)
    assert sum(line.startswith("| ") for line in lines) >= 4
    for _, subject in EXPECTED_DIFF:
        assert subject in text


def test_github_file(locks: Tuple[Path, Path], tmp_path: Path) -> None:
    lines = _written(locks, "github", tmp_path).splitlines()
    errors = [line for line in lines if line.startswith("::error")]
    warnings = [line for line in lines if line.startswith("::warning")]
    assert len(errors) == 2 and len(warnings) == 2, lines


def test_github_format_appends_the_markdown_to_the_step_summary(locks: Tuple[Path, Path], tmp_path: Path) -> None:
    a, b = locks
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    proc = envcheck("diff", str(a), str(b), "--format", "github", env=clean_env(GITHUB_STEP_SUMMARY=str(summary)))
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("::error")
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("earlier step\n")
    assert "## envcheck" in text and "|---" in text


def test_inside_github_actions_the_default_format_is_annotations(locks: Tuple[Path, Path]) -> None:
    a, b = locks
    proc = envcheck("diff", str(a), str(b), env=clean_env(GITHUB_ACTIONS="true"))
    assert proc.returncode == 1, proc.stderr
    annotations = [line for line in proc.stdout.splitlines() if line.startswith("::")]
    assert len(annotations) == len(EXPECTED_DIFF)


# --- policy ------------------------------------------------------------------------------------------------------


def test_policy_beside_the_lockfile_removes_what_it_tolerates(locks: Tuple[Path, Path]) -> None:
    a, b = locks
    (a.parent / "envcheck.toml").write_text(
        'ignore_packages = ["beta"]\n\n[tolerance]\nalpha = "major"\n', encoding="utf-8"
    )
    proc = envcheck("diff", str(a), str(b), "--format", "json", env=clean_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr  # what is left is medium
    assert ids(proc.stdout) == {
        ("package.build.gpu_dropped", "torchish"),
        ("package.version.minor.numeric", "xgboost"),
    }


def test_policy_given_with_option(locks: Tuple[Path, Path], tmp_path: Path) -> None:
    a, b = locks
    policy = tmp_path / "elsewhere.toml"
    policy.write_text('ignore_rules = ["package.version.*"]\nfail_on = "medium"\n', encoding="utf-8")
    proc = envcheck("diff", str(a), str(b), "--format", "json", "--policy", str(policy), env=clean_env())
    assert proc.returncode == 1
    assert ids(proc.stdout) == {("package.missing", "beta"), ("package.build.gpu_dropped", "torchish")}


def test_policy_with_an_unknown_key_is_a_one_line_error(locks: Tuple[Path, Path]) -> None:
    a, b = locks
    (a.parent / "envcheck.toml").write_text('ignore_package = ["beta"]\n', encoding="utf-8")
    proc = envcheck("diff", str(a), str(b), env=clean_env())
    assert proc.returncode == 2
    line = one_line(proc.stderr)
    assert "ignore_package" in line
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_tampered_lockfile_is_a_one_line_error(locks: Tuple[Path, Path]) -> None:
    a, b = locks
    text = a.read_text(encoding="utf-8")
    assert 'version = "2.1"' in text
    a.write_text(text.replace('version = "2.1"', 'version = "2.2"', 1), encoding="utf-8")
    for args in (["diff", str(a), str(b)], ["check", str(a)]):
        proc = envcheck(*args, env=clean_env())
        assert proc.returncode == 2, proc.stdout
        assert "digest" in one_line(proc.stderr)
        assert proc.stdout == ""
    proc = envcheck("diff", str(a), str(b), "--ignore-digest", "--format", "json", env=clean_env())
    assert proc.returncode == 1
    assert ids(proc.stdout) == EXPECTED_DIFF


def test_api_gives_the_same_findings_as_the_cli(locks: Tuple[Path, Path]) -> None:
    import envcheck as api

    a, b = locks
    report = api.diff(a, b)
    assert {(f.id, f.subject) for f in report.findings} == EXPECTED_DIFF
    assert report.return_code == 1
