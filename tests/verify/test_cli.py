"""``envcheck verify-files`` and ``envcheck check LOCK --files`` as a user runs them: exit codes and reports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest

from tests.verify.conftest import fake_python_tree


def envcheck(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envcheck", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def tree(tmp_path: Path, pristine: Path) -> Path:
    root = tmp_path / "root"
    site = fake_python_tree(root)
    site.rmdir()
    shutil.copytree(pristine, site)
    return root


def site_of(root: Path) -> Path:
    return root / "usr/lib/python3.11/site-packages"


def test_verify_files_is_quiet_on_an_untouched_tree(tree: Path, tmp_path: Path) -> None:
    done = envcheck("verify-files", "--root", str(tree), "--format", "json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["findings"] == []


def test_verify_files_exits_1_and_names_the_files(tree: Path, tmp_path: Path) -> None:
    (site_of(tree) / "six.py").unlink()
    (site_of(tree) / "psutil/added.py").write_text("")
    done = envcheck("verify-files", "--root", str(tree), "--no-matrix", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "installed files differ from its RECORD" in done.stdout
    assert "1 missing (six.py)" in done.stdout and "1 unexpected (psutil/added.py)" in done.stdout
    assert "pip install --force-reinstall --no-deps 'six==1.17.0'" in done.stdout
    # below the threshold: reported, exit 0
    never = envcheck("verify-files", "--root", str(tree), "--fail-on", "critical", cwd=tmp_path)
    assert never.returncode == 0 and "six.py" in never.stdout


def test_verify_files_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    done = envcheck("verify-files", "--root", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no Python interpreter found" in done.stderr


def test_check_files_adds_the_verification(tree: Path, tmp_path: Path) -> None:
    lock = tmp_path / "envcheck.lock"
    snap = envcheck("snapshot", "--root", str(tree), "-o", str(lock), cwd=tmp_path)
    assert snap.returncode == 0, snap.stderr
    quiet = envcheck("check", str(lock), "--root", str(tree), "--files", "--format", "json", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr + quiet.stdout
    data: Dict[str, Any] = json.loads(quiet.stdout)
    assert not [f for f in data["findings"] if f["id"] == "package.files.modified"]
    path = site_of(tree) / "psutil/_common.py"
    body = bytearray(path.read_bytes())
    body[10] ^= 1
    path.write_bytes(bytes(body))
    found = envcheck("check", str(lock), "--root", str(tree), "--files", "--format", "json", cwd=tmp_path)
    assert found.returncode == 1, found.stderr
    ids = [(f["id"], f["subject"], f["evidence"]) for f in json.loads(found.stdout)["findings"]]
    assert ("package.files.modified", "psutil", "observed") in ids
    # without --files the same candidate is quiet: nothing in its metadata moved
    plain = envcheck("check", str(lock), "--root", str(tree), cwd=tmp_path)
    assert plain.returncode == 0, plain.stdout


def test_verify_files_lists_in_the_rulebook(tmp_path: Path) -> None:
    done = envcheck("rules", cwd=tmp_path)
    assert done.returncode == 0 and "package.files.modified" in done.stdout
