"""The canary and ``check --numerics`` agree, end to end: a scikit-learn regression served by ``mlflow models
serve --env-manager local`` is restarted once with a change to its environment that changes its predictions and
once with one that does not. The canary (what the server answers) catches the first and passes the second, and
``check --pid PID --pid-exec --numerics`` (the numerics battery run in the serving process's own interpreter with
its launch environment) says the same both times.

The change that matters is ``OPENBLAS_CORETYPE`` set to a kernel set other than the one OpenBLAS detects on this
CPU: the regression's 64x37 product then differs in the last bits. The harmless one is ``OPENBLAS_NUM_THREADS``
set to the thread count OpenBLAS chose by itself when the battery was recorded.

Agreement is asserted at both levels the two tools distinguish, with one golden case for each:

- ``bitwise`` (tolerance abs 0, rel 0: the user asks for bitwise the same predictions) fails exactly when some
  battery kernel is no longer bitwise equal (the report's numerics line counts those within rounding and beyond);
- ``rounding`` (rel 1e-12, some hundreds of ULP of float64: what correct kernels that sum in other orders give,
  far below the 1e-7 a float32 resolves) fails exactly when ``check`` reports ``numerics.changed`` (a kernel
  beyond its rounding bound, ``envcheck.numerics.bounds``). Another kernel set rounds otherwise, within the
  bounds: it fails the first and passes the second.

A third change really changes predictions, and not through BLAS: bottleneck installed beside pandas. An MLflow
pyfunc model standardising a float32 window (its prediction is the window's pandas ``std``) is served from a venv
of this interpreter whose ``.pth`` file adds bottleneck (installed from the package index): pandas hands ``std``
to bottleneck, which accumulates float32 in float32, and the prediction moves in the sixth digit. Both golden
cases fail, and ``check`` reports the battery's pandas float32 kernels changed beyond their bound, naming
bottleneck; served from the same kind of venv without it, both pass.

``--pid-exec`` runs the target's interpreter chrooted into ``/proc/PID/root``: it needs root, which these tests
have here and in CI."""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import psutil
import pytest

from envcheck.golden import record
from envcheck.lockfile import read
from tests.canary.servers import BIN, Served, envcheck, free_port, mlflow_serve, train
from tests.numerics.venvs import install_bottleneck, pth_venv

pytestmark = pytest.mark.slow

TRAIN = """
import sys, warnings
warnings.simplefilter("ignore")
import numpy as np, pandas as pd, mlflow.sklearn
from sklearn.linear_model import LinearRegression
out, seed = sys.argv[1], int(sys.argv[2])
rng = np.random.RandomState(seed)
columns = ["x%d" % i for i in range(37)]
X = pd.DataFrame(rng.rand(200, 37), columns=columns)
y = X.to_numpy() @ rng.rand(37) + rng.rand(200)
example = pd.DataFrame(rng.rand(64, 37), columns=columns)
mlflow.sklearn.save_model(LinearRegression().fit(X, y), out, input_example=example)
"""
#: Golden cases and their tolerances (the module's docstring says why these two).
CASES = {"bitwise": {"abs": 0.0, "rel": 0.0}, "rounding": {"abs": 0.0, "rel": 1e-12}}
NUMERICS_LINE = re.compile(r"numerics: (\d+) kernels compared: (\d+) bitwise equal, (\d+) within rounding, (\d+) ")


@pytest.fixture(scope="module")
def verified(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tuple[Path, Path]]:
    """The MLflow model folder and a lockfile of this interpreter with its numerics battery and the model's
    golden cases, both taken in a clean environment (no ``OPENBLAS_*``, ``OMP_*``)."""
    if os.geteuid() != 0:
        pytest.fail("check --pid-exec chroots into the server's root: run these tests as root", pytrace=False)
    root = tmp_path_factory.mktemp("agree")
    model = train(TRAIN, root / "model", 0)
    yield model, _verify(model, root)


#: A pyfunc model whose prediction is the pandas ``std`` of a float32 window of 10007 values (its input example:
#: about 450 KB of JSON): pandas alone accumulates it in float64, bottleneck in float32.
STANDARDISE = """
import sys, warnings
warnings.simplefilter("ignore")
import numpy as np, pandas as pd, mlflow.pyfunc

class Standardise(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return pd.DataFrame({"std": [float(model_input["x"].astype("float32").std())]})

out, seed = sys.argv[1], int(sys.argv[2])
rng = np.random.RandomState(seed)
example = pd.DataFrame({"x": (rng.rand(10007) * 2 - 1).astype("float32")})
mlflow.pyfunc.save_model(out, python_model=Standardise(), input_example=example)
"""


