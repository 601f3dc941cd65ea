"""The sidecar verifies installed files at each read of the target (``--files``), through one cache."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import List

from envcheck import capture
from envcheck.sidecar.checker import Checker
from envcheck.targets.root import RootTarget
from tests.verify.conftest import fake_python_tree


def test_the_checker_verifies_files_and_rehashes_only_what_changed(
    tmp_path: Path, pristine: Path, reads: List[str]
) -> None:
    root = tmp_path / "root"
    site = fake_python_tree(root)
    site.rmdir()
    shutil.copytree(pristine, site)
    target = RootTarget(str(root))
    expected = capture.take(target)
    checker = Checker(expected, lambda: target, lock_name="l", verify_files=True)
    first = checker.check_once()
    assert first.report is not None
    assert not [f for f in first.report.findings if f.id == "package.files.modified"]
    assert first.report.evidence and first.report.evidence[0].startswith("file check: 2 distributions")
    hashed = len(reads)
    assert hashed > 20
    (site / "six.py").write_text("changed")
    second = checker.check_once()
    assert second.report is not None and not second.ready
    found = [f for f in second.report.findings if f.id == "package.files.modified"]
    assert [f.subject for f in found] == ["six"] and "six.py" in found[0].message
    # a foreign tree is stat-ed through the tree: the unchanged files came from the cache, not read again
    assert [Path(r).name for r in reads[hashed:]] == []  # six.py's size changed: RECORD's size settled it


def test_without_files_the_checker_hashes_nothing(tmp_path: Path, pristine: Path, reads: List[str]) -> None:
    root = tmp_path / "root"
    site = fake_python_tree(root)
    site.rmdir()
    shutil.copytree(pristine, site)
    target = RootTarget(str(root))
    checker = Checker(capture.take(target), lambda: target, lock_name="l")
    result = checker.check_once()
    assert result.report is not None and result.report.evidence == ()
    assert reads == []
