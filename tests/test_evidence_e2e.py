"""``envcheck check --import`` / ``--load-model`` end to end: a real scikit-learn model, checked against this
interpreter (imports and loads: quiet, and says so) and against a venv whose scikit-learn fails at import the way a
build for numpy 1.x fails under numpy 2 (a critical finding quoting that error, exit 1)."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import build_wheel, install_wheels

TRAIN = (
    "import pickle, sys, numpy as np\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "x = np.arange(40.0).reshape(20, 2); y = (x[:, 0] > 15).astype(int)\n"
    "pickle.dump(LogisticRegression().fit(x, y), open(sys.argv[1], 'wb'))\n"
)
DTYPE = "numpy.dtype size changed, may indicate binary incompatibility. Expected 96 from C header, got 88"


def _envcheck(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envcheck", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("trained")
    subprocess.run([sys.executable, "-c", TRAIN, str(folder / "model.pkl")], check=True, timeout=120)
    done = _envcheck(folder, "snapshot", "--model", "model.pkl", "-o", "envcheck.lock")
    assert done.returncode == 0, done.stderr
    return folder


@pytest.mark.slow
def test_the_same_environment_imports_and_loads_and_says_so(trained: Path) -> None:
    done = _envcheck(trained, "check", "envcheck.lock", "--import", "--load-model", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["findings"] == []
    (imports, loads) = report["evidence"]
    assert "import check:" in imports and "failed" not in imports and "no network" in imports
    assert loads.startswith("load check: 1 of 1 model file loaded")


@pytest.mark.slow
def test_a_scikit_learn_that_fails_at_import_is_critical_with_the_real_error(
    trained: Path, tmp_path: Path
) -> None:
    import sklearn

    wheels = tmp_path / "wheels"
    broken = {"sklearn/__init__.py": f"raise ValueError({DTYPE!r})\n".encode()}
    build_wheel(wheels, "scikit-learn", sklearn.__version__, files=broken)
    env = tmp_path / "serving"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    install_wheels(python, "scikit-learn", find_links=wheels)
    done = _envcheck(trained, "check", "envcheck.lock", "--python", str(python), "--import", "--format", "json")
    assert done.returncode == 1, done.stdout + done.stderr
    findings = json.loads(done.stdout)["findings"]
    (failed,) = [f for f in findings if f["id"] == "evidence.import.failed" and f["subject"] == "sklearn"]
    assert failed["severity"] == "critical" and DTYPE in failed["message"]
    assert not [
        f for f in findings if f["id"] == "package.version.minor.numeric" and f["subject"] == "scikit-learn"
    ]


@pytest.mark.slow
def test_a_target_without_an_interpreter_to_run_is_one_line_exit_2(trained: Path) -> None:
    done = _envcheck(trained, "check", "envcheck.lock", "--root", str(trained), "--import")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--root" in done.stderr and "Traceback" not in done.stderr