def _verify(model: Path, root: Path) -> Path:
    """A lockfile in ``root`` of this interpreter with its numerics battery and ``model``'s golden cases, one per
    tolerance of ``CASES``, taken in a clean environment (no ``OPENBLAS_*``, ``OMP_*``)."""
    # the model's answer to its serving_input_example.json, as MLflow's scoring server would serialise it...
    scratch = root / "scratch"
    scratch.mkdir()
    done = envcheck("snapshot", "-o", str(scratch / "envcheck.lock"), "--golden", str(model), cwd=scratch)
    assert done.returncode == 0, done.stderr
    case = json.loads((scratch / "envcheck.golden" / "model.json").read_text())
    # ... recorded again with this test's tolerances
    lock = root / "envcheck.lock"
    for name, tolerance in CASES.items():
        record(name, case["inputs"], case["outputs"], tolerance, lock=lock)
    done = envcheck("snapshot", "-o", str(lock), "--numerics", "--golden", str(root / "envcheck.golden"), cwd=root)
    assert done.returncode == 0, done.stderr
    return lock


@pytest.fixture(scope="module")
def standardised(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, Path, Dict[str, Path]]:
    """The pyfunc model, its lockfile, and the python of two venvs to serve it from: ``plain`` (this
    interpreter's site-packages) and ``bottleneck`` (the same, and bottleneck from the package index)."""
    if os.geteuid() != 0:
        pytest.fail("check --pid-exec chroots into the server's root: run these tests as root", pytrace=False)
    root = tmp_path_factory.mktemp("agree-bottleneck")
    model = train(STANDARDISE, root / "model", 0)
    lock = _verify(model, root)
    folder = install_bottleneck(root / "bottleneck-site")
    pythons = {"plain": pth_venv(root / "plain"), "bottleneck": pth_venv(root / "with-bottleneck", [folder])}
    for python in pythons.values():
        # mlflow's local scoring server runs `uvicorn` from PATH: the venv's own, so that it runs the venv's python
        uvicorn = python.parent / "uvicorn"
        uvicorn.write_text(f'#!/bin/sh\nexec "{python}" -m uvicorn "$@"\n')
        uvicorn.chmod(0o755)
    return model, lock, pythons


