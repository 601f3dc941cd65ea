"""Real model files, made once per test session by the libraries that write them (scikit-learn, joblib,
xgboost, LightGBM, ONNX, skops), and writers of the formats simple enough to build by hand per their spec
(safetensors, Keras ``.keras``)."""

from __future__ import annotations

import io
import json
import pickle
import struct
import warnings
import zipfile
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "model-files"
TORCH_FIXTURE = FIXTURES / "tiny-torch.pt"
SKLEARN_MODULES = ("numpy", "sklearn")


def _data() -> Tuple[Any, Any]:
    rng = np.random.default_rng(0)
    x = rng.random((40, 3))
    return x, (x[:, 0] > 0.5).astype(int)


@pytest.fixture(scope="session")
def sklearn_models() -> Dict[str, object]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = _data()
    return {
        "logreg": LogisticRegression().fit(x, y),
        "pipeline": Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(x, y),
    }


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory, sklearn_models: Dict[str, object]) -> Path:
    """Every model file, by name."""
    import joblib

    out = tmp_path_factory.mktemp("models")
    for name, model in sklearn_models.items():
        (out / f"{name}.pkl").write_bytes(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
        joblib.dump(model, out / f"{name}.joblib")
        joblib.dump(model, out / f"{name}.z3.joblib", compress=3)
        joblib.dump(model, out / f"{name}.lzma.joblib", compress=("lzma", 3))
        for kind in ("gzip", "bz2", "xz", "lz4"):
            joblib.dump(model, out / f"{name}.{kind}.joblib", compress=(kind, 3))
    _xgboost(out)
    _lightgbm(out)
    _onnx(out)
    _skops(out, sklearn_models["pipeline"])
    write_safetensors(out / "model.safetensors", {"format": "pt", "note": "hand-made"})
    write_keras(out / "model.keras")
    return out


def _xgboost(out: Path) -> None:
    import xgboost

    x, y = _data()
    model = xgboost.XGBClassifier(n_estimators=3, max_depth=2).fit(x, y)
    model.save_model(str(out / "xgb.json"))
    model.save_model(str(out / "xgb.ubj"))


def _lightgbm(out: Path) -> None:
    import lightgbm

    x, y = _data()
    model = lightgbm.LGBMClassifier(n_estimators=3, verbose=-1).fit(x, y)
    model.booster_.save_model(str(out / "lgbm.txt"))


def onnx_bytes(producer: str = "envcheck-test", version: str = "0.1") -> bytes:
    """A tiny ONNX model (one Relu) built with onnx.helper."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 3])
    graph = helper.make_graph([helper.make_node("Relu", ["X"], ["Y"])], "g", [x], [y])
    model = helper.make_model(
        graph,
        producer_name=producer,
        producer_version=version,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
    )
    model.model_version = 7
    model.domain = "org.example"
    return bytes(model.SerializeToString())


def _onnx(out: Path) -> None:
    (out / "model.onnx").write_bytes(onnx_bytes())


def _skops(out: Path, model: object) -> None:
    import skops.io

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        skops.io.dump(model, out / "pipeline.skops")


def write_safetensors(path: Path, metadata: Optional[Dict[str, str]]) -> None:
    """A safetensors file per its spec: u64 little-endian header size, JSON header, then the tensors' bytes."""
    data = np.arange(6, dtype="<f4").tobytes() + np.arange(2, dtype="<i8").tobytes()
    header: Dict[str, object] = {
        "weight": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "steps": {"dtype": "I64", "shape": [2], "data_offsets": [24, 40]},
    }
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)  # the spec allows padding the header with spaces
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


KERAS_CONFIG = {
    "module": "keras",
    "class_name": "Sequential",
    "config": {
        "name": "sequential",
        "layers": [
            {
                "module": "keras.layers",
                "class_name": "InputLayer",
                "config": {"batch_shape": [None, 3]},
                "registered_name": None,
            },
            {
                "module": "keras.layers",
                "class_name": "Dense",
                "config": {
                    "units": 2,
                    "activation": "relu",
                    "kernel_initializer": {
                        "module": "keras.initializers",
                        "class_name": "GlorotUniform",
                        "config": {"seed": None},
                        "registered_name": None,
                    },
                },
                "registered_name": None,
            },
            {"module": "my_layers", "class_name": "Scale", "config": {}, "registered_name": "Custom>Scale"},
        ],
    },
    "registered_name": None,
}


def write_keras(path: Path, metadata: Optional[Dict[str, str]] = None, config: object = KERAS_CONFIG) -> None:
    """A Keras v3 ``.keras`` archive per its spec: metadata.json, config.json and model.weights.h5."""
    meta = metadata if metadata is not None else {"keras_version": "3.3.3", "date_saved": "2026-11-28@10:00:00"}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("metadata.json", json.dumps(meta))
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + bytes(64))
    path.write_bytes(buf.getvalue())
