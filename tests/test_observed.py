"""Evidence in the judgement: a module seen to fail is a critical finding quoting the error; a package seen to
import loses the availability part of the guesses about it; the modules asked for are the model's."""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional

from envcheck import lockfile
from envcheck.compare import compare
from envcheck.evidence.request import suspects
from envcheck.findings import AVAILABILITY, PREDICTION, Finding, Severity
from envcheck.model import Fingerprint, ModelFile, Source
from envcheck.observed import Observed, Seen, imported, modules_to_import
from tests.conftest import H200

H200_LOCK = lockfile.read(H200 / "envcheck.lock")
MODEL = ModelFile(
    "model.pkl",
    1,
    "ab" * 32,
    references=("numpy:ndarray", "os:system", "sklearn.svm._classes:SVC", "mytrainer.features:Scaler"),
    modules=("mytrainer", "numpy", "os", "sklearn"),
)
LOCK = dataclasses.replace(H200_LOCK, models=(MODEL,), sources={**H200_LOCK.sources, "models": Source("ok", "")})
DTYPE = "ValueError: numpy.dtype size changed, may indicate binary incompatibility. Expected 96 from C header"


def moved(fp: Fingerprint, name: str, to: str) -> Fingerprint:
    pkgs = tuple(dataclasses.replace(p, version=to) if p.name == name else p for p in fp.packages)
    return dataclasses.replace(fp, packages=pkgs)


def test_the_modules_imported_are_the_model_s_then_the_critical_and_suspected_packages() -> None:
    wanted = modules_to_import(LOCK, LOCK, critical=["torch"], suspects=["pandas"])
    assert wanted[:3] == ["mytrainer", "numpy", "sklearn"]  # the standard library is left out
    assert "torch" in wanted and "pandas" in wanted
    assert "os" not in wanted


def test_a_module_that_fails_to_import_is_critical_and_quotes_the_error() -> None:
    seen = Observed(imports={"sklearn": Seen(False, DTYPE), "numpy": Seen(True)}, how="python3.12, no network")
    report = compare(LOCK, LOCK, observed=seen)
    (finding,) = report.findings
    assert finding.id == "evidence.import.failed" and finding.subject == "sklearn"
    assert finding.severity == Severity.CRITICAL and finding.risks == (AVAILABILITY,)
    assert DTYPE in finding.message and "no network" in finding.message
    assert report.return_code == 1


def test_a_model_file_that_fails_to_load_is_critical() -> None:
    seen = Observed(loads={"model.pkl": Seen(False, "ModuleNotFoundError: No module named 'numpy._core'")})
    (finding,) = compare(LOCK, LOCK, observed=seen).findings
    assert finding.id == "evidence.load.failed" and "numpy._core" in finding.message


def test_a_package_seen_to_import_loses_the_import_guess() -> None:
    candidate = moved(LOCK, "scipy", "1.17.0")  # a minor move of a numeric library: a prediction guess
    candidate = dataclasses.replace(
        candidate,
        packages=tuple(
            dataclasses.replace(p, requires=(*p.requires, "absent-lib>=1")) if p.name == "pandas" else p
            for p in candidate.packages
        ),
    )

    def by_rule(observed: Optional[Observed]) -> Dict[str, Finding]:
        report = compare(LOCK, candidate, self_checks=True, observed=observed)
        return {f.id: f for f in report.findings}

    guessed = by_rule(None)
    unmet = guessed["package.requirement.missing"]
    assert unmet.subject == "pandas" and unmet.risks == (AVAILABILITY,)  # "importing pandas may fail"
    assert "pandas" in suspects(compare(LOCK, candidate, self_checks=True))
    seen = Observed(imports={"pandas": Seen(True, "", "3.0.6"), "scipy": Seen(True)})
    weighed = by_rule(seen)
    after = weighed["package.requirement.missing"]
    assert after.severity == Severity.LOW and "observed: it imports" in after.message
    scipy_before, scipy_after = guessed["package.version.minor.numeric"], weighed["package.version.minor.numeric"]
    assert scipy_after.risks == scipy_before.risks == (PREDICTION,)


def test_a_guess_of_both_risks_keeps_the_prediction_risk_once_it_imports() -> None:
    candidate = moved(LOCK, "filelock", "4.0.0")  # a major move: availability and prediction
    (guess,) = compare(LOCK, candidate).findings
    assert guess.risks == (AVAILABILITY, PREDICTION)
    (seen,) = compare(LOCK, candidate, observed=Observed(imports={"filelock": Seen(True)})).findings
    assert seen.risks == (PREDICTION,) and "prediction risk remains" in seen.message


def test_a_package_with_one_failing_module_is_not_cleared() -> None:
    seen = Observed(imports={"yaml": Seen(True), "_yaml": Seen(False, "ImportError: x")})
    assert "pyyaml" not in imported(seen, LOCK)
    assert "numpy" in imported(Observed(imports={"numpy": Seen(True)}), LOCK)


def test_an_import_seen_to_work_does_not_answer_the_writer_s_story() -> None:
    """scikit-learn 1.5 imports and even unpickles a 1.9 model, then fails at predict: the writer rule keeps its
    availability risk whatever the import check saw."""
    from envcheck.model import ModelWriter

    writer = dataclasses.replace(MODEL, written_by=ModelWriter("scikit-learn", "1.7.2"))
    lock = moved(dataclasses.replace(LOCK, models=(writer,)), "scikit-learn", "1.7.2")
    candidate = moved(lock, "scikit-learn", "1.5.2")
    seen = Observed(imports={"sklearn": Seen(True)}, loads={"model.pkl": Seen(True)})
    (finding,) = [f for f in compare(lock, candidate, observed=seen).findings if f.id == "model.writer.version"]
    assert finding.risks == (AVAILABILITY, PREDICTION) and finding.severity == Severity.HIGH
    assert "observed" not in finding.message
