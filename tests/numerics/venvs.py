"""Virtual environments of this interpreter for the tests that run the battery (or a model server) with an optional
accelerator beside pandas: bottleneck installed from the package index into a folder of its own, and a venv whose
``.pth`` file adds this interpreter's site-packages and, when asked, that folder.

A ``.pth`` file rather than ``PYTHONPATH``: envcheck's children run ``python -I``, which ignores ``PYTHONPATH`` but
still reads the site-packages' ``.pth`` files, as any server started from the venv does."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path
from typing import Sequence


def install_bottleneck(folder: Path) -> Path:
    """``folder`` holding bottleneck alone (numpy is this interpreter's), a wheel from the package index."""
    args = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--only-binary=:all:", "--target"]
    done = subprocess.run([*args, str(folder), "bottleneck"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"could not install bottleneck from the index: {done.stderr[-2000:]}"
    assert (folder / "bottleneck").is_dir(), sorted(p.name for p in folder.iterdir())
    return folder


def pth_venv(folder: Path, extra: Sequence[Path] = ()) -> Path:
    """A venv in ``folder`` (its interpreter a link to this one's binary) whose ``.pth`` file adds this
    interpreter's site-packages, then ``extra``; returns its ``python``."""
    venv.create(folder, system_site_packages=True, with_pip=False, symlinks=True)
    site = sorted(folder.glob("lib/python3*/site-packages"))[0]
    write_pth(site / "battery.pth", extra)
    return folder / "bin" / "python"


def write_pth(pth: Path, extra: Sequence[Path] = ()) -> None:
    """(Re)write the venv's ``.pth`` file: this interpreter's site-packages, then ``extra``."""
    lines = [sysconfig.get_paths()["purelib"], *map(str, extra)]
    pth.write_text("".join(f"{line}\n" for line in lines))
