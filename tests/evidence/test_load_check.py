"""The load check on real scikit-learn models made here: joblib (plain and compressed), pickle, a truncated file,
a model from "another" scikit-learn version, a pickle that kills the interpreter, and a venv without the loader."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression

from envcheck.evidence import EvidenceError, LocalRunner, ModelFormat, Outcome, load_check

pytestmark = pytest.mark.slow

ESTIMATOR = "sklearn.linear_model._logistic.LogisticRegression"


class _Abort:
    """Unpickling it aborts the interpreter (what a hostile or broken pickle can do)."""

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (os.abort, ())


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    x = np.arange(40, dtype=float).reshape(20, 2)
    model = LogisticRegression().fit(x, (x[:, 0] > 20).astype(int))
    joblib.dump(model, folder / "model.joblib")
    joblib.dump(model, folder / "model.jbl.z", compress=3)
    (folder / "model.pkl").write_bytes(pickle.dumps(model))
    whole = (folder / "model.joblib").read_bytes()
    (folder / "truncated.joblib").write_bytes(whole[: len(whole) // 2])
    # The same model as an older scikit-learn would have written it: the version stamp of the same length.
    version = sklearn.__version__.encode()
    major = version.split(b".")[0]
    older = b"0" * len(major) + version[len(major) :]
    (folder / "older.pkl").write_bytes(pickle.dumps(model).replace(version, older))
    (folder / "aborts.pkl").write_bytes(pickle.dumps(_Abort()))
    (folder / "notes.txt").write_text("not a model\n")
    return folder


def test_real_models_load_and_broken_ones_say_why(models: Path) -> None:
    names = ["model.joblib", "model.jbl.z", "model.pkl", "truncated.joblib", "missing.pkl", "notes.txt"]
    report = load_check(LocalRunner(sys.executable), [models / n for n in names])
    by_name = {Path(r.path).name: r for r in report.results}
    for name in ("model.joblib", "model.jbl.z", "model.pkl"):
        assert by_name[name].outcome is Outcome.OK, by_name[name]
        assert by_name[name].loaded_type == ESTIMATOR
        assert by_name[name].loader == "joblib.load"
    assert [by_name[n].format for n in names[:3]] == ["joblib", "joblib", "pickle"]
    truncated = by_name["truncated.joblib"]
    assert truncated.outcome is Outcome.ERROR
    assert truncated.error is not None and truncated.error_type is not None
    assert truncated.error.startswith(truncated.error_type + ": ") and "\n" not in truncated.error
    assert by_name["missing.pkl"].error_type == "FileNotFoundError"
    assert by_name["notes.txt"].outcome is Outcome.SKIPPED
    assert by_name["notes.txt"].error == "no loader is known for this kind of file"
    assert report.runs == 1
    assert [Path(r.path).name for r in report.failures] == ["truncated.joblib", "missing.pkl", "notes.txt"]


def test_a_version_mismatch_warning_is_evidence(models: Path) -> None:
    (result,) = load_check(LocalRunner(sys.executable), [models / "older.pkl"]).results
    assert result.ok
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("sklearn.exceptions.InconsistentVersionWarning: Trying to unpickle")


def test_a_pickle_that_kills_the_interpreter_costs_only_itself(models: Path) -> None:
    report = load_check(LocalRunner(sys.executable), [models / "aborts.pkl", models / "model.joblib"])
    aborts, model = report.results
    assert aborts.outcome is Outcome.CRASHED
    assert aborts.error == "the interpreter crashed (signal 6, SIGABRT) loading aborts.pkl"
    assert model.ok and report.runs == 2


def test_without_the_loader_the_error_says_so(models: Path, tiny_venv: Path) -> None:
    """The tiny venv has neither joblib nor scikit-learn: the candidate cannot load the model."""
    report = load_check(LocalRunner(str(tiny_venv)), [models / "model.joblib", models / "model.pkl"])
    joblib_file, pickle_file = report.results
    assert joblib_file.error == "ModuleNotFoundError: No module named 'joblib'"
    assert pickle_file.loader == "pickle.load"
    assert pickle_file.error == "ModuleNotFoundError: No module named 'sklearn'"


def test_a_forced_format_and_relative_paths(models: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(models)
    (result,) = load_check(LocalRunner(sys.executable), ["model.pkl"], ModelFormat.PICKLE).results
    assert result.path == "model.pkl" and result.ok and result.format == "pickle"


def test_bad_paths_are_refused_before_anything_runs() -> None:
    with pytest.raises(EvidenceError, match="empty or holds a NUL"):
        load_check(LocalRunner(sys.executable), ["a\0b.pkl"])
