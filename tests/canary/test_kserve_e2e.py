"""The canary against KServe's own ``kserve.ModelServer`` (V2 protocol), started here: a ``kserve.Model`` that
serves a scikit-learn classifier's ``predict_proba`` on a loopback port, checked as it is, after a restart with
a model retrained on other data, and once it is gone.

KServe needs Python >= 3.10 and pins ``psutil<6``, so it cannot join the test extra: the server runs in a venv of
its own (``kserve``, ``scikit-learn``, ``joblib`` from the package index) in a cache folder that survives runs,
made once per machine and interpreter. The model is trained, and its golden outputs computed, by that venv's
interpreter, so the pickle is read by the scikit-learn that wrote it."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator, List, Tuple

import psutil
import pytest

from tests.canary.servers import Served, clean_environ, envcheck, free_port

pytestmark = pytest.mark.slow

MODEL = "clf"
PACKAGES = ("kserve", "scikit-learn", "joblib")
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "envcheck-tests"

#: For each FOLDER SEED pair: trains a logistic regression (the data's rule depends on the seed), writes it with
#: joblib and two golden cases computed from it: ``rows``, a nested list (sent as one FP64 tensor), and
#: ``v2-fp32``, a V2 request as recorded (FP32, which the server reads as float32).
TRAIN = """
import json, sys, joblib, numpy as np
from sklearn.linear_model import LogisticRegression
for out, seed in zip(sys.argv[1::2], map(int, sys.argv[2::2])):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] + (0.5 if seed else -0.5) * X[:, 1] > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    joblib.dump(model, out + "/model.joblib")
    rows = np.array([[0.3, 1.0, 0.0], [-1.2, 0.1, 0.5], [2.0, -0.7, 1.5]])
    f32 = np.array([[0.25, -1.5, 0.5], [1.0, 0.75, -0.25]], dtype=np.float32)
    cases = {
        "rows": {"inputs": rows.tolist(), "outputs": model.predict_proba(rows).tolist()},
        "v2-fp32": {
            "inputs": {"inputs": [{"name": "input-0", "shape": list(f32.shape), "datatype": "FP32",
                                   "data": f32.ravel().tolist()}]},
            "outputs": model.predict_proba(f32).tolist(),
        },
    }
    for name, case in cases.items():
        with open(out + "/" + name + ".json", "w") as f:
            json.dump(case, f)
"""

#: ``kserve.ModelServer`` serving the joblib file on 127.0.0.1 only (its REST server hard-codes host 0.0.0.0,
#: hence the narrowed ``uvicorn.Config``), gRPC off, one worker in this process.
SERVE = """
import sys
name, path, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.argv[1:] = []  # kserve parses sys.argv when imported
import joblib, uvicorn, kserve
from kserve.utils.utils import get_predict_input, get_predict_response


class LoopbackConfig(uvicorn.Config):
    def __init__(self, *args, **kwargs):
        kwargs["host"] = "127.0.0.1"
        super().__init__(*args, **kwargs)


uvicorn.Config = LoopbackConfig


class SklearnModel(kserve.Model):
    def __init__(self, name, path):
        super().__init__(name)
        self.path = path
        self.load()

    def load(self):
        self.model = joblib.load(self.path)
        self.ready = True
        return self.ready

    def predict(self, payload, headers=None):
        return get_predict_response(payload, self.model.predict_proba(get_predict_input(payload)), self.name)


