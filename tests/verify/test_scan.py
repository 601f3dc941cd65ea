"""Verifying real installed distributions: each kind of damage found and named, an untouched site quiet, the
cache, and hostile trees that must not make envcheck read outside them, hang or crash."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import List

import pytest

from envcheck.verify import HashCache, WalkLimits, hashing, verify_sites
from envcheck.verify.result import DistFiles, Verification
from tests.verify.conftest import fake_python_tree

SO = "psutil/_psutil_linux.abi3.so"
SITE_IN_TREE = "/usr/lib/python3.11/site-packages"


def verify(site: Path, cache: HashCache | None = None, **kwargs: object) -> Verification:
    return verify_sites("/", [str(site)], target="test", cache=cache, **kwargs)  # type: ignore[arg-type]


def only(result: Verification, name: str) -> DistFiles:
    found = [d for d in result.changed if d.name == name]
    assert len(found) == 1, result.changed
    return found[0]


def test_an_untouched_site_is_quiet(site: Path) -> None:
    result = verify(site)
    assert result.clean, result.changed
    assert result.verified == 2
    assert result.files_hashed > 20 and result.bytes_hashed > 100_000
    assert result.unsafe == () and result.refused == ()


def test_a_byte_changed_in_a_py_file_is_found_and_named(site: Path) -> None:
    path = site / "psutil/_common.py"
    data = bytearray(path.read_bytes())
    data[100] ^= 1  # same size: only the hash tells
    path.write_bytes(bytes(data))
    dist = only(verify(site), "psutil")
    assert dist.modified == ("psutil/_common.py",) and not dist.missing and not dist.unexpected


def test_a_replaced_so_is_found_and_named(site: Path) -> None:
    path = site / SO
    size = path.stat().st_size
    path.unlink()
    path.write_bytes(b"\x7fELF" + b"\0" * (size - 4))  # another library of the same size
    dist = only(verify(site), "psutil")
    assert dist.modified == (SO,)


def test_a_deleted_file_is_found_and_named(site: Path) -> None:
    (site / "six.py").unlink()
    dist = only(verify(site), "six")
    assert dist.missing == ("six.py",) and not dist.modified


def test_a_file_added_into_a_package_folder_is_found_and_named(site: Path) -> None:
    (site / "psutil/backdoor.py").write_text("import os\n")
    (site / "psutil/tests").mkdir(exist_ok=True)
    (site / "psutil/tests/added.so").write_bytes(b"x")
    # what Python writes itself is not a finding
    (site / "psutil/__pycache__").mkdir(exist_ok=True)
    (site / "psutil/__pycache__/backdoor.cpython-311.pyc").write_bytes(b"x")
    dist = only(verify(site), "psutil")
    assert dist.unexpected == ("psutil/backdoor.py", "psutil/tests/added.so")


def test_a_size_change_is_found_without_reading(site: Path, reads: List[str]) -> None:
    with (site / "six.py").open("a") as f:
        f.write("# appended\n")
    dist = only(verify(site), "six")
    assert dist.modified == ("six.py",)
    assert not any(r.endswith("/six.py") for r in reads)  # RECORD's size settled it


def test_egg_info_is_named_not_verifiable(site: Path) -> None:
    egg = site / "legacy-1.0.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 1.0\nName: legacy\nVersion: 1.0\n")
    result = verify(site)
    assert result.clean
    assert result.not_verifiable == ("legacy 1.0: egg-info (no hashes)",)


def test_files_of_a_distribution_without_hashes_are_nobodys_unexpected_files(site: Path) -> None:
    # an egg-info distribution shares the psutil folder (a namespace, or a vendored copy): no RECORD says what
    # it installed, so its files there are not called unexpected; a file elsewhere still is
    egg = site / "psutil_extras-1.0.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 1.0\nName: psutil-extras\nVersion: 1.0\n")
    (egg / "top_level.txt").write_text("psutil\n")
    (site / "psutil/extra.py").write_text("")
    result = verify(site)
    assert result.clean and result.not_verifiable == ("psutil-extras 1.0: egg-info (no hashes)",)


def test_a_reinstall_that_rewrites_record_is_verified_against_the_new_one(site: Path) -> None:
    cache = HashCache()
    assert verify(site, cache).clean
    new = b"# a new release of six\n"
    (site / "six.py").write_bytes(new)
    record = site / "six-1.17.0.dist-info/RECORD"
    lines = [
        f"six.py,sha256={b64(new)},{len(new)}" if line.startswith("six.py,") else line
        for line in record.read_text().splitlines()
    ]
    record.write_text("\n".join(lines) + "\n")
    assert verify(site, cache).clean


def test_a_second_verify_of_an_unchanged_tree_reads_no_file(site: Path, reads: List[str]) -> None:
    cache = HashCache()
    first = verify(site, cache)
    assert first.clean and len(reads) == first.files_hashed > 20
    reads.clear()
    second = verify(site, cache)
    assert second.clean and reads == [] and second.files_hashed == 0
    assert second.cache_hits == first.files_hashed


def test_a_touched_file_is_hashed_again(site: Path, reads: List[str]) -> None:
    cache = HashCache()
    verify(site, cache)
    reads.clear()
    path = site / "psutil/_common.py"
    data = bytearray(path.read_bytes())
    data[100] ^= 1
    st = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime put back: the ctime still tells
    result = verify(site, cache)
    assert [Path(r).name for r in reads] == ["_common.py"]
    assert only(result, "psutil").modified == ("psutil/_common.py",)
    # and a file added after the first verify is found although its folder was listed before
    (site / "six-added.py").write_text("")
    (site / "psutil/added.py").write_text("")
    assert only(verify(site, cache), "psutil").unexpected == ("psutil/added.py",)


def test_a_missing_file_stays_missing_without_being_looked_for_twice(
    site: Path, reads: List[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = HashCache()
    (site / "six.py").unlink()
    assert only(verify(site, cache), "six").missing == ("six.py",)
    asked: List[str] = []
    real = hashing.Hasher.hash_one

    def hash_one(self: hashing.Hasher, job: hashing.Job) -> hashing.Outcome:
        asked.append(job.path)
        return real(self, job)

    monkeypatch.setattr(hashing.Hasher, "hash_one", hash_one)
    # still gone: the re-verify's stat says so, and the file is not handed to the hasher again
    assert only(verify(site, cache), "six").missing == ("six.py",) and asked == []
    # back, with other bytes: hashed and found modified
    (site / "six.py").write_text("# not six\n")
    assert only(verify(site, cache), "six").modified == ("six.py",)
    assert [Path(p).name for p in asked] == ["six.py"]


def test_threads_and_one_thread_agree(site: Path) -> None:
    (site / SO).write_bytes(b"other")
    (site / "six.py").unlink()
    assert verify(site, threads=1).changed == verify(site, threads=4).changed


# --- hostile trees ---------------------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def hostile_dist(site: Path, rows: List[str]) -> None:
    meta = site / "evil-1.0.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n")
    (meta / "RECORD").write_text("\n".join(rows) + "\n")


def test_hostile_record_rows_read_nothing_outside_the_tree(tmp_path: Path, reads: List[str]) -> None:
    root = tmp_path / "root"
    site = fake_python_tree(root)
    secret = tmp_path / "secret.txt"  # on the host, outside the tree
    secret.write_bytes(b"host secret")
    (site / "evil").mkdir()
    (site / "evil/link.py").symlink_to(secret)  # absolute: resolves inside the tree, where it is not
    (site / "evil/up.py").symlink_to("../../../../../../secret.txt")  # climbs: stops at the tree's root
    (site / "evil/escape").symlink_to(tmp_path)  # a folder link out: named, never walked
    rows = [
        f"../../../../secret.txt,sha256={b64(b'host secret')},11",
        f"{secret},sha256={b64(b'host secret')},11",
        f"evil/link.py,sha256={b64(b'host secret')},11",
        f"evil/up.py,sha256={b64(b'host secret')},11",
    ]
    hostile_dist(site, rows)
    result = verify_sites(str(root), ["/usr/lib/python3.11/site-packages"])
    evil = only(result, "evil")
    # the links were resolved inside the tree: nothing there, so missing; the host's file was never read
    assert evil.missing == ("evil/link.py", "evil/up.py")
    assert evil.unexpected == ("evil/escape",)
    assert all(not r.startswith(str(secret)) for r in reads)
    assert result.outside == 1
    assert any("an absolute path" in note for note in result.unsafe)


def test_a_fifo_in_place_of_a_file_is_refused_without_hanging(site: Path) -> None:
    (site / "six.py").unlink()
    os.mkfifo(site / "six.py")
    os.mkfifo(site / "psutil/added-fifo")
    result = verify(site)
    assert only(result, "six").modified == ("six.py",)
    assert only(result, "psutil").unexpected == ("psutil/added-fifo",)
    assert any("six.py" in note for note in result.refused)


def test_a_huge_record_is_not_read(site: Path) -> None:
    meta = site / "huge-1.0.dist-info"
    meta.mkdir()
    with (meta / "RECORD").open("wb") as f:
        f.truncate(65 << 20)  # sparse: over the cap without writing it
    result = verify(site)
    assert result.verified == 2
    assert len(result.not_verifiable) == 1 and "huge 1.0: no readable RECORD" in result.not_verifiable[0]


def test_a_link_loop_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    site = fake_python_tree(root)
    (site / "loop").mkdir()
    (site / "loop/a.py").symlink_to("b.py")
    (site / "loop/b.py").symlink_to("a.py")
    hostile_dist(site, [f"loop/a.py,sha256={b64(b'x')},1"])
    result = verify_sites(str(root), ["/usr/lib/python3.11/site-packages"])
    assert only(result, "evil").modified == ("loop/a.py",)
    assert any("symbolic links" in note for note in result.refused)


def test_walk_bounds_cut_short_and_say_so(site: Path) -> None:
    result = verify(site, limits=WalkLimits(max_per_folder=3))
    assert result.cut and "over 3 entries" in result.cut[0]
    deep = site / "psutil" / "/".join(["d"] * 5)
    deep.mkdir(parents=True)
    (deep / "x.py").write_text("")
    result = verify(site, limits=WalkLimits(max_depth=3))
    assert any("deeper than 3 folders" in note for note in result.cut)


@pytest.mark.parametrize("target", ["root", "native"])
def test_a_root_tree_finds_modified_files(target: str, tmp_path: Path, pristine: Path) -> None:
    import shutil

    root = tmp_path / "root"
    site = fake_python_tree(root)
    site.rmdir()
    shutil.copytree(pristine, site)
    (site / "six.py").write_text("changed")
    if target == "root":
        result = verify_sites(str(root), ["/usr/lib/python3.11/site-packages"])
    else:
        result = verify_sites("/", [str(site)])
    assert only(result, "six").modified == ("six.py",)


def test_a_foreign_tree_is_reverified_from_the_cache(tmp_path: Path, pristine: Path, reads: List[str]) -> None:
    import shutil

    root = tmp_path / "root"
    site = fake_python_tree(root)
    site.rmdir()
    shutil.copytree(pristine, site)
    # a listed file that is a link (inside the tree) to the real one: resolved inside the tree, both times
    (site / "psutil/_real_common.py").write_bytes((site / "psutil/_common.py").read_bytes())
    (site / "psutil/_common.py").unlink()
    (site / "psutil/_common.py").symlink_to("_real_common.py")
    cache = HashCache()
    first = verify_sites(str(root), [SITE_IN_TREE], cache=cache)
    assert [(d.name, d.unexpected) for d in first.changed] == [("psutil", ("psutil/_real_common.py",))]
    reads.clear()
    second = verify_sites(str(root), [SITE_IN_TREE], cache=cache)
    assert reads == [] and second.files_hashed == 0 and second.changed == first.changed
    path = site / "six.py"
    body = bytearray(path.read_bytes())
    body[5] ^= 1
    path.write_bytes(bytes(body))
    third = verify_sites(str(root), [SITE_IN_TREE], cache=cache)
    assert [Path(r).name for r in reads] == ["six.py"]
    assert only(third, "six").modified == ("six.py",)


@pytest.mark.parametrize("kind", ["fifo", "link-out"])
def test_a_record_that_is_not_a_file_of_the_tree_is_not_read(kind: str, tmp_path: Path, reads: List[str]) -> None:
    root = tmp_path / "root"
    site = fake_python_tree(root)
    secret = tmp_path / "RECORD"
    secret.write_text(f"six.py,sha256={b64(b'x')},1\n")
    meta = site / "odd-1.0.dist-info"
    meta.mkdir()
    if kind == "fifo":
        os.mkfifo(meta / "RECORD")
    else:
        (meta / "RECORD").symlink_to(secret)  # absolute: the tree's own /tmp/.../RECORD, which is not there
    result = verify_sites(str(root), [SITE_IN_TREE])
    assert result.verified == 0 and reads == []
    assert len(result.not_verifiable) == 1 and result.not_verifiable[0].startswith("odd 1.0: no readable RECORD")


@pytest.mark.parametrize("threads", [1, 4])
def test_moved_files_are_found_in_threads_or_not(threads: int, tmp_path: Path) -> None:
    from envcheck.verify.hashing import stamp
    from envcheck.verify.scan import _moved

    paths = []
    for i in range(1100):  # over the size a pool is used for
        path = tmp_path / f"f{i}"
        path.write_bytes(b"x")
        paths.append(str(path))
    stamps = [stamp(os.stat(p)) for p in paths]
    (tmp_path / "f7").write_bytes(b"yy")
    (tmp_path / "f1099").unlink()
    assert _moved(paths.__getitem__, stamps, threads) == [7, 1099]
