"""A tree made by an attacker, read with --root and --pid: every interesting file is a link out of the tree
(absolute, relative, through a parent link, a loop), a FIFO, a device or a huge sparse file. The lockfile holds
none of this machine's content, the read ends in bounded time and memory, and ``sources.files`` says what was
refused."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Iterator

import pytest

from envcheck import lockfile

HOST_MARK = "HOST-CONTENT-d41d8cd9"
ENV_SECRET = "sk-live-ENVIRON-e3b0c442"


def _special(path: Path) -> None:
    """A character device (root can make one), else a socket: never a regular file."""
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero: endless, if it were ever read
    except PermissionError:
        import socket

        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(path))


def _sparse(path: Path, size: int = 1 << 30, head: bytes = b"") -> None:
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)


def _host(tmp_path: Path) -> Path:
    """Files of 'this machine' that the tree's links aim at."""
    host = tmp_path / "host"
    site = host / "site" / "hostpkg-6.6.6.dist-info"
    site.mkdir(parents=True)
    (site / "METADATA").write_text(f"Metadata-Version: 2.1\nName: hostpkg\nVersion: 6.6.6\nSummary: {HOST_MARK}\n")
    (host / "os-release").write_text(f'ID=hostos\nPRETTY_NAME="{HOST_MARK}"\n')
    (host / "version.py").write_text(f"cuda: Optional[str] = '{HOST_MARK}'\n")
    (host / "zone").write_text(HOST_MARK)
    (host / "pyvenv.cfg").write_text(f"home = /{HOST_MARK}\n")
    return host