def venv_serve(python: Path, model: Path, env: Dict[str, str]) -> Served:
    """``mlflow models serve --env-manager local`` of ``model`` run by the venv's ``python`` (its scoring server
    too: the venv's bin first on PATH), on a free port."""
    port = free_port()
    command = [str(python), "-m", "mlflow", "models", "serve", "--env-manager", "local", "-m", str(model)]
    return Served(
        [*command, "-h", "127.0.0.1", "-p", str(port)],
        port,
        ready="/ping",
        log=model.parent / f"{python.parents[1].name}-serve-{port}.log",
        env={**env, "PATH": f"{python.parent}{os.pathsep}{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
        label=f"mlflow models serve from {python.parents[1].name}",
    )


def serving_pid(server: Served, variable: str, value: str) -> int:
    """The process that computes the predictions: in the server's process group, this interpreter (the venv's
    python, resolved), launched with ``variable=value``, with an OpenBLAS loaded and listening on the port
    (MLflow's CLI is its parent and has numpy loaded as well, but does not listen)."""
    python = os.path.realpath(sys.executable)
    found: List[int] = []
    leader = psutil.Process(server.process.pid)
    for process in [leader, *leader.children(recursive=True)]:
        try:
            if process.exe() != python or process.environ().get(variable) != value:
                continue
            if not any("openblas" in os.path.basename(m.path) for m in process.memory_maps()):
                continue
            listens = any(
                c.status == psutil.CONN_LISTEN and c.laddr.port == server.port
                for c in process.net_connections(kind="tcp")
            )
        except psutil.NoSuchProcess:
            continue
        if listens:
            found.append(process.pid)
    assert len(found) == 1, f"not one serving python process in the server's group: {found}"
    return found[0]


@dataclass(frozen=True)
class Verdicts:
    failed: Tuple[str, ...]
    """The golden cases the canary found changed."""
    moved: int
    """Battery kernels no longer bitwise equal (within rounding or beyond)."""
    changed: Tuple[str, ...]
    """Subjects of ``numerics.changed`` (kernels beyond their bound)."""
    subjects: Tuple[str, ...]
    """Subjects of every finding of ``check``."""
    causes: Tuple[str, ...]
    """Messages of the ``numerics.changed`` findings (each names its likely cause)."""
    shown: str
    """Both reports, for a failing assertion's message."""


def verdicts(model: Path, lock: Path, variable: str, value: str, python: Optional[Path] = None) -> Verdicts:
    """The canary's and ``check --numerics``'s verdicts on the server launched with ``variable=value`` (from the
    venv of ``python`` when given)."""
    env = {variable: value}
    with mlflow_serve(model, env) if python is None else venv_serve(python, model, env) as server:
        canary = envcheck("canary", str(lock), "--endpoint", server.url, "--format", "json")
        pid = serving_pid(server, variable, value)
        args = ("check", str(lock), "--pid", str(pid), "--pid-exec", "--numerics", "--format", "json")
        check = envcheck(*args, cwd=lock.parent)
    shown = f"canary: {canary.stdout}{canary.stderr}\ncheck: {check.stdout}{check.stderr}"
    assert canary.returncode in (0, 1) and check.returncode in (0, 1), shown
    failed = json.loads(canary.stdout)["findings"]
    assert {f["id"] for f in failed} <= {"canary.failed"} and (canary.returncode == 1) == bool(failed), shown
    report = json.loads(check.stdout)
    lines = [m for m in map(NUMERICS_LINE.match, report["evidence"]) if m]
    assert len(lines) == 1, shown
    total, equal = int(lines[0].group(1)), int(lines[0].group(2))
    return Verdicts(
        failed=tuple(sorted(f["subject"] for f in failed)),
        moved=total - equal,
        changed=tuple(f["subject"] for f in report["findings"] if f["id"] == "numerics.changed"),
        subjects=tuple(f["subject"] for f in report["findings"]),
        causes=tuple(f["message"] for f in report["findings"] if f["id"] == "numerics.changed"),
        shown=shown,
    )


def _openblas(lock: Path) -> Dict[str, str]:
    numerics = read(lock).numerics
    assert numerics is not None and numerics.openblas, "the battery saw no OpenBLAS: numpy is built without it?"
    return {"core": numerics.openblas[0].core, "threads": numerics.openblas[0].threads}


def _agree(v: Verdicts) -> None:
    assert ("bitwise" in v.failed) == (v.moved > 0), v.shown
    assert ("rounding" in v.failed) == bool(v.changed), v.shown


def test_both_catch_another_openblas_kernel_set(verified: Tuple[Path, Path]) -> None:
    model, lock = verified
    detected = _openblas(lock)["core"]
    other = "Haswell" if detected == "Sandybridge" else "Sandybridge"  # Zen runs Haswell's kernels
    v = verdicts(model, lock, "OPENBLAS_CORETYPE", other)
    assert v.failed, f"OPENBLAS_CORETYPE={other} (detected {detected}) did not change the predictions\n{v.shown}"
    assert "OPENBLAS_CORETYPE" in v.subjects, v.shown  # check names the cause
    _agree(v)


def test_both_pass_the_thread_count_openblas_chose_itself(verified: Tuple[Path, Path]) -> None:
    model, lock = verified
    threads = _openblas(lock)["threads"]
    assert threads.isdigit(), f"the battery recorded OpenBLAS threads {threads!r}"
    v = verdicts(model, lock, "OPENBLAS_NUM_THREADS", threads)
    assert v.failed == () and v.moved == 0 and v.changed == (), v.shown
    _agree(v)


#: What marks the server's process in each venv (``serving_pid`` finds it by it).
SERVED_FROM = "ENVCHECK_TEST_SERVED_FROM"


def test_both_catch_bottleneck_beside_pandas(standardised: Tuple[Path, Path, Dict[str, Path]]) -> None:
    model, lock, pythons = standardised
    v = verdicts(model, lock, SERVED_FROM, "bottleneck", pythons["bottleneck"])
    assert set(v.failed) == set(CASES), v.shown  # the std moved in the sixth digit: beyond rel 1e-12
    pandas_f32 = {s for s in v.changed if s.startswith("pandas.Series.") and " f32 " in s}
    assert pandas_f32 and set(v.changed) == pandas_f32, v.shown
    assert all(" added: pandas uses it for std/var" in c and "bottleneck " in c for c in v.causes), v.shown
    _agree(v)


def test_both_pass_without_bottleneck(standardised: Tuple[Path, Path, Dict[str, Path]]) -> None:
    model, lock, pythons = standardised
    v = verdicts(model, lock, SERVED_FROM, "plain", pythons["plain"])
    assert v.failed == () and v.moved == 0 and v.changed == (), v.shown
    _agree(v)
