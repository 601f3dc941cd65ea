"""An envcheck lockfile saved with an MLflow model: ``snapshot --mlflow-model DIR`` and
``envcheck.mlflow.log_lockfile`` write ``DIR/envcheck.lock`` with the model's files, ``check DIR`` compares
against it (not the folder's requirements.txt) and finds a changed model file; ``log_lockfile`` also logs the
lockfile to a run. The model is a real scikit-learn one, saved by ``mlflow.sklearn.save_model`` in a child."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from envcheck import lockfile
from envcheck.mlflow import MlflowModelError, log_lockfile
from tests.canary.servers import clean_environ, envcheck, train

pytestmark = pytest.mark.slow

TRAIN = """
import sys, warnings
warnings.simplefilter("ignore")
import numpy as np, mlflow.sklearn
from sklearn.linear_model import LogisticRegression
out, seed = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(seed)
X = rng.normal(size=(60, 3))
y = (X[:, 0] > 0).astype(int)
mlflow.sklearn.save_model(LogisticRegression().fit(X, y), out)
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        import mlflow  # noqa: F401
    except ImportError:
        pytest.fail("mlflow is not installed: pip install mlflow-skinny (the test extra)", pytrace=False)
    return train(TRAIN, tmp_path_factory.mktemp("mlflow-lock") / "model", 0)


@pytest.fixture
def model(saved: Path, tmp_path: Path) -> Path:
    """A fresh copy of the saved model for each test (they write into it)."""
    return Path(shutil.copytree(saved, tmp_path / "model"))


def weights(model: Path) -> str:
    """The file the sklearn flavour wrote the estimator to: ``model.skops`` (MLflow 3) or ``model.pkl`` (the
    MLflow releases CPython 3.9 gets)."""
    found = [name for name in ("model.skops", "model.pkl") if (model / name).is_file()]
    assert found, sorted(p.name for p in model.iterdir())
    return found[0]


def check_json(target: Path) -> dict:  # type: ignore[type-arg]
    done = envcheck("check", str(target), "--format", "json", "--fail-on", "never")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_snapshot_into_the_model_then_check_the_folder(model: Path, tmp_path: Path) -> None:
    done = envcheck("snapshot", "--mlflow-model", str(model), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    fp = lockfile.read(model / "envcheck.lock")
    recorded = {m.path for m in fp.models}
    assert {"MLmodel", weights(model), "requirements.txt"} <= recorded
    assert "envcheck.lock" not in recorded
    assert fp.package("scikit-learn") is not None

    report = check_json(model)
    assert "the envcheck lockfile in the MLflow model" in report["expected"]
    assert [f for f in report["findings"] if f["component"] in ("packages", "models")] == []

    # remedy reads the same lockfile from the folder: nothing drifted, every recorded package pinned
    done = envcheck("remedy", str(model))
    assert done.returncode == 0, done.stderr
    assert "# drifted: 0 of " in done.stdout
    assert any(line.startswith("scikit-learn==") for line in done.stdout.splitlines())

    # a lockfile that states the model's files finds a retrained one, from any working directory
    (model / weights(model)).write_bytes((model / weights(model)).read_bytes() + b"\0")
    report = check_json(model)
    assert ("models", weights(model)) in {(f["component"], f["subject"]) for f in report["findings"]}


def test_snapshot_again_does_not_record_its_own_lockfile(model: Path, tmp_path: Path) -> None:
    for _ in range(2):
        done = envcheck("snapshot", "--mlflow-model", str(model), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert "envcheck.lock" not in {m.path for m in lockfile.read(model / "envcheck.lock").models}
    assert [f for f in check_json(model)["findings"] if f["component"] == "models"] == []


def test_snapshot_refuses_a_folder_that_is_no_mlflow_model_and_a_second_output(
    tmp_path: Path, model: Path
) -> None:
    done = envcheck("snapshot", "--mlflow-model", str(tmp_path / "nothing"), cwd=tmp_path)
    assert done.returncode == 2 and "not an MLflow model folder" in done.stderr
    done = envcheck("snapshot", "--mlflow-model", str(model), "-o", str(tmp_path / "x.lock"), cwd=tmp_path)
    assert done.returncode == 2 and "give it or -o, not both" in done.stderr
    assert not (model / "envcheck.lock").exists()


def test_log_lockfile_into_the_model_folder(model: Path) -> None:
    fp = log_lockfile(model)
    assert lockfile.read(model / "envcheck.lock").meta.digest == fp.meta.digest
    assert weights(model) in {m.path for m in fp.models}
    report = check_json(model)
    assert [f for f in report["findings"] if f["component"] in ("packages", "models")] == []


def test_log_lockfile_needs_somewhere_to_write(tmp_path: Path) -> None:
    with pytest.raises(MlflowModelError, match="needs a model folder"):
        log_lockfile()
    with pytest.raises(MlflowModelError, match="not an MLflow model folder"):
        log_lockfile(tmp_path)


LOG = """
import sys, warnings
warnings.simplefilter("ignore")
import mlflow
from envcheck.mlflow import log_lockfile
mlflow.set_tracking_uri(sys.argv[1])
with mlflow.start_run() as run:
    log_lockfile(artifact_path="envcheck")
print(run.info.artifact_uri)
"""


def test_log_lockfile_to_the_active_run(tmp_path: Path) -> None:
    store = tmp_path / "mlruns"
    done = subprocess.run(
        [sys.executable, "-c", LOG, store.as_uri()],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        # a file store keeps the test offline and without a database; MLflow 3 asks for this to allow it
        env=clean_environ({"MLFLOW_ALLOW_FILE_STORE": "true"}),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    artifacts = done.stdout.strip().splitlines()[-1]
    assert artifacts.startswith("file://")
    logged = Path(artifacts[len("file://") :]) / "envcheck" / "envcheck.lock"
    assert lockfile.read(logged).package("envcheck") is not None