def build_hostile_tree(tree: Path, host: Path, executable: str) -> None:
    """A tree with a real interpreter at ``executable`` (a tree path) and everything else hostile."""
    minor = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    exe = tree / executable.lstrip("/")
    exe.parent.mkdir(parents=True)
    shutil.copy2(Path(sys.executable).resolve(), exe)
    prefix = exe.parent.parent
    libpython = Path(sys.base_prefix) / "lib" / f"lib{minor}.so.1.0"
    (prefix / "lib").mkdir(parents=True, exist_ok=True)
    if libpython.exists():
        shutil.copy2(libpython, prefix / "lib" / libpython.name)
    stdlib = prefix / "lib" / minor
    site = stdlib / "site-packages"
    site.mkdir(parents=True)
    for data in Path(sysconfig.get_paths()["stdlib"]).glob("_sysconfigdata_*.py"):
        os.symlink(data.name, stdlib / data.name)  # a link to itself: a loop
    (tree / "etc").mkdir()
    os.symlink(str(host / "os-release"), tree / "etc/os-release")  # absolute, to the host's path
    (tree / "usr/lib").mkdir(parents=True, exist_ok=True)
    os.symlink("../../../../../../../../../../" + str(host / "os-release"), tree / "usr/lib/os-release")
    os.symlink(str(host / "zone"), tree / "etc/localtime")
    os.mkfifo(tree / "etc/timezone")
    (tree / "proc/1").mkdir(parents=True)
    os.mkfifo(tree / "proc/1/cgroup")
    zoneinfo = tree / "usr/share/zoneinfo"
    zoneinfo.mkdir(parents=True)
    _special(zoneinfo / "tzdata.zi")
    libdir = tree / "lib/x86_64-linux-gnu"
    libdir.mkdir(parents=True)
    os.symlink("/proc/self/exe", libdir / "libc.so.6")
    os.mkfifo(libdir / "libopenblasp-r0.3.21.so")
    # distributions
    good = site / "good-1.0.dist-info"
    good.mkdir()
    (good / "METADATA").write_text("Metadata-Version: 2.1\nName: good\nVersion: 1.0\n")
    os.mkfifo(good / "RECORD")
    _special(good / "direct_url.json")
    _sparse(good / "INSTALLER")
    os.symlink("/proc/self/environ", good / "WHEEL")
    evil = site / "evil-1.0.dist-info"
    evil.mkdir()
    os.symlink("/proc/self/environ", evil / "METADATA")
    climb = site / "climb-1.0.dist-info"
    climb.mkdir()
    depth = "../" * 30
    os.symlink(depth + str(host / "site/hostpkg-6.6.6.dist-info/METADATA"), climb / "METADATA")
    os.symlink(str(host / "site/hostpkg-6.6.6.dist-info"), site / "linked-1.0.dist-info")
    os.symlink("/", site / "up")  # a parent link: up/<host path> must not reach the host
    (site / "hop.pth").write_text(
        f"{host / 'site'}\nup{host / 'site'}\nimport os; os.system('touch /tmp/pwned')\n"
    )
    os.mkfifo(site / "fifo.pth")
    os.symlink("loop-b.dist-info", site / "loop-a.dist-info")
    os.symlink("loop-a.dist-info", site / "loop-b.dist-info")
    big = site / "big-1.0.dist-info"
    big.mkdir()
    _sparse(big / "METADATA", head=b"Metadata-Version: 2.1\nName: big\nVersion: 1.0\n\n")
    _sparse(big / "RECORD")
    for name, version in (("numpy", "2.0.0"), ("torch", "2.9.1")):
        meta = site / f"{name}-{version}.dist-info"
        meta.mkdir()
        (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (site / "numpy/_core").mkdir(parents=True)
    os.mkfifo(site / "numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so")
    os.symlink(str(host), site / "torch")  # torch/version.py through a parent link to the host


@pytest.fixture()
def hostile(tmp_path: Path) -> tuple[Path, Path]:
    host = _host(tmp_path)
    tree = tmp_path / "tree"
    build_hostile_tree(tree, host, "/usr/local/bin/python3")
    return tree, host


#: ``python -m envcheck`` that also reports its peak memory (VmHWM: ru_maxrss carries the parent's high-water mark
#: across fork and exec on Linux) as the last line of stderr.
_MEASURED = (
    "import atexit, sys\n"
    "def peak():\n"
    "    hwm = next(line for line in open('/proc/self/status') if line.startswith('VmHWM:')).split()[1]\n"
    "    sys.stderr.write('peak-kib ' + hwm + '\\n')\n"
    "atexit.register(peak)\n"
    "from envcheck.cli import main\n"
    "sys.argv[0] = 'envcheck'\n"
    "main()\n"
)


def _snapshot(*target: str, out: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MY_API_TOKEN": ENV_SECRET, "HOSTILE_MARK": HOST_MARK}
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURED, "snapshot", *target, "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    took = time.monotonic() - start
    *rest, peak = done.stderr.splitlines() or [""]
    assert peak.startswith("peak-kib "), done.stderr
    rss_mb = int(peak.split()[1]) / 1024
    assert took < 60, f"a hostile tree took {took:.0f} s to read"
    assert rss_mb < 300, f"a hostile tree took {rss_mb:.0f} MB to read"
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout, "\n".join(rest))


def _assert_nothing_of_the_host(out: Path, done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    for mark in (HOST_MARK, ENV_SECRET, "hostpkg", "6.6.6", "hostos", "MY_API_TOKEN"):
        assert mark not in text + done.stdout + done.stderr, mark
    assert not Path("/tmp/pwned").exists()
    fp = lockfile.read(out)
    assert [p.name for p in fp.packages] == ["big", "good", "numpy", "torch"]
    # a dangling /etc/localtime is UTC, as glibc reads it
    assert fp.env.timezone == "UTC" and fp.os.distro_id == ""
    refused = fp.source("files").detail
    for why in (
        "good-1.0.dist-info/RECORD: a FIFO",
        "good-1.0.dist-info/direct_url.json: a ",
        "good-1.0.dist-info/INSTALLER: 1073741824 bytes, over the small cap",
        "big-1.0.dist-info/RECORD: 1073741824 bytes, over the record cap",
        "too many levels of symbolic links",
        "link climbs out of the tree",
        "fifo.pth: a FIFO",
    ):
        assert why in refused, (why, refused)
    assert fp.source("files").status == "ok"
    assert "  files    refused " in done.stdout  # the summary says so too


def test_root_reads_nothing_of_the_host(hostile: tuple[Path, Path], tmp_path: Path) -> None:
    tree, _ = hostile
    out = tmp_path / "root.lock"
    done = _snapshot("--root", str(tree), out=out)
    _assert_nothing_of_the_host(out, done)


@pytest.fixture()
def chrooted(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A Python process whose root is a hostile tree (chroot needs root: CI runs as root)."""
    host = _host(tmp_path)
    tree = tmp_path / "tree"
    real = str(Path(sys.executable).resolve())
    build_hostile_tree(tree, host, real)
    code = (
        "import os, sys, time\n"
        f"os.chroot({str(tree)!r}); os.chdir('/')\n"
        "sys.stdout.write('in\\n'); sys.stdout.flush()\n"
        "time.sleep(120)\n"
    )
    proc = subprocess.Popen([real, "-c", code], stdout=subprocess.PIPE, env={"PATH": "/usr/bin"})
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"in\n", "the process could not chroot (envcheck's tests run as root in CI)"
    try:
        yield proc, tree
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_pid_reads_nothing_of_the_host(chrooted: tuple[subprocess.Popen[bytes], Path], tmp_path: Path) -> None:
    proc, _ = chrooted
    out = tmp_path / "pid.lock"
    done = _snapshot("--pid", str(proc.pid), out=out)
    _assert_nothing_of_the_host(out, done)
