"""What a user is told about model files, end to end through the command line: a truncated pickle is recorded
but said out loud at snapshot time; a model file that is not found names where it was looked for; counts of one
read in the singular."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _envcheck(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envcheck", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def test_a_truncated_pickle_is_recorded_and_said_and_a_missing_one_names_where_it_was_looked_for(
    tmp_path: Path,
) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "model").mkdir(parents=True)
    elsewhere.mkdir()
    whole = pickle.dumps({"weights": list(range(200)), "name": "a model"}, protocol=4)
    (project / "model" / "x.pkl").write_bytes(whole[: len(whole) // 2])
    done = _envcheck(project, "snapshot", "-o", "envcheck.lock", "--model", "model/x.pkl")
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: model/x.pkl: pickle data ends early (truncated?): recorded as is"]
    assert "  models   1 file\n" in done.stdout  # not "1 files"
    assert (project / "envcheck.lock").is_file()

    (project / "model" / "x.pkl").unlink()
    checked = _envcheck(elsewhere, "check", str(project / "envcheck.lock"), "--format", "json")
    assert checked.returncode == 1, checked.stderr
    (missing,) = [f for f in json.loads(checked.stdout)["findings"] if f["id"] == "model.missing"]
    assert f"(looked for {project / 'model' / 'x.pkl'})" in missing["message"]


def test_a_whole_pickle_warns_nothing_at_snapshot(tmp_path: Path) -> None:
    (tmp_path / "x.pkl").write_bytes(pickle.dumps({"weights": [1, 2, 3]}, protocol=4))
    (tmp_path / "y.pkl").write_bytes(pickle.dumps({"weights": [4, 5, 6]}, protocol=4))
    done = _envcheck(tmp_path, "snapshot", "-o", "envcheck.lock", "--model", "x.pkl", "--model", "y.pkl")
    assert done.returncode == 0, done.stderr
    assert "warning:" not in done.stderr
    assert "  models   2 files\n" in done.stdout
