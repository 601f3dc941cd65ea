"""The canary against MLflow's own scoring server (``mlflow models serve --env-manager local``), started here:
a scikit-learn model's golden outputs recorded from its MLflow folder at snapshot time (the model run in a child
of this interpreter), then the served model checked as it is, after a restart with an irrelevant change, and after
it was replaced by one retrained on other data."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, Optional

import pytest

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
TRAIN = """
import sys, warnings
warnings.simplefilter("ignore")
import numpy as np, pandas as pd, mlflow.sklearn
from sklearn.linear_model import LogisticRegression
out, seed = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(seed)
X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
y = (X["a"] + (0.5 if seed else -0.5) * X["b"] > 0).astype(int)
model = LogisticRegression().fit(X, y)
example = pd.DataFrame({"a": [0.3, -1.2, 2.0], "b": [1.0, 0.1, -0.7], "c": [0.0, 0.5, 1.5]})
mlflow.sklearn.save_model(model, out, input_example=example, pyfunc_predict_fn="predict_proba")
"""


def train(folder: Path, seed: int) -> Path:
    # in the temporary folder: some mlflow releases make an mlruns/ folder in the working directory
    subprocess.run(
        [sys.executable, "-c", TRAIN, str(folder), str(seed)], check=True, timeout=300, cwd=folder.parent
    )
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """``mlflow models serve`` on a free loopback port, killed (its whole process group) when left."""

    def __init__(self, model: Path, env: Optional[Dict[str, str]] = None) -> None:
        self.port = free_port()
        environ = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})}
        command = [str(BIN / "mlflow"), "models", "serve", "--env-manager", "local", "-m", str(model)]
        self.process = subprocess.Popen(
            [*command, "-h", "127.0.0.1", "-p", str(self.port)],
            env=environ,
            cwd=model.parent,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Served:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"mlflow models serve exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        pytest.fail("mlflow models serve did not answer /ping within 120 s")

    def __exit__(self, *exc: object) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)
        except ProcessLookupError:
            pass


def envcheck(*args: str, cwd: Optional[Path] = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "envcheck", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Path]]:
    try:
        import mlflow  # noqa: F401
    except ImportError:
        pytest.fail("mlflow is not installed: pip install 'mlflow-skinny' pandas (the test extra)", pytrace=False)
    root = tmp_path_factory.mktemp("mlflow")
    yield {"verified": train(root / "verified", 0), "retrained": train(root / "retrained", 1)}


def test_canary_against_mlflow_models_serve(models: Dict[str, Path], tmp_path: Path) -> None:
    lock = tmp_path / "envcheck.lock"
    done = envcheck("snapshot", "-o", str(lock), "--golden", str(models["verified"]), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    golden = json.loads((tmp_path / "envcheck.golden" / "verified.json").read_text())
    assert set(golden["inputs"]) == {"dataframe_split"}  # serving_input_example.json, as recorded
    assert len(golden["outputs"]) == 3 and all(len(row) == 2 for row in golden["outputs"])  # predict_proba

    with Served(models["verified"]) as server:
        done = envcheck("canary", str(lock), "--endpoint", server.url, "--protocol", "mlflow", "--format", "json")
        assert done.returncode == 0, done.stdout + done.stderr
        assert json.loads(done.stdout)["findings"] == []

    # restarted with an irrelevant change (a thread count a logistic regression's predict does not use)
    with Served(models["verified"], {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}) as server:
        done = envcheck("canary", str(lock), "--endpoint", server.url)
        assert done.returncode == 0, done.stdout + done.stderr

    # the same endpoint now serves a model retrained on other data: the predictions changed
    with Served(models["retrained"]) as server:
        done = envcheck("canary", str(lock), "--endpoint", server.url, "--format", "json")
        assert done.returncode == 1, done.stdout + done.stderr
        (finding,) = json.loads(done.stdout)["findings"]
        assert (finding["id"], finding["subject"]) == ("canary.failed", "verified")
        assert finding["severity"] in ("high", "critical") and "worst at [" in finding["message"]

    # and once it is gone: target lost, not "predictions changed"
    done = envcheck("canary", str(lock), "--endpoint", server.url, "--timeout", "5")
    assert done.returncode == 2 and "cannot reach the server" in done.stderr
