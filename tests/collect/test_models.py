"""Model files: hashed as given, and odd names or file kinds are one-line errors, never a crash or a hang."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from envcheck.collect.models import ModelPathError, digest_models, sha256_file


def test_a_folder_is_hashed_file_by_file(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "b.bin").write_bytes(b"b")
    (tmp_path / "m" / "a.json").write_text("{}")
    os.mkfifo(tmp_path / "m" / "pipe")  # not a regular file: not a model file, and never opened
    found = digest_models([str(tmp_path / "m")])
    assert [Path(f.path).name for f in found] == ["a.json", "b.bin"]


def test_a_non_utf8_name_in_a_model_folder_is_an_error_naming_it(tmp_path: Path) -> None:
    """A lockfile cannot record the name, so it could never check the file again: say so instead of crashing."""
    folder = tmp_path / "model"
    folder.mkdir()
    with open(os.fsencode(folder) + b"/weights-\xff.bin", "wb") as f:
        f.write(b"w")
    with pytest.raises(ModelPathError, match="file name is not valid UTF-8"):
        digest_models([str(folder)])
    done = subprocess.run(
        [sys.executable, "-m", "envcheck", "snapshot", "-o", "-", "--model", "model"],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        b"envcheck: error: model/weights-\\udcff.bin: file name is not valid UTF-8 (a lockfile cannot record it); "
        b"rename it"
    ]


def test_a_fifo_is_never_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(ModelPathError, match="not a regular file"):
        digest_models([str(tmp_path / "pipe")])
    with pytest.raises(ModelPathError, match="not a regular file"):
        sha256_file(tmp_path / "pipe")  # a file swapped for a FIFO after the check: still no blocking read
