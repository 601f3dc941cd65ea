"""Evidence in the judgement: a module seen to fail is a critical finding quoting the error; a package seen to
import loses the availability part of the guesses about it; the modules asked for are the model's."""

from __future__ import annotations

import dataclasses
import sys
from typing import Dict, Optional

import pytest

from envcheck import lockfile
from envcheck.compare import compare
from envcheck.evidence.request import suspects
from envcheck.findings import AVAILABILITY, PREDICTION, Finding, Severity
from envcheck.model import Fingerprint, ModelFile, Source
from envcheck.observed import Observed, Seen, damaged, imported, load_warnings, modules_to_import, version_warnings
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


# What a load failure says depends on what failed: the errors below are what pickle, joblib, the decompressors,
# torch and onnxruntime really raise (tests/evidence/test_load_findings.py makes the first ones).
DAMAGE_CASES = [
    ("_pickle.UnpicklingError: pickle data was truncated", True),
    ("_pickle.UnpicklingError: pickle exhausted before end of frame", True),
    ("_pickle.UnpicklingError: invalid load key, 'x'.", True),
    ("EOFError: Ran out of input", True),
    ("EOFError", True),
    ("zlib.error: Error -3 while decompressing data: incorrect header check", True),
    ("_lzma.LZMAError: Input format not supported by decoder", True),
    ("zipfile.BadZipFile: File is not a zip file", True),
    ("RuntimeError: PytorchStreamReader failed reading zip archive: failed finding central directory", True),
    (
        "onnxruntime.capi.onnxruntime_pybind11_state.InvalidProtobuf: [ONNXRuntimeError] : 7 : INVALID_PROTOBUF "
        ": Load model from m.onnx failed:Protobuf parsing failed.",
        True,
    ),
    ("ModuleNotFoundError: No module named 'numpy._core'", False),
    ("AttributeError: Can't get attribute 'Scaler' on <module 'mytrainer.features'>", False),
    ("ImportError: cannot import name 'truncated' from 'x'", False),  # an import error is never damage
    ("_pickle.UnpicklingError: Weights only load failed. Re-running `torch.load` with `weights_only`", False),
    ("ValueError: " + DTYPE.split(": ", 1)[1], False),
    ("TypeError: __init__() got an unexpected keyword argument 'monotonic_cst'", False),
]


@pytest.mark.parametrize(("error", "is_damage"), DAMAGE_CASES, ids=[c[0][:40] for c in DAMAGE_CASES])
def test_a_load_failure_says_damage_or_environment_by_its_error(error: str, is_damage: bool) -> None:
    (finding,) = compare(LOCK, LOCK, observed=Observed(loads={"model.pkl": Seen(False, error)})).findings
    assert finding.id == "evidence.load.failed" and error in finding.message
    assert damaged(error) is is_damage
    if is_damage:
        assert "the file is damaged, not the environment" in finding.message
        assert finding.remedy.startswith("the file is truncated or corrupt: compare its digest")
    else:
        assert "damaged" not in finding.message
        assert finding.remedy.startswith("serve with the lockfile's versions of the libraries")


def test_a_load_failure_of_a_file_whose_digest_changed_is_filed_under_the_digest() -> None:
    other = dataclasses.replace(MODEL, sha256="cd" * 32)
    second = dataclasses.replace(MODEL, path="other.pkl")
    lock = dataclasses.replace(LOCK, models=(MODEL, second))
    candidate = dataclasses.replace(LOCK, models=(other, second))
    truncated = Seen(False, "_pickle.UnpicklingError: pickle data was truncated")
    seen = Observed(loads={"model.pkl": truncated, "other.pkl": truncated})
    by_subject = {(f.id, f.subject): f for f in compare(lock, candidate, observed=seen).findings}
    assert by_subject[("model.digest", "model.pkl")].cause == ""
    assert by_subject[("evidence.load.failed", "model.pkl")].cause == "model.digest"
    # the digest of other.pkl did not change: its failure stands on its own
    assert by_subject[("evidence.load.failed", "other.pkl")].cause == ""


VERSION_WARNINGS = [
    (
        "sklearn.exceptions.InconsistentVersionWarning: Trying to unpickle estimator LogisticRegression from "
        "version 1.9.1 when using version 1.5.2. This might lead to breaking code or invalid results.",
        True,
    ),
    (
        "UserWarning: If you are loading a serialized model (like pickle in Python, RDS in R) or configuration "
        "generated by an older version of XGBoost, please export the model by calling `Booster.save_model`",
        True,
    ),
    ("UserWarning: this build is old", False),
    ("FutureWarning: The default value of `n_init` will change from 10 to 'auto' in version 1.4", False),
    ("DeprecationWarning: np.find_common_type is deprecated since version 1.25", False),
]


@pytest.mark.parametrize(("warning", "is_version"), VERSION_WARNINGS, ids=[w[0][:40] for w in VERSION_WARNINGS])
def test_only_a_version_mismatch_warning_is_a_finding(warning: str, is_version: bool) -> None:
    seen = Observed(loads={"model.pkl": Seen(True, "", "x.Model", (warning,))}, how="python3.12")
    findings = compare(LOCK, LOCK, observed=seen).findings
    assert version_warnings([warning]) == ([warning] if is_version else [])
    if is_version:
        (finding,) = findings
        assert finding.id == "evidence.load.warned" and warning in finding.message
        assert finding.risks == (PREDICTION,) and finding.severity == Severity.HIGH
    else:
        assert findings == ()
    # the report line names every warning, a finding or not, cut to 200 characters
    quoted = warning if len(warning) <= 200 else warning[:197] + "..."
    assert load_warnings(seen) == f", with warnings: model.pkl ({quoted})"


def test_the_report_line_counts_in_the_singular_and_names_the_first_file_that_warned() -> None:
    from envcheck.evidence import LocalRunner
    from envcheck.evidence.request import EvidenceRequest, describe

    request = EvidenceRequest(LocalRunner(sys.executable), load_models=True)
    one = Observed(imports={"numpy": Seen(True)}, loads={"a.pkl": Seen(True)}, how="here")
    assert describe(one, request) == (
        "import check: 1 of 1 module imported (here)",
        "load check: 1 of 1 model file loaded (here)",
    )
    warned = Observed(
        loads={
            "a.pkl": Seen(True, "", "", ("UserWarning: w1", "x.InconsistentVersionWarning: from version 1")),
            "b.pkl": Seen(True, "", "", ("W",)),
        }
    )
    # the version warning is the one quoted; a file that failed is not counted as warned
    assert (
        load_warnings(warned) == ", with warnings: a.pkl and 1 more (x.InconsistentVersionWarning: from version 1)"
    )
