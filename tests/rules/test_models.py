"""What a model file says it needs, judged against the candidate: the library that wrote it by its own
compatibility story, and module paths that only some releases have. Built on the real H200 lockfile with one
model file whose needs are those a real scikit-learn pickle carries (tests/collect/test_models.py reads one)."""

from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import pytest
from packaging.specifiers import SpecifierSet

from envcheck import lockfile
from envcheck.compare import compare
from envcheck.findings import AVAILABILITY, PREDICTION, Severity
from envcheck.model import Fingerprint, ModelFile, ModelWriter, Package, Source
from envcheck.rules.tables import MODULE_PATHS, WRITER_STORIES
from tests.conftest import H200

H200_LOCK = lockfile.read(H200 / "envcheck.lock")


def with_model(fp: Fingerprint, writer: Optional[Tuple[str, str]], *references: str) -> Fingerprint:
    model = ModelFile(
        "model.pkl",
        728,
        "ab" * 32,
        format="pickle",
        references=tuple(sorted(references)),
        modules=tuple(sorted({r.split(":")[0].split(".")[0] for r in references})),
        written_by=ModelWriter(*writer) if writer else None,
    )
    return dataclasses.replace(fp, models=(model,), sources={**fp.sources, "models": Source("ok", "1 file")})


def version(fp: Fingerprint, name: str, to: str) -> Fingerprint:
    pkgs = tuple(dataclasses.replace(p, version=to) if p.name == name else p for p in fp.packages)
    if fp.package(name) is None:
        pkgs = (*pkgs, Package(name, to))
    return dataclasses.replace(fp, packages=pkgs)


SKLEARN = ("sklearn.linear_model._logistic:LogisticRegression", "numpy._core.multiarray:_reconstruct")


def lock(writer: str, wrote: str, installed: str, *refs: str) -> Fingerprint:
    base = version(H200_LOCK, writer, installed)
    return with_model(base, (writer, wrote), *(refs or SKLEARN))


# (id, lockfile, candidate's version of the writer, expected rule or None)
WRITER_CASES = [
    ("sklearn-minor-up", lock("scikit-learn", "1.5.2", "1.5.2"), "1.6.0", "model.writer.version"),
    ("sklearn-minor-down", lock("scikit-learn", "1.5.2", "1.5.2"), "1.4.2", "model.writer.version"),
    ("sklearn-patch", lock("scikit-learn", "1.5.2", "1.5.2"), "1.5.1", None),
    ("sklearn-back-to-writer", lock("scikit-learn", "1.5.2", "1.6.0"), "1.5.2", None),
    ("xgboost-older", lock("xgboost", "3.0.2", "3.0.2", "xgboost:Booster"), "2.1.4", "model.writer.newer"),
    ("xgboost-newer", lock("xgboost", "2.1.4", "2.1.4", "xgboost:Booster"), "3.0.2", None),
    ("lightgbm-older-major", lock("lightgbm", "4", "4.6.0", "lightgbm:Booster"), "3.3.5", "model.writer.newer"),
    ("lightgbm-older-minor", lock("lightgbm", "4", "4.6.0", "lightgbm:Booster"), "4.1.0", None),
    ("keras-3-file-in-keras-2", lock("keras", "3.6.0", "3.6.0", "keras:Model"), "2.15.0", "model.writer.newer"),
]


@pytest.mark.parametrize(("fp", "now", "rule"), [c[1:] for c in WRITER_CASES], ids=[c[0] for c in WRITER_CASES])
def test_the_writer_is_judged_by_its_own_story(fp: Fingerprint, now: str, rule: Optional[str]) -> None:
    writer = fp.models[0].written_by
    assert writer is not None
    report = compare(fp, version(fp, writer.package, now), fail_on=None)
    found = [f for f in report.findings if f.id.startswith("model.writer.")]
    if rule is None:
        assert found == []
        return
    (finding,) = found
    assert finding.id == rule and finding.subject == writer.package
    assert finding.severity == Severity.HIGH
    assert f"written by {writer.package} {writer.version}" in finding.message or writer.version in finding.message
    assert writer.version in finding.remedy
    # the version rules do not repeat what the writer's story says about the same package
    assert not [f for f in report.findings if f.id.startswith("package.version.") and f.subject == writer.package]


def test_scikit_learn_moving_is_availability_and_prediction_either_way() -> None:
    fp = lock("scikit-learn", "1.5.2", "1.5.2")
    for now in ("1.6.0", "1.4.2"):
        (finding,) = [
            f for f in compare(fp, version(fp, "scikit-learn", now)).findings if f.id.startswith("model.")
        ]
        assert finding.risks == (AVAILABILITY, PREDICTION)
        assert "scikit-learn.org/stable/model_persistence" in finding.remedy


def test_an_identical_environment_is_quiet_whatever_the_file_says() -> None:
    fp = lock("scikit-learn", "1.0.0", "1.5.2")  # written by another release than the lockfile's: not drift
    assert compare(fp, fp, self_checks=True).findings == ()


MODULE_CASES = [
    ("numpy-core-under-numpy-1", "numpy", "2.1.0", "1.26.4", "numpy._core.multiarray:_reconstruct", True),
    ("numpy-core-numpy-2-minor", "numpy", "2.1.0", "2.0.2", "numpy._core.multiarray:_reconstruct", False),
    ("old-numpy-core-under-numpy-2", "numpy", "1.26.4", "2.1.0", "numpy.core.multiarray:_reconstruct", False),
    ("int64index-under-pandas-2", "pandas", "1.5.3", "2.2.0", "pandas.core.indexes.numeric:Int64Index", True),
    ("int64index-pandas-1-minor", "pandas", "1.4.0", "1.5.3", "pandas.core.indexes.numeric:Int64Index", False),
    ("externals-joblib-in-0.23", "scikit-learn", "0.22.2", "0.23.0", "sklearn.externals.joblib:load", True),
    ("private-forest-module", "scikit-learn", "0.23.2", "0.24.0", "sklearn.ensemble.forest:RandomForest", True),
]


@pytest.mark.parametrize(
    ("package", "then", "now", "reference", "fires"),
    [c[1:] for c in MODULE_CASES],
    ids=[c[0] for c in MODULE_CASES],
)
def test_a_module_path_the_candidate_lacks_fails_the_load(
    package: str, then: str, now: str, reference: str, fires: bool
) -> None:
    fp = with_model(version(H200_LOCK, package, then), None, reference)
    found = [f for f in compare(fp, version(fp, package, now)).findings if f.id == "model.reference.unavailable"]
    if not fires:
        assert found == []
        return
    (finding,) = found
    assert finding.subject == package and finding.severity == Severity.CRITICAL
    assert reference.split(":")[0] in finding.message and "ModuleNotFoundError" in finding.message
    assert finding.remedy.startswith(f"pip install '{package}=={then}'")


def test_the_tables_are_well_formed() -> None:
    for module, package, spec, source in MODULE_PATHS:
        assert module.split(".")[0] and package and source.startswith("https://")
        SpecifierSet(spec)  # raises when malformed
    for _package, level, direction, risks, why, source in WRITER_STORIES:
        assert level in ("minor", "major") and direction in ("both", "older") and risks in ("A", "AP")
        assert why and source.startswith("https://")
