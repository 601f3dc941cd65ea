"""What the load check's results say in the judgement, on real scikit-learn pickles: a version-mismatch warning
raised while loading is a finding quoting it (or folded into the writer-version finding about the same file), the
report line names it; a truncated file's failure says the file is damaged, not the environment."""

from __future__ import annotations

import dataclasses
import pickle
import sys
from typing import Dict, Optional, Tuple

import numpy as np
import pytest
import sklearn
from sklearn.linear_model import LogisticRegression

from envcheck import lockfile
from envcheck.compare import compare
from envcheck.evidence import LocalRunner
from envcheck.evidence.request import EvidenceRequest, describe, gather
from envcheck.findings import PREDICTION, Finding, Report, Severity
from envcheck.model import Fingerprint, ModelFile, ModelWriter, Package, Source
from envcheck.observed import Observed
from envcheck.policy import Policy
from tests.conftest import H200

pytestmark = pytest.mark.slow

#: The version planted in the pickle: one the installed scikit-learn is not.
PLANTED = "1.0.2"
H200_LOCK = lockfile.read(H200 / "envcheck.lock")


def _planted_pickle() -> bytes:
    """A real estimator pickled as scikit-learn ``PLANTED`` would have stamped it: scikit-learn reads the
    version from the state ``__getstate__`` returns, and warns when it is not its own."""
    assert sklearn.__version__ != PLANTED, "the planted version must differ from the installed scikit-learn"
    x = np.arange(40, dtype=float).reshape(20, 2)
    model = LogisticRegression().fit(x, (x[:, 0] > 20).astype(int))
    state = model.__getstate__()
    state["_sklearn_version"] = PLANTED
    model.__dict__["__getstate__"] = lambda: state  # looked up on the instance by pickle
    data = pickle.dumps(model)
    assert PLANTED.encode() in data and b"__getstate__" not in data
    return data


def _model(path: str, writer: Optional[str]) -> ModelFile:
    return ModelFile(
        path,
        1,
        "ab" * 32,
        format="pickle",
        references=("sklearn.linear_model._logistic:LogisticRegression",),
        modules=("sklearn",),
        written_by=ModelWriter("scikit-learn", writer) if writer else None,
    )


def _lock(sklearn_version: str, writer: Optional[str]) -> Fingerprint:
    # scikit-learn alone: the import check that runs beside the load check then imports only sklearn
    return dataclasses.replace(
        H200_LOCK,
        packages=(Package("scikit-learn", sklearn_version),),
        models=tuple(_model(name, writer) for name in ("warned.pkl", "clean.pkl", "truncated.pkl")),
        sources={**H200_LOCK.sources, "models": Source("ok", "")},
    )


#: What one run of the checks saw, and the report lines it gives.
Checked = Tuple[Observed, Tuple[str, ...]]
#: The candidate is the lockfile, which did not read who wrote the model: only loading can tell.
SAME = _lock(sklearn.__version__, None)


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> Checked:
    """One run of the checks (a child that imports scikit-learn takes seconds) over three real pickles."""
    folder = tmp_path_factory.mktemp("loads")
    planted = _planted_pickle()
    x = np.arange(40, dtype=float).reshape(20, 2)
    files = {
        "warned.pkl": planted,
        "clean.pkl": pickle.dumps(LogisticRegression().fit(x, (x[:, 0] > 20).astype(int))),
        "truncated.pkl": planted[: len(planted) // 2],
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    request = EvidenceRequest(LocalRunner(sys.executable), load_models=True)
    pairs = [(name, str(folder / name)) for name in files]
    observed = gather(request, SAME, SAME, Policy(), Report(findings=()), pairs)
    return observed, describe(observed, request)


def _by_id(report: Report) -> Dict[str, Finding]:
    return {f.id: f for f in report.findings}


def test_a_version_warning_while_loading_is_a_finding_and_in_the_report_line(
    seen: Checked,
) -> None:
    observed, lines = seen
    report = compare(SAME, SAME, observed=observed)
    warned = [f for f in report.findings if f.id == "evidence.load.warned"]
    assert [f.subject for f in warned] == ["warned.pkl"]  # the clean pickle warns nothing
    assert warned[0].risks == (PREDICTION,) and warned[0].severity >= Severity.HIGH
    assert "InconsistentVersionWarning" in warned[0].message
    assert f"from version {PLANTED}" in warned[0].message and "may predict differently" in warned[0].message
    (line,) = [x for x in lines if x.startswith("load check")]
    assert line.startswith("load check: 2 of 3 model files loaded, with warnings: warned.pkl (sklearn.exceptions.")
    assert "InconsistentVersionWarning" in line


def test_the_warning_is_quoted_in_the_writer_finding_about_the_same_file(
    seen: Checked,
) -> None:
    # the lockfile recorded that scikit-learn PLANTED wrote the model, and had it installed; the candidate moved
    report = compare(_lock(PLANTED, PLANTED), _lock(sklearn.__version__, PLANTED), observed=seen[0])
    found = [f for f in report.findings if f.id == "model.writer.version"]
    assert len(found) == 3, [f.message for f in found]  # one per recorded file
    assert not [f for f in report.findings if f.id == "evidence.load.warned"]  # one finding for one problem
    said = "the load check saw it: sklearn.exceptions.InconsistentVersionWarning"
    quoted = [f for f in found if said in f.message]
    assert len(quoted) == 1 and "warned.pkl" in quoted[0].message


def test_a_truncated_model_is_said_to_be_damaged_not_the_environment(seen: Checked) -> None:
    (failed,) = [f for f in compare(SAME, SAME, observed=seen[0]).findings if f.id == "evidence.load.failed"]
    assert failed.subject == "truncated.pkl"
    assert "UnpicklingError" in failed.message or "EOFError" in failed.message
    assert "the file is damaged, not the environment" in failed.message
    assert failed.remedy.startswith("the file is truncated or corrupt: compare its digest with the lockfile's")
    assert "pip install" not in failed.remedy and "versions" not in failed.remedy


def test_a_warning_the_model_was_verified_with_is_no_finding(seen: Checked) -> None:
    """The lockfile says scikit-learn PLANTED wrote the model and the verified environment had this scikit-learn,
    as the candidate has: the warning was there when the model was verified, and stays in the report line."""
    verified = _lock(sklearn.__version__, PLANTED)
    report = compare(verified, verified, observed=seen[0])
    assert [f.id for f in report.findings if f.id.startswith("evidence.load.")] == ["evidence.load.failed"]
