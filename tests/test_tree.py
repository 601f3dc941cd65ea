"""The one safe way to read a tree: paths resolve inside it, only regular files open, reads are bounded."""

from __future__ import annotations

import os
import socket
import stat
import threading
from pathlib import Path

import pytest

from envcheck.tree import LIMITS, Tree, TreeError

HOST_SECRET = "host-only-content-31337"


@pytest.fixture()
def world(tmp_path: Path) -> tuple[Path, Path]:
    """(tree, a host folder beside it holding content that must never be read through the tree)."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "secret").write_text(HOST_SECRET)
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc/secret").write_text("tree's own file")
    return tree, host


def _special(path: Path) -> str:
    """A character device where the kernel lets us make one (root), else a socket: never a regular file."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))
        return "a character device"
    except PermissionError:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
        return "a socket"


@pytest.mark.parametrize(
    "link",
    [
        "ABSOLUTE",  # the host's path, absolute: the tree's root is "/"
        "../../host/secret",  # climbs out relative to the link's folder
        "../../../../../../../../../../host/secret",  # climbs far past the root
    ],
    ids=["absolute", "relative", "far"],
)
def test_a_link_out_of_the_tree_reads_inside_it(world: tuple[Path, Path], link: str) -> None:
    tree, host = world
    target = str(host / "secret") if link == "ABSOLUTE" else link
    os.symlink(target, tree / "etc/os-release")
    with Tree(str(tree)) as t:
        with pytest.raises(FileNotFoundError):
            t.read("/etc/os-release", "small")
        assert HOST_SECRET not in repr(t.refused)


def test_a_link_that_climbs_lands_on_the_trees_own_files(world: tuple[Path, Path]) -> None:
    tree, _ = world
    os.symlink("../../../../etc/secret", tree / "etc/link")
    with Tree(str(tree)) as t:
        assert t.read_text("/etc/link", "small") == "tree's own file"
        assert t.resolve("/etc/link") == "/etc/secret"
        assert t.refused_summary().startswith("refused 1: /etc/link: link climbs out")


def test_a_parent_folder_that_is_a_link_out_is_followed_inside(world: tuple[Path, Path]) -> None:
    tree, host = world
    os.symlink(str(host), tree / "data")  # absolute: /tmp/.../host inside the tree does not exist
    os.symlink("../..", tree / "etc/up")  # a relative parent link that climbs to the root and past it
    with Tree(str(tree)) as t:
        with pytest.raises(FileNotFoundError):
            t.read("/data/secret", "small")
        assert t.read_text("/etc/up/etc/secret", "small") == "tree's own file"
        with pytest.raises(FileNotFoundError):
            t.read("/etc/up/host/secret", "small")


def test_dot_dot_through_a_link_is_physical_and_stops_at_the_root(world: tuple[Path, Path]) -> None:
    tree, _ = world
    (tree / "a/b").mkdir(parents=True)
    os.symlink("a/b", tree / "l")
    (tree / "a/x").write_text("a's x")
    with Tree(str(tree)) as t:
        assert t.read_text("/l/../x", "small") == "a's x"  # .. of /a/b, not of /
        assert t.read_text("/../../../../etc/secret", "small") == "tree's own file"


def test_a_link_loop_is_refused(world: tuple[Path, Path]) -> None:
    tree, _ = world
    os.symlink("b", tree / "etc/a")
    os.symlink("a", tree / "etc/b")
    os.symlink("loop", tree / "loop")
    with Tree(str(tree)) as t:
        with pytest.raises(TreeError, match="too many levels"):
            t.read("/etc/a", "small")
        with pytest.raises(TreeError, match="too many levels"):
            t.listdir("/loop/x")
        assert t.refused_count == 2


def test_a_fifo_is_refused_without_blocking(world: tuple[Path, Path]) -> None:
    tree, _ = world
    os.mkfifo(tree / "etc/os-release")
    done: list[object] = []

    def read() -> None:
        with Tree(str(tree)) as t:
            try:
                t.read("/etc/os-release", "small")
            except TreeError as e:
                done.append(e)
            done.append(t.refused_summary())

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "reading a FIFO blocked"
    assert isinstance(done[0], TreeError)
    assert done[1] == "refused 1: /etc/os-release: a FIFO"


def test_a_device_or_socket_is_refused(world: tuple[Path, Path]) -> None:
    tree, _ = world
    kind = _special(tree / "etc/os-release")
    with Tree(str(tree)) as t:
        with pytest.raises(TreeError):
            t.read("/etc/os-release", "small")
        assert t.refused == [f"/etc/os-release: {kind}"]


def test_the_live_reader_refuses_a_fifo_too(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    t = Tree("/")
    with pytest.raises(TreeError):
        t.read(str(tmp_path / "fifo"), "small")
    assert t.refused == [f"{tmp_path}/fifo: a FIFO"]


def test_a_huge_sparse_file_is_cut_or_refused_by_kind(world: tuple[Path, Path]) -> None:
    tree, _ = world
    with open(tree / "etc/big", "wb") as f:
        f.write(b"Name: x\nVersion: 1\n")
        f.truncate(1 << 30)
    with Tree(str(tree)) as t:
        assert len(t.read("/etc/big", "metadata")) == LIMITS["metadata"][0]  # headers come first: cut
        with pytest.raises(TreeError, match="over the record cap"):
            t.read("/etc/big", "record")
        assert t.spent == LIMITS["metadata"][0]


def test_the_budget_stops_reading(world: tuple[Path, Path]) -> None:
    tree, _ = world
    (tree / "etc/f").write_bytes(b"x" * 1000)
    with Tree(str(tree), budget=2500) as t:
        t.read("/etc/f", "small")
        t.read("/etc/f", "small")
        with pytest.raises(TreeError, match="budget"):
            t.read("/etc/f", "small")


def test_queries_never_follow_out(world: tuple[Path, Path]) -> None:
    tree, host = world
    os.symlink(str(host), tree / "hostdir")
    os.symlink(str(host / "secret"), tree / "hostfile")
    with Tree(str(tree)) as t:
        assert not t.exists("/hostdir/secret")
        assert not t.is_file("/hostfile")
        assert t.is_link("/hostfile")
        assert t.readlink("/hostfile") == str(host / "secret")
        with pytest.raises(FileNotFoundError):
            t.listdir("/hostdir")
        assert t.listdir("/etc") == ["secret"]


def test_a_folder_swapped_for_a_link_after_it_was_resolved_stays_the_folder(world: tuple[Path, Path]) -> None:
    """Reads go through descriptors: renaming the folder away and putting a link out in its place does not
    redirect a read of a folder already entered."""
    tree, host = world
    (tree / "d").mkdir()
    (tree / "d/f").write_text("inside")
    with Tree(str(tree)) as t:
        assert t.read_text("/d/f", "small") == "inside"
        os.rename(tree / "d", tree / "moved")
        os.symlink(str(tree.parent / "host"), tree / "d")
        (host / "f").write_text(HOST_SECRET)
        got = t.read_text("/d/f", "small")  # the folder's descriptor is cached: the moved folder's file
        assert got == "inside"
    # resolved anew: the link is followed inside the tree, and finds nothing
    with Tree(str(tree)) as fresh, pytest.raises(FileNotFoundError):
        fresh.read("/d/f", "small")
