"""Reading distributions in forked workers gives exactly what reading them one by one gives."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path
from typing import Any, Tuple

import pytest

from envcheck import probe
from envcheck.tree import Tree
from tests.conftest import make_dist_info

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "h200-serving" / "dist-info.tgz"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, Path]:
    """The H200 serving environment's 197 real dist-info folders, with the odd cases a real one holds: a copy
    of a distribution shadowed by an earlier folder, folders that describe nothing, a RECORD that is a FIFO."""
    root = tmp_path_factory.mktemp("parallel")
    first, second = root / "first", root / "second"
    first.mkdir()
    with tarfile.open(FIXTURE) as tar:
        kwargs: Any = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(first, **kwargs)
    make_dist_info(second, "numpy", "1.0")  # shadowed by the first folder's
    make_dist_info(second, "only-here", "3.0")
    (first / "broken-1.0.dist-info").mkdir()  # no METADATA
    fifo = make_dist_info(first, "fifo-record", "1.0")[0] / "RECORD"
    os.mkfifo(fifo)
    return first, second


def _read(site: Tuple[Path, Path], parallel: bool) -> Tuple[Any, ...]:
    tree = Tree("/")
    packages, source, files = probe.collect_packages([str(site[0]), str(site[1])], tree, parallel)
    return packages, source, files, tree.spent, tree.refused, tree.refused_count


def test_workers_give_what_one_reader_gives(site: Tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    one = _read(site, parallel=False)
    forks = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid

    monkeypatch.setattr(probe, "_worker_count", lambda n: 3)  # whatever this machine's CPUs
    monkeypatch.setattr(os, "fork", fork)
    many = _read(site, parallel=True)
    assert len(forks) == 3
    assert many == one
    packages, source, _, _, refused, _ = many
    assert len(packages) >= 190
    assert "broken-1.0.dist-info" in source["detail"]
    assert any("RECORD: a FIFO" in note for note in refused)  # a worker's refusal reaches the tree


def test_a_worker_that_fails_leaves_its_share_to_the_reader(
    site: Tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    one = _read(site, parallel=False)
    parent = os.getpid()
    real = probe.read_distribution

    def flaky(meta_dir: str, tree: Any = None) -> Any:
        if os.getpid() != parent:
            raise RuntimeError("a bug in a worker")
        return real(meta_dir, tree)

    monkeypatch.setattr(probe, "_worker_count", lambda n: 2)
    monkeypatch.setattr(probe, "read_distribution", flaky)
    assert _read(site, parallel=True) == one


def test_small_environments_and_foreign_trees_are_read_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_fork() -> int:
        raise AssertionError("forked")

    monkeypatch.setattr(os, "fork", no_fork)
    for i in range(5):
        make_dist_info(tmp_path, f"pkg{i}", "1.0")
    assert len(probe.collect_packages([str(tmp_path)], Tree("/"), parallel=True)[0]) == 5
    # a foreign tree shares folder descriptors between reads: never split between processes
    monkeypatch.setattr(probe, "_worker_count", lambda n: 4)
    root = tmp_path / "root"
    for i in range(probe.PARALLEL_MIN + 2):
        make_dist_info(root / "site", f"dist{i}", "1.0")
    packages = probe.collect_packages(["/site"], Tree(str(root)), parallel=True)[0]
    assert len(packages) == probe.PARALLEL_MIN + 2


def test_shares_are_contiguous_and_balanced_by_record_size(tmp_path: Path) -> None:
    tasks = []
    for i, size in enumerate([10, 10, 1_000_000, 10, 10, 10]):
        folder = make_dist_info(tmp_path, f"p{i}", "1.0")[0]
        (folder / "RECORD").write_bytes(b"x" * size)
        tasks.append((str(tmp_path), folder.name))
    shares = probe._shares(tasks, Tree("/"), 2)
    assert [t for share in shares for t in share] == tasks
    assert shares[0][-1] == tasks[2]  # the large RECORD ends the first share
