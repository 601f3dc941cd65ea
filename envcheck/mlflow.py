"""MLflow: an ``envcheck.lock`` saved with the model, so that ``envcheck check MODEL_DIR`` compares against it.

``log_lockfile`` (Python API, called where the model was trained or verified) and ``envcheck snapshot
--mlflow-model DIR`` write ``DIR/envcheck.lock`` with the model folder's files recorded as its models (relative to
the folder, so the check finds them wherever the folder is copied). ``check DIR`` prefers that lockfile over the
folder's own ``requirements.txt`` and ``conda.yaml`` (``envcheck.expected``): it states the whole environment, not
only the pins MLflow inferred.

MLflow itself is imported only inside ``log_lockfile`` and only to log to a run: this module's name does not
shadow the ``mlflow`` package (absolute imports), and writing into a folder needs no MLflow at all.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from pathlib import Path
from typing import List, Optional, Sequence, Union

from envcheck.errors import EnvcheckError
from envcheck.expected import LOCK_IN_MODEL
from envcheck.expected.mlflow import MLMODEL
from envcheck.model import Fingerprint

PathLike = Union[str, Path]
#: What envcheck itself keeps in a model folder: never recorded as the model's files (the lockfile changes with
#: every snapshot; golden cases are bound by their own digests).
OWN = (LOCK_IN_MODEL, "envcheck.golden")


class MlflowModelError(EnvcheckError):
    """Not an MLflow model folder, or nowhere to write or log the lockfile."""


def lock_path(model_dir: PathLike) -> str:
    """Where the lockfile of the MLflow model in ``model_dir`` goes; raises ``MlflowModelError`` when the folder
    holds no ``MLmodel``."""
    folder = str(model_dir)
    if not os.path.isfile(os.path.join(folder, MLMODEL)):
        raise MlflowModelError(f"{folder}: not an MLflow model folder (no {MLMODEL} file in it)")
    return os.path.join(folder, LOCK_IN_MODEL)


def model_files(model_dir: PathLike) -> List[str]:
    """The model folder's own entries (files and folders), less what envcheck keeps there (``OWN``), as paths
    to record; sorted."""
    folder = str(model_dir)
    try:
        names = sorted(os.listdir(folder))
    except OSError as e:
        raise MlflowModelError(f"{folder}: cannot list the model folder ({e.strerror or e})") from e
    return [os.path.join(folder, name) for name in names if name not in OWN]


def log_lockfile(
    model_dir: Optional[PathLike] = None,
    *,
    run_id: Optional[str] = None,
    artifact_path: Optional[str] = None,
    env: Sequence[str] = (),
) -> Fingerprint:
    """Snapshot this interpreter into an MLflow model: ``model_dir/envcheck.lock``, with the folder's files
    recorded as the model, when ``model_dir`` is given; logged as an artifact of the run ``run_id`` (default:
    the active run) under ``artifact_path`` when that is given (both: written, then logged). Returns the
    fingerprint written. Raises ``MlflowModelError`` when neither is given or ``model_dir`` is no MLflow model,
    and what ``envcheck.snapshot`` raises."""
    from envcheck.api import snapshot

    if model_dir is None and artifact_path is None:
        raise MlflowModelError("log_lockfile needs a model folder, an artifact path, or both")
    if model_dir is not None:
        path = lock_path(model_dir)
        fp = snapshot(path, models=model_files(model_dir), env=env)
        if artifact_path is not None:
            _log_artifact(path, artifact_path, run_id)
        return fp
    with tempfile.TemporaryDirectory(prefix="envcheck-mlflow-") as tmp:
        path = os.path.join(tmp, LOCK_IN_MODEL)
        fp = snapshot(path, env=env)
        _log_artifact(path, str(artifact_path), run_id)
    return fp


def _log_artifact(path: str, artifact_path: str, run_id: Optional[str]) -> None:
    try:
        mlflow = importlib.import_module("mlflow")
    except ImportError as e:
        raise MlflowModelError("logging to an MLflow run needs mlflow (pip install mlflow-skinny)") from e
    if run_id is None and mlflow.active_run() is None:
        raise MlflowModelError("no active MLflow run to log the lockfile to: start one, or give run_id")
    mlflow.log_artifact(path, artifact_path=artifact_path, run_id=run_id)
