"""Real model files of xgboost, LightGBM, ONNX and scikit-learn, snapshot with this interpreter and judged: the
writer each file names is the installed distribution that provides its module (xgboost-cpu for an xgboost
model), and a candidate with an older release than the one that wrote the file is a finding."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import pytest
from packaging.version import Version

from envcheck import capture
from envcheck.compare import compare
from envcheck.findings import Severity
from envcheck.model import Fingerprint
from envcheck.targets.local import LocalTarget


@pytest.fixture(scope="module")
def snapshot(model_dir: Path) -> Fingerprint:
    names = ["xgb.json", "xgb.ubj", "lgbm.txt", "model.onnx", "logreg.z3.joblib"]
    models = [str(model_dir / n) for n in names]
    return capture.take(LocalTarget(), models=models, hardware=lambda: (), models_base=str(model_dir))


def _older(fp: Fingerprint, name: str, major: bool) -> Fingerprint:
    pkg = fp.package(name)
    assert pkg is not None
    v = Version(pkg.version)
    to = f"{v.major - 1}.0.0" if major else f"{v.major}.{v.minor - 1}.0" if v.minor else f"{v.major - 1}.9.0"
    return dataclasses.replace(
        fp, packages=tuple(dataclasses.replace(p, version=to) if p.name == name else p for p in fp.packages)
    )


def _writer(fp: Fingerprint, path: str) -> Optional[str]:
    (model,) = [m for m in fp.models if m.path == path]
    return None if model.written_by is None else f"{model.written_by.package}=={model.written_by.version}"


def test_each_writer_is_the_distribution_installed(snapshot: Fingerprint) -> None:
    import lightgbm
    import sklearn
    import xgboost

    assert _writer(snapshot, "xgb.json") == f"xgboost-cpu=={xgboost.__version__}"
    assert _writer(snapshot, "xgb.ubj") == f"xgboost-cpu=={xgboost.__version__}"
    assert _writer(snapshot, "lgbm.txt") == f"lightgbm=={Version(lightgbm.__version__).major}"
    assert _writer(snapshot, "logreg.z3.joblib") == f"scikit-learn=={sklearn.__version__}"
    assert _writer(snapshot, "model.onnx") is None  # a converter wrote it, not the library that loads it
    (onnx,) = [m for m in snapshot.models if m.path == "model.onnx"]
    assert onnx.format == "onnx" and "producer" in onnx.format_versions
    assert compare(snapshot, snapshot, self_checks=True).findings == ()


@pytest.mark.parametrize(
    ("package", "major", "rule"),
    [("xgboost-cpu", False, "model.writer.newer"), ("lightgbm", True, "model.writer.newer")],
)
def test_an_older_reader_than_the_writer_is_a_finding(
    snapshot: Fingerprint, package: str, major: bool, rule: str
) -> None:
    found = [f for f in compare(snapshot, _older(snapshot, package, major)).findings if f.subject == package]
    assert {f.id for f in found} == {rule}
    assert all(f.severity == Severity.HIGH for f in found)


def test_a_newer_lightgbm_minor_reads_its_format(snapshot: Fingerprint) -> None:
    pkg = snapshot.package("lightgbm")
    assert pkg is not None
    v = Version(pkg.version)
    newer = dataclasses.replace(
        snapshot,
        packages=tuple(
            dataclasses.replace(p, version=f"{v.major}.{v.minor + 1}.0") if p.name == "lightgbm" else p
            for p in snapshot.packages
        ),
    )
    assert not [f for f in compare(snapshot, newer).findings if f.id.startswith("model.")]
