"""Format detection by content, and the reader registry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from envcheck.modelfiles import READERS, ModelFormat, read_model_needs
from tests.modelfiles.conftest import TORCH_FIXTURE

#: A file of each format, by its name in model_dir (or the committed torch fixture).
SAMPLES = {
    ModelFormat.PICKLE: "logreg.pkl",
    ModelFormat.JOBLIB: "logreg.z3.joblib",
    ModelFormat.TORCH: "torch",
    ModelFormat.XGBOOST_JSON: "xgb.json",
    ModelFormat.XGBOOST_UBJ: "xgb.ubj",
    ModelFormat.LIGHTGBM: "lgbm.txt",
    ModelFormat.ONNX: "model.onnx",
    ModelFormat.KERAS: "model.keras",
    ModelFormat.SAFETENSORS: "model.safetensors",
    ModelFormat.SKOPS: "pipeline.skops",
}


def test_every_format_has_a_sample() -> None:
    assert set(SAMPLES) == set(ModelFormat) - {ModelFormat.UNKNOWN}


@pytest.mark.parametrize("fmt", list(SAMPLES), ids=lambda f: f.value)
def test_detected_by_content_under_any_name(model_dir: Path, tmp_path: Path, fmt: ModelFormat) -> None:
    source = TORCH_FIXTURE if SAMPLES[fmt] == "torch" else model_dir / SAMPLES[fmt]
    renamed = tmp_path / "model.data"
    shutil.copyfile(source, renamed)
    assert read_model_needs(renamed).format is fmt


def test_uncompressed_joblib_without_arrays_is_told_by_its_suffix(tmp_path: Path) -> None:
    import joblib

    joblib.dump({"a": 1}, tmp_path / "m.joblib")
    shutil.copyfile(tmp_path / "m.joblib", tmp_path / "m.pkl")
    assert read_model_needs(tmp_path / "m.joblib").format is ModelFormat.JOBLIB
    assert read_model_needs(tmp_path / "m.pkl").format is ModelFormat.PICKLE


def test_readers_cover_the_formats() -> None:
    claimed = {r.format for r in READERS}
    assert claimed == set(ModelFormat) - {ModelFormat.UNKNOWN}


def test_legacy_torch_format(tmp_path: Path) -> None:
    # torch's legacy layout, written by hand: magic number, protocol version, sys info, then the object.
    import pickle

    parts = [
        0x1950A86A20F9469CFC6C,
        1001,
        {"protocol_version": 1001, "little_endian": True, "type_sizes": {"int": 4}},
    ]
    body = b"".join(pickle.dumps(p, protocol=2) for p in parts)
    body += b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01."
    (tmp_path / "old.pt").write_bytes(body + b"\x80\x02]q\x00.")
    needs = read_model_needs(tmp_path / "old.pt")
    assert needs.format is ModelFormat.TORCH
    assert needs.references == ("collections:OrderedDict",)
    assert needs.versions["torch.legacy_protocol"] == "1001"
    assert any("legacy torch format" in n for n in needs.notes)
