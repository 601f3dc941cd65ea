"""``envcheck export`` as a user runs it: a real process, stdout or ``-o``, one line and exit 2 on an error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from envcheck.cli import cli
from envcheck.exporters import FORMATS, Format, export
from tests.export.conftest import H200_LOCK, Snap


def envcheck(*args: str, code: str = "") -> subprocess.CompletedProcess[str]:
    """``python -m envcheck ARGS``; with ``code``, that code runs first in the same process."""
    launch = f"{code}\nfrom envcheck.cli import main\nmain({list(args)!r})" if code else None
    command = [sys.executable, "-c", launch] if launch else [sys.executable, "-m", "envcheck", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_stdout_and_output_file_hold_the_same_bytes(snap: Snap, tmp_path: Path) -> None:
    for fmt in FORMATS:
        printed = envcheck("export", str(snap.lock), "--format", fmt)
        assert printed.returncode == 0, printed.stderr
        assert printed.stderr == ""
        out = tmp_path / f"out.{fmt}.json"
        written = envcheck("export", str(snap.lock), "--format", fmt, "-o", str(out))
        assert written.returncode == 0, written.stderr
        assert out.read_text(encoding="utf-8") == printed.stdout == export(snap.fp, fmt).text


def test_every_format_is_offered_and_renders(snap: Snap) -> None:
    command = cli.commands["export"]
    (option,) = [p for p in command.params if p.name == "fmt"]
    assert isinstance(option.type, click.Choice)
    assert tuple(option.type.choices) == FORMATS
    for member in Format:
        assert json.loads(export(snap.fp, member.value).text)


def test_no_models_is_one_line_and_exit_2() -> None:
    done = envcheck("export", str(H200_LOCK), "--format", "in-toto")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("envcheck: error: ")
    assert "needs a subject" in done.stderr


def test_hostile_lockfile_warns_and_exports(h200: Any, tmp_path: Path) -> None:
    import dataclasses

    from envcheck import lockfile
    from envcheck.model import Package

    lock = tmp_path / "hostile.lock"
    lockfile.write(dataclasses.replace(h200, packages=(Package(name="bad\nname", version="1"),)), lock)
    done = envcheck("export", str(lock))
    assert done.returncode == 0, done.stderr
    assert done.stderr == "envcheck: warning: package 'bad\\nname' '1' left out: not a valid project name\n"
    assert json.loads(done.stdout)["bomFormat"] == "CycloneDX"


def test_without_the_library_cyclonedx_says_how_to_install_it(snap: Snap) -> None:
    hide = "import sys\nsys.modules['cyclonedx'] = None"  # import cyclonedx now fails as when not installed
    done = envcheck("export", str(H200_LOCK), "--format", "cyclonedx", code=hide)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert "needs cyclonedx-python-lib" in done.stderr and "pip install 'envcheck[sbom]'" in done.stderr
    # in-toto needs no extra library
    attested = envcheck("export", str(snap.lock), "--format", "in-toto", code=hide)
    assert attested.returncode == 0, attested.stderr
    assert json.loads(attested.stdout)["subject"][0]["digest"]["sha256"] == snap.model_sha256


def test_unreadable_lockfile_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = envcheck("export", str(tmp_path / "missing.lock"))
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "missing.lock" in done.stderr
