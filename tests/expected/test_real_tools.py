"""``envcheck check`` and ``diff`` of the locks uv writes (requirements.txt, pylock.toml, uv.lock, uv export's
pylock.toml) and of a scikit-learn model MLflow saved, against this interpreter."""

from __future__ import annotations

import json
import shutil
from importlib.metadata import version
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

import envcheck
from envcheck.expected import read_expected
from tests.canary.servers import envcheck as run_envcheck
from tests.canary.servers import train
from tests.expected.conftest import KINDS, OTHER_MACHINE

pytestmark = pytest.mark.slow

NOT_STATED = {"os", "native", "cpu", "memory", "gpu", "env"}


def check(path: Path, *args: str) -> Dict[str, Any]:
    done = run_envcheck("check", str(path), "--format", "json", *args)
    assert done.returncode in (0, 1), done.stderr
    report: Dict[str, Any] = json.loads(done.stdout)
    report["rc"] = done.returncode
    return report


@pytest.mark.parametrize("kind", KINDS)
def test_the_files_are_what_uv_writes(kind: str, written: Dict[str, Dict[str, Path]]) -> None:
    text = written["same"][kind].read_text()
    assert "windows-only" in text and "sys_platform == 'win32'" in text
    assert "other-machine-only" in text and OTHER_MACHINE in text
    if kind == "requirements.txt":
        assert "--hash=sha256:" in text
    side = read_expected(written["same"][kind])
    assert side.spec is not None
    pins = {p.name: p for p in side.spec.packages}
    assert set(pins) >= {"click", "packaging", "windows-only", "other-machine-only"}
    assert pins["click"].version == version("click")
    if kind != "uv.lock":  # uv.lock names local wheels by path, without a hash
        assert all(h.startswith("sha256:") and len(h) == 71 for p in pins.values() for h in p.hashes)
        assert all(p.hashes for p in pins.values())


@pytest.mark.parametrize("kind", KINDS)
def test_matching_pins_are_quiet_and_unstated_sections_skipped(
    kind: str, written: Dict[str, Dict[str, Path]]
) -> None:
    path = written["same"][kind]
    report = check(path)
    assert report["rc"] == 0, report["findings"]
    assert report["findings"] == []  # windows-only, other-machine-only: do not apply here, not missing
    assert set(report["skipped"]) >= NOT_STATED
    fmt = "uv.lock" if kind == "uv.lock" else path.name
    assert all(f"not inspected (not stated in {fmt}" in report["skipped"][c] for c in NOT_STATED)
    assert "requires-python" in report["skipped"]["python"] or kind == "requirements.txt"
    (line,) = report["evidence"]
    assert "2 pins compared" in line and "not applying here" in line and "skipped, not missing" in line
    assert report["expected"] == f"{path} ({fmt})"


@pytest.mark.parametrize("kind", KINDS)
def test_a_changed_pin_is_reported(kind: str, written: Dict[str, Dict[str, Path]]) -> None:
    report = check(written["changed"][kind])
    assert report["rc"] == 1
    (finding,) = report["findings"]
    assert (finding["id"], finding["subject"]) == ("package.version.major", "click")
    assert (finding["expected"], finding["actual"]) == ("99.0", version("click"))


def test_the_format_can_be_forced(written: Dict[str, Dict[str, Path]]) -> None:
    same = written["same"]
    assert check(same["pylock.toml"], "--expected-format", "pylock")["findings"] == []
    done = run_envcheck("check", str(same["uv.lock"]), "--expected-format", "pylock")
    assert done.returncode == 2 and "lock-version" in done.stderr and done.stderr.count("\n") == 1
    done = run_envcheck("check", str(same["requirements.txt"]), "--expected-format", "uv")
    assert done.returncode == 2 and "not valid TOML" in done.stderr
    done = run_envcheck("check", str(same["requirements.txt"]), "--expected-format", "envcheck")
    assert done.returncode == 2 and "not valid TOML" in done.stderr


def test_diff_of_a_lock_against_a_snapshot(written: Dict[str, Dict[str, Path]], tmp_path: Path) -> None:
    lock = tmp_path / "envcheck.lock"
    assert run_envcheck("snapshot", "-o", str(lock)).returncode == 0
    for state, rc in (("same", 0), ("changed", 1)):
        done = run_envcheck("diff", str(written[state]["uv.lock"]), str(lock), "--format", "json")
        assert done.returncode == rc, done.stderr
        ids = [(f["id"], f["subject"]) for f in json.loads(done.stdout)["findings"]]
        assert ids == ([] if state == "same" else [("package.version.major", "click")])


def test_the_python_api_reads_them_too(written: Dict[str, Dict[str, Path]]) -> None:
    report = envcheck.check(written["changed"]["pylock.toml"])
    assert [(f.id, f.subject) for f in report.findings] == [("package.version.major", "click")]
    assert "not stated in pylock.toml" in report.skipped["cpu"]
    report = envcheck.check(str(written["same"]["requirements.txt"]), expected_format="requirements")
    assert report.findings == ()


TRAIN = """
import sys, warnings
warnings.simplefilter("ignore")
import mlflow.sklearn
from sklearn.linear_model import LogisticRegression
model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
mlflow.sklearn.save_model(model, sys.argv[1])
"""


@pytest.fixture(scope="module")
def mlflow_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    try:
        import mlflow  # noqa: F401
    except ImportError:
        pytest.fail("mlflow is not installed: pip install 'mlflow-skinny' (the test extra)", pytrace=False)
    yield train(TRAIN, tmp_path_factory.mktemp("mlflow") / "model", 0)


def test_an_mlflow_model_folder(mlflow_model: Path, tmp_path: Path) -> None:
    pins = (mlflow_model / "requirements.txt").read_text()
    assert f"scikit-learn=={version('scikit-learn')}" in pins and "mlflow==" in pins  # as MLflow inferred them
    for given in (mlflow_model, mlflow_model / "MLmodel"):
        report = check(given)
        assert report["rc"] == 0 and report["findings"] == []  # mlflow==V holds for mlflow-skinny V
        assert "python" not in report["skipped"]  # MLmodel states the version: compared, equal
        assert all("not stated in MLflow model's requirements.txt" in report["skipped"][c] for c in NOT_STATED)

    # another scikit-learn pinned, and the model saved under another Python
    copy = tmp_path / "model"
    shutil.copytree(mlflow_model, copy)
    (copy / "requirements.txt").write_text(
        pins.replace(f"scikit-learn=={version('scikit-learn')}", "scikit-learn==0.24.2")
    )
    mlmodel = (copy / "MLmodel").read_text()
    (copy / "MLmodel").write_text(mlmodel.replace("python_version: 3.", "python_version: 2."))
    ids = {(f["id"], f["subject"]) for f in check(copy)["findings"]}
    assert ("package.version.major", "scikit-learn") in ids
    assert ("python.version.minor", "python") in ids


def test_an_envcheck_lock_in_the_model_folder_is_preferred(mlflow_model: Path, tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(mlflow_model, copy)
    (copy / "requirements.txt").write_text("scikit-learn==0.24.2\n")  # ignored: the lockfile states more
    assert run_envcheck("snapshot", "-o", str(copy / "envcheck.lock")).returncode == 0
    report = check(copy)
    assert report["expected"] == f"{copy / 'envcheck.lock'} (the envcheck lockfile in the MLflow model {copy})"
    assert report["rc"] == 0 and report["findings"] == []
    assert "cpu" not in report["skipped"]  # a snapshot states the hardware
