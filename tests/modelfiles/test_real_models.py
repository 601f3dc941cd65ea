"""Real model files, made by the libraries that write them, read back without importing those libraries."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Dict

import pytest

from envcheck.modelfiles import ModelFormat, WrittenBy, read_model_needs
from tests.modelfiles.conftest import TORCH_FIXTURE

LOGREG = "sklearn.linear_model._logistic:LogisticRegression"
PIPELINE = ("sklearn.pipeline:Pipeline", "sklearn.preprocessing._data:StandardScaler", LOGREG)
WRAPPER = "joblib.numpy_pickle:NumpyArrayWrapper"
COMPRESSORS = {"z3": "zlib", "lzma": "lzma", "gzip": "gzip", "bz2": "bz2", "xz": "xz", "lz4": "lz4"}


def _sklearn_version() -> str:
    import sklearn

    return str(sklearn.__version__)


@pytest.mark.parametrize("name", ["logreg", "pipeline"])
def test_pickled_sklearn(model_dir: Path, name: str) -> None:
    needs = read_model_needs(model_dir / f"{name}.pkl")
    assert needs.format is ModelFormat.PICKLE
    assert LOGREG in needs.references
    if name == "pipeline":
        assert set(PIPELINE) <= set(needs.references)
    assert needs.modules == ("numpy", "sklearn")
    assert needs.written_by == WrittenBy("scikit-learn", _sklearn_version())
    assert needs.versions["pickle.protocol"] == str(pickle.HIGHEST_PROTOCOL)
    assert needs.notes == ()


@pytest.mark.parametrize("compress", ["plain", *COMPRESSORS], ids=lambda c: str(c))
@pytest.mark.parametrize("name", ["logreg", "pipeline"])
def test_joblib_sklearn(model_dir: Path, name: str, compress: str) -> None:
    path = model_dir / (f"{name}.joblib" if compress == "plain" else f"{name}.{compress}.joblib")
    needs = read_model_needs(path)
    assert needs.format is ModelFormat.JOBLIB
    assert WRAPPER in needs.references and LOGREG in needs.references
    assert needs.modules == ("joblib", "numpy", "sklearn")
    assert needs.written_by == WrittenBy("scikit-learn", _sklearn_version())
    assert needs.versions.get("joblib.compressor") == COMPRESSORS.get(compress)
    assert needs.notes == ()


def test_joblib_detected_by_content_not_name(model_dir: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "model.bin"
    renamed.write_bytes((model_dir / "pipeline.lzma.joblib").read_bytes())
    needs = read_model_needs(renamed)
    assert needs.format is ModelFormat.JOBLIB and set(PIPELINE) <= set(needs.references)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_pickle_protocol(sklearn_models: Dict[str, object], tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(sklearn_models["pipeline"], protocol=protocol))
    needs = read_model_needs(path)
    assert needs.format is ModelFormat.PICKLE
    assert set(PIPELINE) <= set(needs.references)
    assert needs.written_by == WrittenBy("scikit-learn", _sklearn_version())
    assert needs.notes == ()


def test_xgboost_json(model_dir: Path) -> None:
    import xgboost

    needs = read_model_needs(model_dir / "xgb.json")
    assert needs.format is ModelFormat.XGBOOST_JSON
    assert needs.written_by == WrittenBy("xgboost", xgboost.__version__.split("+")[0])
    assert needs.modules == ("xgboost",) and needs.references == () and needs.notes == ()


def test_xgboost_ubj(model_dir: Path) -> None:
    import xgboost

    needs = read_model_needs(model_dir / "xgb.ubj")
    assert needs.format is ModelFormat.XGBOOST_UBJ
    assert needs.written_by == WrittenBy("xgboost", xgboost.__version__.split("+")[0])
    assert needs.notes == ()


def test_lightgbm_text(model_dir: Path) -> None:
    needs = read_model_needs(model_dir / "lgbm.txt")
    assert needs.format is ModelFormat.LIGHTGBM
    assert needs.written_by == WrittenBy("lightgbm", "")
    assert needs.versions == {"lightgbm.format": "v4"}
    assert needs.modules == ("lightgbm",)


def test_onnx(model_dir: Path) -> None:
    import onnx

    needs = read_model_needs(model_dir / "model.onnx")
    assert needs.format is ModelFormat.ONNX
    assert needs.written_by == WrittenBy("envcheck-test", "0.1")
    assert needs.versions == {
        "onnx.domain": "org.example",
        "onnx.ir_version": str(onnx.IR_VERSION),
        "onnx.model_version": "7",
        "onnx.opset.ai.onnx": "17",
        "onnx.opset.ai.onnx.ml": "3",
    }
    assert needs.notes == ()


def test_skops(model_dir: Path) -> None:
    import skops

    needs = read_model_needs(model_dir / "pipeline.skops")
    assert needs.format is ModelFormat.SKOPS
    assert set(PIPELINE) <= set(needs.references) and "numpy:ndarray" in needs.references
    assert needs.written_by == WrittenBy("scikit-learn", _sklearn_version())
    assert needs.versions["skops.version"] == skops.__version__
    assert needs.versions["skops.protocol"].isdigit()
    assert "skops" in needs.modules and "sklearn" in needs.modules


def test_safetensors(model_dir: Path) -> None:
    needs = read_model_needs(model_dir / "model.safetensors")
    assert needs.format is ModelFormat.SAFETENSORS
    assert needs.versions == {
        "safetensors.dtypes": "F32,I64",
        "safetensors.metadata.format": "pt",
        "safetensors.metadata.note": "hand-made",
    }
    assert needs.references == () and needs.written_by is None


def test_keras(model_dir: Path) -> None:
    needs = read_model_needs(model_dir / "model.keras")
    assert needs.format is ModelFormat.KERAS
    assert needs.written_by == WrittenBy("keras", "3.3.3")
    assert needs.references == (
        "keras.initializers:GlorotUniform",
        "keras.layers:Dense",
        "keras.layers:InputLayer",
        "keras:Sequential",
        "my_layers:Scale",
    )
    assert needs.modules == ("keras", "my_layers")


def test_torch_zip_fixture() -> None:
    needs = read_model_needs(TORCH_FIXTURE)
    assert needs.format is ModelFormat.TORCH
    assert {
        "torch.nn.modules.container:Sequential",
        "torch.nn.modules.linear:Linear",
        "torch.nn.modules.activation:ReLU",
        "torch._utils:_rebuild_tensor_v2",
        "torch._utils:_rebuild_parameter",
        "collections:OrderedDict",
        "torch:FloatStorage",
    } <= set(needs.references)
    assert "torch" in needs.modules
    assert needs.versions["torch.archive_version"] == "3"
    assert needs.versions["torch.byteorder"] == "little"
    assert needs.notes == ()


def test_torch_fixture_is_small() -> None:
    assert TORCH_FIXTURE.stat().st_size <= 20_000
