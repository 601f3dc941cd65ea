"""Every verdict of the judgement corpus (``corpus.CASES``), on real baselines, and the identity property.

The baselines are real: the H200 reference lockfiles, this interpreter read in-process with the real collectors,
and a real scikit-learn model trained in a child process, pickled and joblib-dumped beside its lockfile. Real
candidates (``REAL``) are read the way a user reads them: ``PythonTarget`` with a PYTHONPATH holding real
dist-info folders, ``envcheck.api.check`` from another working directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Tuple, Union

import pytest

from envcheck import api, capture, lockfile
from envcheck.compare import compare
from envcheck.findings import INFERRED, Finding, Report, Severity
from envcheck.model import Fingerprint
from envcheck.targets.local import LocalTarget
from envcheck.targets.python import PythonTarget
from tests.conftest import H200, make_dist_info
from tests.judgement.corpus import (
    BASELINES,
    CASES,
    CLASSES,
    CU130_ARCHS,
    Case,
    Real,
    model_stack_untooled,
)

MODELS = ("model.pkl", "model.joblib")

#: Trains a LogisticRegression on 20 rows in a child process and writes it with pickle and joblib: argv = folder,
#: C, and which files to write.
TRAIN = """\
import pickle, sys
import joblib
from sklearn.linear_model import LogisticRegression
folder, c, names = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
X = [[i, (i * 7) % 5, (i * 3) % 4] for i in range(20)]
y = [int(i % 3 == 0) for i in range(20)]
model = LogisticRegression(C=c).fit(X, y)
if "model.pkl" in names:
    with open(folder + "/model.pkl", "wb") as f:
        pickle.dump(model, f)
if "model.joblib" in names:
    joblib.dump(model, folder + "/model.joblib")
"""

Pair = Tuple[Fingerprint, Fingerprint]


ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def outside_checkout(folder: Path | None = None) -> Iterator[None]:
    """Run in ``folder`` (if given) without this checkout on ``sys.path``: ``python -m pytest`` puts it there (and
    it holds ``envcheck.egg-info``), no training or serving process has it, and from another working directory
    the probe would rightly count it as a folder of the environment."""
    before, path = os.getcwd(), list(sys.path)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or before) != str(ROOT)]
    if folder is not None:
        os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)
        sys.path[:] = path


def train(folder: Path, c: float, *names: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", TRAIN, str(folder), str(c), *(names or MODELS)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def local() -> Fingerprint:
    """This interpreter, read in-process, hardware included; the model's packages never envcheck's footprint."""
    with outside_checkout():
        return model_stack_untooled(capture.take(LocalTarget()))


def by_python(pythonpath: str) -> Fingerprint:
    """This interpreter read through ``--python``, with ``pythonpath`` as the caller's PYTHONPATH."""
    return model_stack_untooled(capture.take(PythonTarget(sys.executable, pythonpath=pythonpath)))


