"""Model files: hashed as given, and odd names or file kinds are one-line errors, never a crash or a hang."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from envcheck import lockfile
from envcheck.collect.models import (
    ModelPathError,
    digest_models,
    recorded_path,
    rehash_models,
    resolve_recorded,
    resolve_writers,
    sha256_file,
)
from envcheck.model import ModelWriter, Package


def test_a_folder_is_hashed_file_by_file(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "b.bin").write_bytes(b"b")
    (tmp_path / "m" / "a.json").write_text("{}")
    os.mkfifo(tmp_path / "m" / "pipe")  # not a regular file: not a model file, and never opened
    found = digest_models([str(tmp_path / "m")])
    assert [Path(f.path).name for f in found] == ["a.json", "b.bin"]


def test_a_non_utf8_name_in_a_model_folder_is_an_error_naming_it(tmp_path: Path) -> None:
    """A lockfile cannot record the name, so it could never check the file again: say so instead of crashing."""
    folder = tmp_path / "model"
    folder.mkdir()
    with open(os.fsencode(folder) + b"/weights-\xff.bin", "wb") as f:
        f.write(b"w")
    with pytest.raises(ModelPathError, match="file name is not valid UTF-8"):
        digest_models([str(folder)])
    done = subprocess.run(
        [sys.executable, "-m", "envcheck", "snapshot", "-o", "-", "--model", "model"],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        b"envcheck: error: model/weights-\\udcff.bin: file name is not valid UTF-8 (a lockfile cannot record it); "
        b"rename it"
    ]


def test_a_fifo_is_never_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(ModelPathError, match="not a regular file"):
        digest_models([str(tmp_path / "pipe")])
    with pytest.raises(ModelPathError, match="not a regular file"):
        sha256_file(tmp_path / "pipe")  # a file swapped for a FIFO after the check: still no blocking read


@pytest.mark.parametrize(
    "given,base,recorded",
    [
        ("art/model.pkl", None, "art/model.pkl"),
        ("art/model.pkl", "art", "model.pkl"),
        ("art/sub/w.bin", "art", "sub/w.bin"),
        ("models/m.bin", "art", "../models/m.bin"),
        ("{tmp}/art/model.pkl", "art", "model.pkl"),
        ("{tmp}/mnt/m.bin", "art", "{tmp}/mnt/m.bin"),
    ],
    ids=["no-lockfile", "beside", "below", "relative-outside", "absolute-inside", "absolute-outside-kept"],
)
def test_recorded_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str, base: str | None, recorded: str
) -> None:
    monkeypatch.chdir(tmp_path)
    assert recorded_path(given.format(tmp=tmp_path), base) == recorded.format(tmp=tmp_path)


def test_recorded_paths_resolve_from_the_lockfile_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "art").mkdir()
    (tmp_path / "art" / "model.pkl").write_bytes(b"weights")
    monkeypatch.chdir(tmp_path)
    recorded = digest_models(["art"], base="art")
    assert [m.path for m in recorded] == ["model.pkl"]
    monkeypatch.chdir("/")
    digests = [(m.path, m.size, m.sha256) for m in recorded]
    again = rehash_models(["model.pkl"], [str(tmp_path / "art")])
    assert [(m.path, m.size, m.sha256) for m in again] == digests
    again = rehash_models(["model.pkl", "gone.bin"], ["/nowhere", str(tmp_path / "art")])
    assert [(m.path, m.size, m.sha256) for m in again] == digests
    assert resolve_recorded(str(tmp_path / "art" / "model.pkl"), []) == tmp_path / "art" / "model.pkl"
    assert resolve_recorded("gone.bin", [str(tmp_path)]) is None


def _envcheck(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envcheck", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def _model_findings(done: subprocess.CompletedProcess[str]) -> list[tuple[str, str]]:
    assert done.returncode in (0, 1), done.stderr
    return [(f["id"], f["subject"]) for f in json.loads(done.stdout)["findings"] if f["component"] == "models"]


@pytest.mark.slow
def test_check_finds_the_models_from_another_working_directory(tmp_path: Path) -> None:
    """snapshot -o art/envcheck.lock --model art/model.pkl in one folder, check from anywhere: same files."""
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "art" / "weights").mkdir(parents=True)
    elsewhere.mkdir()
    (project / "art" / "model.pkl").write_bytes(b"pickled")
    (project / "art" / "weights" / "w.bin").write_bytes(b"w")
    done = _envcheck(
        project, "snapshot", "-o", "art/envcheck.lock", "--model", "art/model.pkl", "--model", "art/weights"
    )
    assert done.returncode == 0, done.stderr
    fp = lockfile.read(project / "art" / "envcheck.lock")
    assert [m.path for m in fp.models] == ["model.pkl", "weights/w.bin"]
    assert fp.meta.model_paths == "lockfile"
    lock = str(project / "art" / "envcheck.lock")
    for cwd in (elsewhere, project, project / "art"):
        assert _model_findings(_envcheck(cwd, "check", lock, "--format", "json")) == [], cwd
    # --model given at check time names the same files the same way, from any folder
    given = _envcheck(elsewhere, "check", lock, "--format", "json", "--model", "../project/art")
    assert _model_findings(given) == []
    (project / "art" / "model.pkl").write_bytes(b"retrained")
    assert _model_findings(_envcheck(elsewhere, "check", lock, "--format", "json")) == [
        ("model.digest", "model.pkl")
    ]
    # the folder moved as a whole (an artifact store, another checkout): still found beside the lockfile
    moved = tmp_path / "moved"
    (project / "art").rename(moved)
    found = _envcheck(elsewhere, "check", str(moved / "envcheck.lock"), "--format", "json")
    assert _model_findings(found) == [("model.digest", "model.pkl")]


@pytest.mark.slow
def test_an_older_lockfile_with_working_directory_paths_still_resolves(tmp_path: Path) -> None:
    (tmp_path / "art").mkdir()
    (tmp_path / "art" / "model.pkl").write_bytes(b"pickled")
    text = _envcheck(tmp_path, "snapshot", "-o", "-", "--model", "art/model.pkl").stdout
    old = lockfile.loads(text)
    assert (old.meta.model_paths, [m.path for m in old.models]) == (None, ["art/model.pkl"])
    lockfile.write(old, tmp_path / "art" / "old.lock")
    # from the working directory it was taken in, as before
    assert _model_findings(_envcheck(tmp_path, "check", "art/old.lock", "--format", "json")) == []
    assert _model_findings(_envcheck(tmp_path / "art", "check", "old.lock", "--format", "json")) == [
        ("model.missing", "art/model.pkl")
    ]


def test_a_real_scikit_learn_pickle_is_recorded_with_what_it_needs(tmp_path: Path) -> None:
    """The modules its pickle names and the scikit-learn version it carries, read without unpickling; the
    writer named by the distribution installed (an xgboost model where xgboost-cpu provides the module)."""
    script = (
        "import pickle, sys, numpy as np\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "x = np.arange(40.0).reshape(20, 2); y = (x[:, 0] > 15).astype(int)\n"
        "pickle.dump(LogisticRegression().fit(x, y), open(sys.argv[1], 'wb'))\n"
    )
    path = tmp_path / "model.pkl"
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=120)
    (model,) = digest_models([str(path)], base=str(tmp_path))
    import sklearn

    assert model.format == "pickle"
    assert "sklearn.linear_model._logistic:LogisticRegression" in model.references
    assert {"numpy", "sklearn"} <= set(model.modules)
    assert model.written_by == ModelWriter("scikit-learn", sklearn.__version__)
    xgb = dataclasses.replace(model, written_by=ModelWriter("xgboost", "3.0.0"))
    packages = [Package("xgboost-cpu", "3.0.0", modules=("xgboost",)), Package("scikit-learn", "1.6.0")]
    (resolved,) = resolve_writers([xgb], packages)
    assert resolved.written_by == ModelWriter("xgboost-cpu", "3.0.0")
    assert resolve_writers([model], packages) == (model,)
