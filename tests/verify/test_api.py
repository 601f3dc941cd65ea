"""``envcheck.api.verify_files`` and ``envcheck.api.check(files=True)`` in process."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import List

from envcheck import api, capture
from envcheck.findings import Severity
from envcheck.targets.root import RootTarget
from envcheck.verify import HashCache
from tests.verify.conftest import fake_python_tree


def make_tree(tmp_path: Path, pristine: Path) -> Path:
    root = tmp_path / "root"
    site = fake_python_tree(root)
    site.rmdir()
    shutil.copytree(pristine, site)
    return root


def test_verify_files_with_a_kept_cache(tmp_path: Path, pristine: Path, reads: List[str]) -> None:
    root = make_tree(tmp_path, pristine)
    target = RootTarget(str(root))
    cache = HashCache()
    quiet = api.verify_files(target=target, cache=cache)
    assert quiet.findings == () and quiet.return_code == 0
    assert quiet.evidence[0].startswith("file check: 2 distributions verified")
    hashed = len(reads)
    (root / "usr/lib/python3.11/site-packages/psutil/new.py").write_text("")
    found = api.verify_files(target=target, cache=cache, fail_on="critical")
    assert [(f.id, f.subject) for f in found.findings] == [("package.files.modified", "psutil")]
    assert found.fail_on is Severity.CRITICAL and found.return_code == 0
    assert len(reads) == hashed  # nothing read again: only a file was added


def test_check_with_files(tmp_path: Path, pristine: Path) -> None:
    root = make_tree(tmp_path, pristine)
    target = RootTarget(str(root))
    lock = capture.take(target)
    assert not [f for f in api.check(lock, target=target, files=True).findings if f.id.startswith("package.files")]
    (root / "usr/lib/python3.11/site-packages/six.py").write_text("changed")
    report = api.check(lock, target=target, files=True)
    assert [f.subject for f in report.findings if f.id == "package.files.modified"] == ["six"]
    assert any(line.startswith("file check:") for line in report.evidence)
    assert report.return_code == 1
    assert not [f for f in api.check(lock, target=target).findings if f.id.startswith("package.files")]
