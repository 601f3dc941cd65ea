"""Site folders made of real installed distributions: each file a real wheel installed (RECORD included) is copied
from this interpreter's own site folder, so every test starts from files whose RECORD is true."""

from __future__ import annotations

import os
import shutil
import struct
from importlib import metadata
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

#: A pure-Python distribution and one with a compiled extension, both installed with the test dependencies.
PURE = "six"
COMPILED = "psutil"


def copy_dist(name: str, site: Path) -> str:
    """Copy an installed distribution's files (as its RECORD lists them, inside its site folder) into ``site``;
    return its metadata folder's name."""
    dist = metadata.distribution(name)
    base = Path(str(dist.locate_file("")))
    meta = ""
    for item in dist.files or ():
        if ".." in item.parts or "__pycache__" in item.parts:
            continue
        src = base / item
        dest = site / item
        if src.is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
        if item.parts[0].endswith(".dist-info"):
            meta = item.parts[0]
    assert meta, name
    return meta


@pytest.fixture(scope="session")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site folder holding six and psutil as installed."""
    site = tmp_path_factory.mktemp("pristine") / "site-packages"
    site.mkdir()
    for name in (PURE, COMPILED):
        copy_dist(name, site)
    return site


@pytest.fixture
def site(pristine: Path, tmp_path: Path) -> Path:
    """A fresh copy of ``pristine`` for a test to damage."""
    out = tmp_path / "site-packages"
    shutil.copytree(pristine, out)
    return out


def fake_python_tree(root: Path) -> Path:
    """A filesystem tree with a (fake) CPython 3.11 at /usr/bin/python3 as ``envcheck.targets.rootfs`` finds one;
    returns its site folder (``/usr/lib/python3.11/site-packages``) on this machine."""
    elf = b"\x7fELF\x02\x01\x01" + b"\0" * 11 + struct.pack("<H", 62) + b"\0" * 44
    (root / "usr/bin").mkdir(parents=True)
    (root / "usr/bin/python3.11").write_bytes(elf + b"3.11.7 (main, Jan  1 2024, 00:00:00) [GCC 12.2.0]\0")
    (root / "usr/bin/python3").symlink_to("python3.11")
    (root / "usr/lib/python3.11").mkdir(parents=True)
    (root / "usr/lib/python3.11/os.py").write_bytes(b"")
    site = root / "usr/lib/python3.11/site-packages"
    site.mkdir()
    return site


def files_of(site: Path) -> Dict[str, bytes]:
    """Every regular file under ``site`` by relative path (to build layers from)."""
    return {str(p.relative_to(site)): p.read_bytes() for p in sorted(site.rglob("*")) if p.is_file()}


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[List[str]]:
    """The files read to be hashed (each ``digest_fd`` call, by the file its descriptor is open on)."""
    from envcheck.verify import hashing

    seen: List[str] = []
    real = hashing.digest_fd

    def counting(fd: int, algorithm: str, size: int, buffer: bytearray) -> Tuple[bytes, int]:
        seen.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real(fd, algorithm, size, buffer)

    monkeypatch.setattr(hashing, "digest_fd", counting)
    yield seen