class Corpus:
    """The baselines and real candidates, each built once, on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: Dict[str, object] = {}

    def _once(self, key: str, build: Callable[[], object]) -> object:
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    # --- baselines: (the lockfile side, a second real read of the same environment) ---------------------------

    def baseline(self, name: str) -> Pair:
        builders: Dict[str, Callable[[], Pair]] = {
            "h200": lambda: self._lockfile(H200 / "envcheck.lock"),
            "h200-in-torch": lambda: self._lockfile(H200 / "envcheck-in-torch.lock"),
            "local": lambda: (local(), local()),
            "model": self._model,
        }
        pair = self._once(f"baseline:{name}", builders[name])
        return pair  # type: ignore[return-value]

    def _lockfile(self, path: Path) -> Pair:
        """The lockfile, and the same written and read back."""
        fp = lockfile.read(path)
        again = self.root / f"again-{path.name}"
        lockfile.write(fp, again)
        return fp, lockfile.read(again)

    @property
    def model_dir(self) -> Path:
        return self.root / "training"

    def _model(self) -> Pair:
        folder = self.model_dir
        folder.mkdir()
        train(folder, 1.0)
        lock = folder / "envcheck.lock"
        with outside_checkout(self.root):  # model paths given relative to another folder than the lockfile's
            api.snapshot(lock, models=[Path("training") / m for m in MODELS], loaded=False)
        fp = lockfile.write(model_stack_untooled(lockfile.read(lock)), lock)
        assert fp.meta.model_paths == "lockfile" and [m.path for m in fp.models] == sorted(MODELS)
        return fp, self._model_again()

    def _model_again(self) -> Fingerprint:
        folder = self.model_dir
        with outside_checkout():
            again = capture.take(LocalTarget(), models=[str(folder / m) for m in MODELS], models_base=str(folder))
        return model_stack_untooled(again)

    # --- real candidates ---------------------------------------------------------------------------------------

    def real(self, name: str) -> Union[Pair, Report]:
        return self._once(f"real:{name}", getattr(self, "_" + name.replace("-", "_")))  # type: ignore[return-value]

    def _this_machine(self) -> Pair:
        """The H200 lockfile checked here: another machine, another Python, no GPU."""
        return self.baseline("h200")[0], self.baseline("local")[1]

    def _skimage_metadata_on_path(self) -> Pair:
        """scikit-image's real dist-info from the H200 (a License header with whitespace-only continuation lines
        before its Requires-Dist) on the PYTHONPATH; lazy-loader, its last requirement, is not installed here."""
        site = self.root / "skimage-site"
        with tarfile.open(H200 / "dist-info.tgz") as tar:
            prefix = "scikit_image-0.26.0.dist-info/"
            members = [m for m in tar.getmembers() if m.name.startswith(prefix) and m.isfile()]
            assert members, "the H200 dist-info holds scikit-image 0.26.0"
            for member in members:
                data = tar.extractfile(member)
                assert data is not None
                target = site / member.name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data.read())
        return self.baseline("local")[0], by_python(str(site))

    def _editable_edited(self) -> Pair:
        """An editable install laid out as pip lays it out (dist-info with ``dir_info.editable``, a ``.pth``
        naming the project folder), read before and after one of its files changes."""
        project, site = self.root / "editable-project", self.root / "editable-site"
        (project / "corpus_editable").mkdir(parents=True)
        (project / "corpus_editable" / "__init__.py").write_text("SCALE = 1.0\n")
        folder, _ = make_dist_info(site, "corpus-editable", "0.1")
        (folder / "direct_url.json").write_text(
            json.dumps({"url": project.as_uri(), "dir_info": {"editable": True}})
        )
        (folder / "INSTALLER").write_text("pip\n")
        (folder / "RECORD").write_text(f"{folder.name}/METADATA,,\n__editable__.corpus_editable-0.1.pth,,\n")
        (site / "__editable__.corpus_editable-0.1.pth").write_text(f"{project}\n")
        before = by_python(str(site))
        (project / "corpus_editable" / "__init__.py").write_text("SCALE = 2.0  # changed after verification\n")
        return before, by_python(str(site))

    def _joblib_shadowed(self) -> Pair:
        """A second joblib, of the installed version, in a folder on PYTHONPATH ahead of site-packages."""
        installed = self.baseline("local")[0].package("joblib")
        assert installed is not None
        shadow = self.root / "shadow-folder"
        make_dist_info(shadow, "joblib", installed.version)
        return by_python(""), by_python(str(shadow))

    def _local_by_python_target(self) -> Pair:
        return self.baseline("local")[0], by_python("")

    def _check(self, lock: Path) -> Report:
        """``envcheck check LOCK --fail-on low`` through the Python API, from a working directory that is neither
        the lockfile's nor the snapshot's."""
        elsewhere = self.root / "elsewhere"
        elsewhere.mkdir(exist_ok=True)
        with outside_checkout(elsewhere):
            return api.check(lock, fail_on="low", loaded=False)

    def _copy(self, name: str) -> Path:
        self.baseline("model")
        copy = self.root / name / "training"
        shutil.copytree(self.model_dir, copy)
        return copy

    def _model_from_another_folder(self) -> Report:
        self.baseline("model")
        return self._check(self.model_dir / "envcheck.lock")

    def _model_moved(self) -> Report:
        return self._check(self._copy("moved") / "envcheck.lock")

    def _model_retrained(self) -> Report:
        copy = self._copy("retrained")
        train(copy, 0.05, "model.pkl")
        return self._check(copy / "envcheck.lock")

    def _model_joblib_gone(self) -> Report:
        copy = self._copy("joblib-gone")
        (copy / "model.joblib").unlink()
        return self._check(copy / "envcheck.lock")

    def _model_identical(self) -> Pair:
        return self.baseline("model")[0], self._model_again()


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("corpus"))


def report_for(case: Case, corpus: Corpus) -> Report:
    if isinstance(case.candidate, Real):
        got = corpus.real(case.candidate.name)
        if isinstance(got, Report):
            return got
        lock, candidate = got
    else:
        lock, again = corpus.baseline(case.baseline)
        if case.lock is not None:
            lock = case.lock(lock)
        candidate = case.candidate(again)
    return compare(lock, candidate, self_checks=True, fail_on=Severity.LOW)


def _shown(findings: Tuple[Finding, ...]) -> List[str]:
    return [f"{f.severity.label} {f.id} {f.subject}: {f.message[:100]}" for f in findings[:15]]


def _params() -> List[object]:
    out: List[object] = []
    for case in CASES:
        marks = [pytest.mark.slow] if case.slow else []
        if case.wrong_today:
            marks.append(pytest.mark.xfail(strict=True, reason=case.wrong_today))
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


@pytest.mark.parametrize("case", _params())
def test_verdict(case: Case, corpus: Corpus) -> None:
    report = report_for(case, corpus)
    findings = report.findings
    # no opt-in check runs in the corpus: every verdict is a guess from metadata, and says so
    assert {f.evidence for f in findings} <= {INFERRED}, _shown(findings)
    expect = case.expect
    if expect is None:
        assert findings == (), _shown(findings)
        assert report.return_code == 0
        return
    assert report.return_code == 1
    candidates = [f for f in findings if (f.id, f.subject) == (expect.rule, expect.subject)]
    assert candidates, _shown(findings)
    found = next((f for f in candidates if expect.remedy in f.remedy), None)
    assert found is not None, [f.remedy for f in candidates]
    assert found.risks == expect.risks
    assert expect.at_least <= found.severity <= expect.at_most, (found.severity.label, found.score)
    assert expect.names in found.message, found.message
    assert not (expect.remedy_not and expect.remedy_not in found.remedy), found.remedy
    assert not (expect.message_not and expect.message_not in found.message), found.message
    assert found.cause == expect.cause
    if case.also is not None:
        others = sorted({f.id for f in findings if f is not found} - case.also)
        assert others == [], _shown(findings)
    for f in findings:
        if f.id in case.caused:
            assert f.cause == expect.rule, (f.id, f.subject, f.cause)
    if case.caused:  # a headline: among the first findings that stand on their own
        headlines = [f for f in findings if not f.cause]
        assert found in headlines[:3], _shown(tuple(headlines))


# --- the table itself -------------------------------------------------------------------------------------------


def test_every_class_has_a_row_and_every_row_a_class() -> None:
    assert {c.cls for c in CASES} == set(CLASSES)
    assert {c.baseline for c in CASES} <= set(BASELINES)
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


def test_noise_classes_have_quiet_rows() -> None:
    quiet = {c.cls for c in CASES if c.expect is None}
    assert {"env-values", "extras", "footprint", "same-bytes", "model-paths", "model", "gpu-kernels"} <= quiet


def test_the_cu130_arch_list_is_the_recorded_one() -> None:
    recorded = json.loads((H200 / "torch-process.json").read_text())["torch"]["arch_list"]
    assert tuple(recorded) == CU130_ARCHS


# --- the property: a snapshot compared with itself, however it was read, is quiet -------------------------------


@pytest.mark.parametrize("name", ["h200", "h200-in-torch", "local", "model"])
def test_a_real_baseline_written_and_read_back_is_quiet(name: str, corpus: Corpus, tmp_path: Path) -> None:
    lock, again = corpus.baseline(name)
    lockfile.write(lock, tmp_path / "envcheck.lock")
    back = lockfile.read(tmp_path / "envcheck.lock")
    for candidate in (lock, again, back):
        report = compare(lock, candidate, self_checks=True, fail_on=Severity.LOW)
        assert report.findings == () and report.return_code == 0, _shown(report.findings)
    assert dataclasses.replace(back, meta=lock.meta) == dataclasses.replace(lock, meta=lock.meta)
