"""The canary against MLflow's own scoring server (``mlflow models serve --env-manager local``), started here:
a scikit-learn model's golden outputs recorded from its MLflow folder at snapshot time (the model run in a child
of this interpreter), then the served model checked as it is, after a restart with an irrelevant change, and after
it was replaced by one retrained on other data."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, Tuple

import pytest

from tests.canary.servers import BIN, Served, clean_environ, envcheck, free_port, mlflow_serve, train

pytestmark = pytest.mark.slow

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


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dict[str, Path]]:
    try:
        import mlflow  # noqa: F401
    except ImportError:
        pytest.fail("mlflow is not installed: pip install 'mlflow-skinny' pandas (the test extra)", pytrace=False)
    root = tmp_path_factory.mktemp("mlflow")
    yield {"verified": train(TRAIN, root / "verified", 0), "retrained": train(TRAIN, root / "retrained", 1)}


def test_canary_against_mlflow_models_serve(models: Dict[str, Path], tmp_path: Path) -> None:
    lock = tmp_path / "envcheck.lock"
    done = envcheck("snapshot", "-o", str(lock), "--golden", str(models["verified"]), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    golden = json.loads((tmp_path / "envcheck.golden" / "verified.json").read_text())
    assert set(golden["inputs"]) == {"dataframe_split"}  # serving_input_example.json, as recorded
    assert len(golden["outputs"]) == 3 and all(len(row) == 2 for row in golden["outputs"])  # predict_proba

    with mlflow_serve(models["verified"]) as server:
        done = envcheck("canary", str(lock), "--endpoint", server.url, "--protocol", "mlflow", "--format", "json")
        assert done.returncode == 0, done.stdout + done.stderr
        assert json.loads(done.stdout)["findings"] == []

    # restarted with an irrelevant change (a thread count a logistic regression's predict does not use)
    with mlflow_serve(models["verified"], {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}) as server:
        done = envcheck("canary", str(lock), "--endpoint", server.url)
        assert done.returncode == 0, done.stdout + done.stderr

    # the same endpoint now serves a model retrained on other data: the predictions changed
    with mlflow_serve(models["retrained"]) as server:
        done = envcheck("canary", str(lock), "--endpoint", server.url, "--format", "json")
        assert done.returncode == 1, done.stdout + done.stderr
        (finding,) = json.loads(done.stdout)["findings"]
        assert (finding["id"], finding["subject"]) == ("canary.failed", "verified")
        assert finding["severity"] in ("high", "critical") and "worst at [" in finding["message"]

    # and once it is gone: target lost, not "predictions changed"
    done = envcheck("canary", str(lock), "--endpoint", server.url, "--timeout", "5")
    assert done.returncode == 2 and "cannot reach the server" in done.stderr


def _mlflow_on(model: Path, port: int) -> Served:
    command = [str(BIN / "mlflow"), "models", "serve", "--env-manager", "local", "-m", str(model)]
    log = model.parent / f"{model.name}-sidecar-{port}-{time.monotonic_ns()}.log"
    return Served([*command, "-h", "127.0.0.1", "-p", str(port)], port, ready="/ping", log=log, label="mlflow")


def _readyz(url: str) -> Tuple[int, Dict[str, object]]:
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        body = json.loads(e.read())
        e.close()
        return e.code, body


def _until(url: str, code: int, within: float = 60.0) -> Dict[str, object]:
    deadline, last = time.monotonic() + within, None
    while time.monotonic() < deadline:
        try:
            status, body = _readyz(url)
        except OSError:
            time.sleep(0.2)
            continue
        if status == code:
            return body
        last = (status, body)
        time.sleep(0.2)
    raise AssertionError(f"/readyz did not answer {code} within {within:g} s: {last}")


def test_the_sidecar_canary_against_mlflow_models_serve(models: Dict[str, Path], tmp_path: Path) -> None:
    """``envcheck sidecar --canary`` beside a real MLflow scoring server: ready while it answers as recorded, not
    ready (``--gate always``) once it is gone ("model server lost") and once another model answers on its port."""
    lock = tmp_path / "envcheck.lock"
    done = envcheck("snapshot", "-o", str(lock), "--golden", str(models["verified"]), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    model_port, sidecar_port = free_port(), free_port()
    url = f"http://127.0.0.1:{sidecar_port}"
    command = [sys.executable, "-m", "envcheck", "sidecar", str(lock), "--listen", f"127.0.0.1:{sidecar_port}"]
    command += ["--canary", f"http://127.0.0.1:{model_port}", "--gate", "always", "--interval", "0.5"]
    command += ["--canary-interval", "1"]
    with _mlflow_on(models["verified"], model_port):
        sidecar = subprocess.Popen(command, env=clean_environ(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            body = _until(url, 200)
            assert body["ready"] is True
        except BaseException:
            sidecar.kill()
            raise
    try:
        body = _until(url, 503)
        assert str(body["reason"]).startswith("canary: model server lost:"), body
        with _mlflow_on(models["retrained"], model_port):
            body = _until(url, 503)  # still 503: now because the answers differ
            deadline = time.monotonic() + 60
            while "canary.failed verified" not in str(body["reason"]) and time.monotonic() < deadline:
                time.sleep(0.3)
                body = _readyz(url)[1]
            assert "canary.failed verified" in str(body["reason"]), body
    finally:
        sidecar.terminate()
        _, err = sidecar.communicate(timeout=30)
    assert sidecar.returncode == 0, err[-2000:]
    assert b'"event":"canary"' in err
