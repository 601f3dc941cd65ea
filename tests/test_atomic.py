"""Writing lockfiles and reports: atomic, exclusive temporary files, nothing left behind, never through a link."""

from __future__ import annotations

import errno
import os
import resource
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, List

import pytest

from envcheck import atomic, lockfile
from envcheck.atomic import WriteError
from tests.conftest import H200

LOCK = H200 / "envcheck.lock"
REPO = Path(__file__).resolve().parent.parent


def envcheck(*args: str, cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envcheck", *args], cwd=cwd, capture_output=True, text=True, timeout=120, **kwargs
    )


def leftovers(folder: Path, keep: set[str]) -> List[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def test_write_replaces_the_file_and_leaves_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    os.chmod(target, 0o640)
    atomic.write_text(target, "new")
    assert target.read_text() == "new"
    assert oct(target.stat().st_mode & 0o777) == oct(0o640)  # the replaced file's permissions are kept
    assert leftovers(tmp_path, {"out.txt"}) == []


def test_a_new_file_gets_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic.write_text(tmp_path / "fresh.lock", "x")
    finally:
        os.umask(old)
    assert (tmp_path / "fresh.lock").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600


def test_a_link_planted_at_the_old_temporary_name_is_not_followed(tmp_path: Path) -> None:
    """The old writer used the fixed name ``.envcheck.lock.tmp``: a link there sent the lockfile anywhere."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / ".envcheck.lock.tmp").symlink_to(victim)
    fp = lockfile.read(LOCK)
    lockfile.write(fp, tmp_path / "envcheck.lock")
    assert victim.read_text() == "precious"
    assert lockfile.read(tmp_path / "envcheck.lock").meta.digest == fp.meta.digest
    assert (tmp_path / ".envcheck.lock.tmp").is_symlink()  # left alone


def test_temporary_names_are_created_exclusively(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A name taken by anything (here: a dangling link an attacker planted) is skipped, not written through."""
    names = iter(["aaaa", "aaaa", "bbbb"])
    monkeypatch.setattr(atomic.secrets, "token_hex", lambda n: next(names))
    outside = tmp_path / "outside.txt"
    (tmp_path / ".r.txt.aaaa.tmp").symlink_to(outside)
    atomic.write_text(tmp_path / "r.txt", "report")
    assert (tmp_path / "r.txt").read_text() == "report"
    assert not outside.exists()
    assert leftovers(tmp_path, {"r.txt", ".r.txt.aaaa.tmp"}) == []


def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full in the middle of the write: the old lockfile is intact and no temporary file is left."""
    target = tmp_path / "envcheck.lock"
    target.write_text("old lockfile")
    real_write = os.write
    calls: List[int] = []

    def disk_full(fd: int, data: Any) -> int:
        calls.append(len(data))
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, bytes(data[:1000]))  # a short write first: the rest must be retried

    monkeypatch.setattr(atomic.os, "write", disk_full)
    with pytest.raises(lockfile.LockfileError, match="No space left on device") as caught:
        lockfile.write(lockfile.read(LOCK), target)
    assert "\n" not in str(caught.value)
    assert target.read_text() == "old lockfile"
    assert leftovers(tmp_path, {"envcheck.lock"}) == []


def test_short_writes_are_completed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write
    monkeypatch.setattr(atomic.os, "write", lambda fd, data: real_write(fd, bytes(data[:7])))
    atomic.write_bytes(tmp_path / "x", b"0123456789" * 100)
    assert (tmp_path / "x").read_bytes() == b"0123456789" * 100


def _fsize_limit() -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG instead of killing the process


def test_a_file_size_limit_in_a_real_process_leaves_the_old_lockfile(tmp_path: Path) -> None:
    """A real failed write (RLIMIT_FSIZE, as a full quota): exit 2, one line, old file intact, no temporary."""
    old = LOCK.read_text()
    (tmp_path / "envcheck.lock").write_text(old)
    done = envcheck("snapshot", "-o", "envcheck.lock", cwd=tmp_path, preexec_fn=_fsize_limit)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "envcheck: error: envcheck.lock: cannot write (File too large); the old file, if any, is unchanged"
    ]
    assert (tmp_path / "envcheck.lock").read_text() == old
    assert leftovers(tmp_path, {"envcheck.lock"}) == []


def test_a_read_only_folder_is_one_line(tmp_path: Path) -> None:
    """Where the tests run as root a mode cannot make a folder read-only: /proc/self is one for everyone."""
    with pytest.raises(WriteError, match="cannot write") as caught:
        atomic.write_text("/proc/self/envcheck.lock", "x")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "args",
    [
        ("snapshot", "-o", "out"),
        ("diff", str(LOCK), str(LOCK), "-o", "out"),
        ("check", str(LOCK), "--root", "/nonexistent-root", "-o", "out"),
    ],
    ids=["snapshot", "diff", "check"],
)
def test_output_naming_a_folder_is_one_line(args: tuple[str, ...], tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    done = envcheck(*args, cwd=tmp_path)
    assert done.returncode == 2
    if args[0] != "check":  # check stops earlier: the root does not exist (still one line)
        assert done.stderr.strip() == "envcheck: error: out: is a directory; name a file to write"
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert list((tmp_path / "out").iterdir()) == []


def test_output_dash_is_stdout(tmp_path: Path) -> None:
    diff = envcheck("diff", str(LOCK), str(LOCK), "--format", "json", "-o", "-", cwd=tmp_path)
    assert diff.returncode == 0, diff.stderr
    assert diff.stdout.lstrip().startswith("{")
    assert not (tmp_path / "-").exists()
    snap = envcheck("snapshot", "-o", "-", cwd=tmp_path)
    assert snap.returncode == 0, snap.stderr
    assert lockfile.loads(snap.stdout).meta.target == "local"
    assert list(tmp_path.iterdir()) == []


def test_output_through_a_link_replaces_the_file_it_names_and_keeps_the_link(tmp_path: Path) -> None:
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports/real.json").write_text("old")
    os.symlink("reports/real.json", tmp_path / "latest.json")
    done = envcheck("diff", str(LOCK), str(LOCK), "--format", "json", "-o", "latest.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "latest.json").is_symlink()
    assert (tmp_path / "reports/real.json").read_text().lstrip().startswith("{")
    assert (
        leftovers(tmp_path / "reports", {"real.json"}) == []
        and leftovers(tmp_path, {"reports", "latest.json"}) == []
    )


def test_output_to_a_device_or_pipe_is_written_through(tmp_path: Path) -> None:
    """-o /dev/null, -o /dev/stdout, -o >(cmd): nothing to replace; the device stays a device, the link a link."""
    os.symlink("/proc/self/fd/1", tmp_path / "stdout")  # as /dev/stdout is
    done = envcheck("diff", str(LOCK), str(LOCK), "--format", "json", "-o", "stdout", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.lstrip().startswith("{") and (tmp_path / "stdout").is_symlink()
    null = tmp_path / "null"
    try:
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's own numbers (root: CI)
    except PermissionError:
        null = Path("/dev/null")  # not root: the real one, which can then not be replaced anyway
    done = envcheck("diff", str(LOCK), str(LOCK), "-o", str(null), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert stat.S_ISCHR(os.lstat(null).st_mode)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE, text=True) as reader:
        done = envcheck("diff", str(LOCK), str(LOCK), "--format", "json", "-o", str(fifo), cwd=tmp_path)
        got, _ = reader.communicate(timeout=60)
    assert done.returncode == 0, done.stderr
    assert got.lstrip().startswith("{") and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert leftovers(tmp_path, {"stdout", "null", "fifo"}) == []


WRITER = """
import sys, dataclasses
from envcheck import lockfile
fp = lockfile.read(sys.argv[1])
for i in range(int(sys.argv[3])):
    meta = dataclasses.replace(fp.meta, created=f"2026-01-01T00:00:{i % 60:02d}Z", tool=f"writer {sys.argv[4]}")
    lockfile.write(dataclasses.replace(fp, meta=meta), sys.argv[2])
"""


def test_concurrent_writers_never_leave_a_missing_or_invalid_file(tmp_path: Path) -> None:
    """Four processes rewrite one lockfile while this one reads it: every read is a whole, verified lockfile."""
    target = tmp_path / "envcheck.lock"
    lockfile.write(lockfile.read(LOCK), target)
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(LOCK), str(target), "40", str(n)], cwd=REPO)
        for n in range(4)
    ]
    reads, seen = 0, set()
    deadline = time.monotonic() + 240
    try:
        while any(w.poll() is None for w in writers):
            assert time.monotonic() < deadline, "writers did not finish"
            fp = lockfile.read(target)  # raises on a missing, partial or unverifiable file
            seen.add(fp.meta.tool)
            reads += 1
    finally:
        for w in writers:
            if w.poll() is None:
                w.kill()
            w.wait(timeout=60)
    assert [w.returncode for w in writers] == [0, 0, 0, 0]
    assert reads > 0 and seen
    assert lockfile.read(target).meta.tool.startswith("writer ")
    assert leftovers(tmp_path, {"envcheck.lock"}) == []


def test_a_non_utf8_output_name_is_written_and_shown_escaped(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}  # a terminal that refuses undecodable bytes
    done = subprocess.run(
        [sys.executable, "-m", "envcheck", "diff", str(LOCK), str(LOCK), "-o", b"r\xff.txt"],
        cwd=tmp_path,
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert os.listdir(os.fsencode(tmp_path)) == [b"r\xff.txt"]
    snap = subprocess.run(
        [sys.executable, "-m", "envcheck", "snapshot", "-o", b"\xfe.lock"],
        cwd=tmp_path,
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert snap.returncode == 0, snap.stderr
    assert snap.stdout.startswith(b"wrote \\udcfe.lock (sha256:")
    assert lockfile.read(os.fsdecode(os.fsencode(tmp_path) + b"/\xfe.lock")).meta.target == "local"
