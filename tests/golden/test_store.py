"""envcheck.golden/ beside the lockfile: written per name, bound by digest and size, size-bounded, and refused
when changed after the snapshot."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import envcheck
from envcheck import lockfile
from envcheck.golden import DEFAULT_LIMIT, GoldenError, bind, load_bound, record
from envcheck.golden.recording import case_from_file, recorded


def test_record_writes_one_file_per_name_and_snapshot_binds_them(tmp_path: Path) -> None:
    lock = tmp_path / "envcheck.lock"
    record("b", [[1.0]], [0.25], lock=lock)
    record("a", {"inputs": [[2.0]]}, ["yes"], tolerance=0.1, lock=lock)
    fp = envcheck.snapshot(lock, golden=True, loaded=False)
    assert fp.golden is not None
    assert [c.name for c in fp.golden.cases] == ["a", "b"]
    data = (tmp_path / "envcheck.golden" / "a.json").read_bytes()
    assert fp.golden.cases[0].sha256 == hashlib.sha256(data).hexdigest() and fp.golden.cases[0].size == len(data)
    back = lockfile.read(lock)  # the section is part of the digest and reads back
    assert back.golden == fp.golden
    cases = load_bound(lock, back.golden)
    assert [(c.name, c.outputs) for c in cases] == [("a", ["yes"]), ("b", [0.25])]
    assert [c.name for c in load_bound(lock, back.golden, ["b"])] == ["b"]
    with pytest.raises(GoldenError, match="binds no golden case 'z'"):
        load_bound(lock, back.golden, ["z"])


def test_a_lockfile_without_golden_has_no_section(tmp_path: Path) -> None:
    fp = envcheck.snapshot(tmp_path / "envcheck.lock", loaded=False)
    assert fp.golden is None
    assert "golden" not in (tmp_path / "envcheck.lock").read_text()


def test_changed_or_missing_golden_files_are_refused(tmp_path: Path) -> None:
    lock = tmp_path / "envcheck.lock"
    record("a", [1.0], [2.0], lock=lock)
    fp = envcheck.snapshot(lock, golden=True, loaded=False)
    assert fp.golden is not None
    path = tmp_path / "envcheck.golden" / "a.json"
    path.write_bytes(path.read_bytes().replace(b"2.0", b"3.0"))
    with pytest.raises(GoldenError, match="not the golden case the lockfile bound"):
        load_bound(lock, fp.golden)
    path.write_bytes(path.read_bytes() + b" " * 10)
    with pytest.raises(GoldenError, match="not the golden case the lockfile bound"):
        load_bound(lock, fp.golden)
    path.unlink()
    with pytest.raises(GoldenError, match="cannot read"):
        load_bound(lock, fp.golden)


def test_more_than_the_limit_is_refused_with_one_line(tmp_path: Path) -> None:
    lock = tmp_path / "envcheck.lock"
    with pytest.raises(GoldenError, match="more than the golden limit of 1048576 bytes") as e:
        record("big", [0.123456789] * 100_000, [1], lock=lock)
    assert "\n" not in str(e.value)
    record("half1", [0.123456789] * 45_000, [1], lock=lock)
    record("half2", [0.123456789] * 45_000, [1], lock=lock)
    with pytest.raises(GoldenError, match="more than the limit of 1048576 bytes in all"):
        bind(lock)
    assert not lock.exists()
    assert DEFAULT_LIMIT == 1 << 20


def test_folder_contents_are_checked(tmp_path: Path) -> None:
    lock = tmp_path / "envcheck.lock"
    with pytest.raises(GoldenError, match="cannot list the golden cases"):
        bind(lock)
    folder = tmp_path / "envcheck.golden"
    folder.mkdir()
    with pytest.raises(GoldenError, match="holds no golden case"):
        bind(lock)
    (folder / "a.json").write_text('{"name": "b", "inputs": 1, "outputs": 2}')
    with pytest.raises(GoldenError, match="holds the case 'b', not 'a'"):
        bind(lock)
    (folder / "a.json").unlink()
    os.mkfifo(folder / "a.json")
    with pytest.raises(GoldenError, match="not a regular file"):
        bind(lock)


def test_snapshot_golden_files_json_and_the_folder_itself(tmp_path: Path) -> None:
    given = tmp_path / "rows.json"
    given.write_text('{"inputs": [[1, 2]], "outputs": [0.5], "tolerance": {"abs": 0.01, "rel": 0}}')
    lock = tmp_path / "out" / "envcheck.lock"
    lock.parent.mkdir()
    record("py", [1], [1], lock=lock)
    info = recorded(lock, [given, lock.parent / "envcheck.golden"], None, DEFAULT_LIMIT)
    assert [c.name for c in info.cases] == ["py", "rows"]
    with pytest.raises(GoldenError, match="two golden files give the case 'rows'"):
        recorded(lock, [given, given], None, DEFAULT_LIMIT)
    with pytest.raises(GoldenError, match="not a file or an MLflow model folder"):
        case_from_file(tmp_path)
    with pytest.raises(GoldenError, match="stored beside the lockfile"):
        envcheck.snapshot(None, golden=True)