kserve.ModelServer(http_port=port, enable_grpc=False, workers=1).start([SklearnModel(name, path)])
"""


def _python_at_least_310() -> Path:
    """This interpreter when it is >= 3.10, else the newest CPython 3.10-3.13 on PATH or under pyenv."""
    if sys.version_info >= (3, 10):
        return Path(sys.executable)
    candidates: List[str] = []
    for minor in (13, 12, 11, 10):
        found = shutil.which(f"python3.{minor}")
        if found:
            candidates.append(found)
        candidates += sorted(
            (str(p) for p in (Path.home() / ".pyenv" / "versions").glob(f"3.{minor}.*/bin/python3")), reverse=True
        )
    for candidate in candidates:  # a pyenv shim is on PATH whether or not its version is selected: ask it
        done = subprocess.run(
            [candidate, "-c", "import sys; sys.exit(sys.version_info < (3, 10))"], capture_output=True, timeout=60
        )
        if done.returncode == 0:
            return Path(candidate)
    pytest.fail(
        "KServe needs Python >= 3.10 and none was found (python3.10-3.13 on PATH, ~/.pyenv/versions/3.1x): "
        "install one for the KServe server's venv",
        pytrace=False,
    )


def _works(python: Path) -> bool:
    if not python.exists():
        return False
    check = subprocess.run([str(python), "-c", "import kserve, sklearn, joblib"], capture_output=True, timeout=300)
    return check.returncode == 0


@pytest.fixture(scope="module")
def kserve_python() -> Path:
    """The interpreter of a venv with KServe: reused from the cache when it imports, else (re)made there (a few
    minutes, once), under a lock so that two runs on one machine do not build it at once."""
    base = _python_at_least_310()
    version = subprocess.run(
        [str(base), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    folder = CACHE / f"kserve-{version}"
    python = folder / "bin" / "python"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"kserve-{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _works(python):
            return python
        create = "import sys, venv; venv.create(sys.argv[1], clear=True, with_pip=True)"
        made = subprocess.run(
            [str(base), "-c", create, str(folder)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert made.returncode == 0, f"cannot make the KServe venv in {folder}: {made.stderr[-2000:]}"
        install = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *PACKAGES]
        done = subprocess.run(install, capture_output=True, text=True, timeout=1200, env=clean_environ())
        assert done.returncode == 0, f"pip install {' '.join(PACKAGES)} failed: {done.stderr[-3000:]}"
        assert _works(python), f"{folder}: kserve installed but does not import"
    return python


@pytest.fixture(scope="module")
def models(kserve_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, Path]:
    """The model verified (seed 0) and one retrained on other data (seed 1), trained by one child."""
    root = tmp_path_factory.mktemp("kserve")
    folders = (root / "verified", root / "retrained")
    args = []
    for seed, folder in enumerate(folders):
        folder.mkdir()
        args += [str(folder), str(seed)]
    done = subprocess.run(
        [str(kserve_python), "-c", TRAIN, *args], capture_output=True, text=True, timeout=300, env=clean_environ()
    )
    assert done.returncode == 0, f"training failed: {done.stderr[-2000:]}"
    return folders


@contextlib.contextmanager
def kserve_serving(python: Path, model: Path) -> Iterator[Served]:
    port = free_port()
    script = model / "serve.py"
    script.write_text(SERVE)
    command = [str(python), str(script), MODEL, str(model / "model.joblib"), str(port)]
    log = model / f"serve-{port}.log"
    with Served(command, port, ready=f"/v2/models/{MODEL}/ready", log=log, label="kserve.ModelServer") as server:
        yield server


def _listening(pid: int) -> List[str]:
    """The addresses the process group led by ``pid`` listens on (TCP)."""
    leader = psutil.Process(pid)
    found = []
    for process in [leader, *leader.children(recursive=True)]:
        for conn in process.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN:
                found.append(f"{conn.laddr.ip}:{conn.laddr.port}")
    return found


def test_canary_against_kserve_model_server(
    kserve_python: Path, models: Tuple[Path, Path], tmp_path: Path
) -> None:
    verified, retrained = models
    lock = tmp_path / "envcheck.lock"
    golden = [str(verified / "rows.json"), str(verified / "v2-fp32.json")]
    done = envcheck("snapshot", "-o", str(lock), "--golden", golden[0], "--golden", golden[1], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "envcheck.golden").iterdir()) == ["rows.json", "v2-fp32.json"]
    canary = ("canary", str(lock), "--protocol", "kserve-v2", "--model-name", MODEL, "--format", "json")

    with kserve_serving(kserve_python, verified) as server:
        assert _listening(server.process.pid) == [f"127.0.0.1:{server.port}"]  # loopback only, no gRPC port
        done = envcheck(*canary, "--endpoint", server.url)
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout)
        assert report["findings"] == []
        assert any("2 answered as recorded" in line for line in report["evidence"]), report["evidence"]

    # the same name now serves a model retrained on other data: every case's answer changed
    with kserve_serving(kserve_python, retrained) as server:
        done = envcheck(*canary, "--endpoint", server.url)
        assert done.returncode == 1, done.stdout + done.stderr
        findings = json.loads(done.stdout)["findings"]
        assert sorted((f["id"], f["subject"]) for f in findings) == [
            ("canary.failed", "rows"),
            ("canary.failed", "v2-fp32"),
        ]
        assert all(f["severity"] == "critical" and "worst at [" in f["message"] for f in findings)

    # and once it is gone: target lost, one line, not "predictions changed"
    done = envcheck(*canary, "--endpoint", server.url, "--timeout", "5")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "cannot reach the server" in done.stderr
