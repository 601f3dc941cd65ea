"""The default target records the environment its process was launched with, not what imported libraries set on
themselves afterwards (scikit-learn sets KMP_DUPLICATE_LIB_OK and KMP_INIT_AT_FORK at import)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from envcheck import lockfile
from envcheck.targets.local import LocalTarget, launch_environ, parse_environ_block, plausible


@pytest.fixture
def sklearn_on_import() -> Iterator[None]:
    """What scikit-learn's __init__ does to os.environ, undone afterwards."""
    saved = {k: os.environ.get(k) for k in ("KMP_DUPLICATE_LIB_OK", "KMP_INIT_AT_FORK")}
    os.environ.setdefault("KMP_DUPLICATE_LIB_OK", "True")
    os.environ.setdefault("KMP_INIT_AT_FORK", "FALSE")
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/environ is Linux's")
def test_variables_set_in_process_are_not_recorded(sklearn_on_import: None) -> None:
    if "KMP_DUPLICATE_LIB_OK" in parse_environ_block(Path("/proc/self/environ").read_bytes()):
        pytest.fail("the test runner was launched with KMP_DUPLICATE_LIB_OK: this test cannot tell")
    data = LocalTarget().probe()
    assert "KMP_DUPLICATE_LIB_OK" not in data["env"]["variables"]
    assert "KMP_INIT_AT_FORK" not in data["env"]["variables"]
    assert "/proc/self/environ" in data["sources"]["env"]["detail"]


def test_a_launch_variable_is_recorded_as_launched(tmp_path: Path) -> None:
    proc = tmp_path / "self"
    proc.mkdir()
    (proc / "environ").write_bytes(b"PATH=/usr/bin\0OMP_NUM_THREADS=4\0KMP_BLOCKTIME=0\0")
    environ, where = launch_environ(str(tmp_path), {"PATH": "/usr/bin", "OMP_NUM_THREADS": "8", "KMP_X": "1"})
    assert (dict(environ), where) == (
        {"PATH": "/usr/bin", "OMP_NUM_THREADS": "4", "KMP_BLOCKTIME": "0"},
        "/proc/self/environ",
    )


def test_without_proc_the_current_environment_is_used(tmp_path: Path) -> None:
    current = {"OMP_NUM_THREADS": "2"}
    environ, where = launch_environ(str(tmp_path / "none"), current)
    assert environ is current
    assert where.startswith("os.environ: ") and "unreadable" in where


def test_a_rewritten_environ_block_is_not_trusted(tmp_path: Path) -> None:
    """setproctitle moves the environment and writes the process title over the block: not the launch one."""
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "environ").write_bytes(b"gunicorn: worker [app]\0\0\0\0")
    current = {"PATH": "/bin", "HOME": "/root", "OMP_NUM_THREADS": "1"}
    environ, where = launch_environ(str(tmp_path), current)
    assert environ is current and "does not hold the launch environment" in where


@pytest.mark.parametrize(
    "launch,current,ok",
    [
        ({}, {}, True),
        ({}, {"A": "1"}, False),
        ({"A": "1", "B": "2"}, {"A": "1", "B": "2", "KMP_DUPLICATE_LIB_OK": "True"}, True),
        ({"X": "1"}, {"A": "1", "B": "2", "C": "3"}, False),
    ],
    ids=["both-empty", "block-empty", "libraries-added-one", "unrelated"],
)
def test_plausible(launch: dict[str, str], current: dict[str, str], ok: bool) -> None:
    assert plausible(launch, current) is ok


def test_parse_environ_block_decodes_as_os_environ() -> None:
    raw = b"A=1\0B=x=y\0novalue\0C=caf\xc3\xa9\0D=\xff\0"
    assert parse_environ_block(raw) == {"A": "1", "B": "x=y", "C": "café", "D": os.fsdecode(b"\xff")}


#: Imported before the snapshot, each sets variables on itself as scikit-learn does (the real one where installed).
_LIBRARIES = ["a library that sets KMP_* at import"] + (
    ["scikit-learn"] if importlib.util.find_spec("sklearn") is not None else []
)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/environ is Linux's")
@pytest.mark.parametrize("library", _LIBRARIES)
def test_snapshot_inside_a_training_process_records_its_launch_environment(tmp_path: Path, library: str) -> None:
    fake = tmp_path / "lib" / "fakesk.py"
    fake.parent.mkdir()
    fake.write_text(
        "import os\n"
        "os.environ.setdefault('KMP_DUPLICATE_LIB_OK', 'True')\n"
        "os.environ.setdefault('KMP_INIT_AT_FORK', 'FALSE')\n"
        "os.environ['OMP_NUM_THREADS'] = '1'\n"
    )
    module = "sklearn" if library == "scikit-learn" else "fakesk"
    code = f"import {module}\nimport os\nassert 'KMP_DUPLICATE_LIB_OK' in os.environ\nimport envcheck\n"
    code += "envcheck.snapshot('train.lock')\n"
    launch = {k: v for k, v in os.environ.items() if not k.startswith(("KMP_", "OMP_"))}
    launch["PYTHONPATH"] = os.pathsep.join([str(fake.parent), *filter(None, [os.environ.get("PYTHONPATH")])])
    launch["OMP_NUM_THREADS"] = "8"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=launch, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    fp = lockfile.read(tmp_path / "train.lock")
    assert not [name for name in fp.env.variables if name.startswith("KMP_")]
    assert fp.env.variables["OMP_NUM_THREADS"] == "8"  # as launched
    # Checked from outside (the CLI, as CI and the sidecar do), the same environment is quiet.
    check = subprocess.run(
        [sys.executable, "-m", "envcheck", "check", "train.lock", "--fail-on", "low", "--format", "json"],
        cwd=tmp_path,
        env=launch,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert check.returncode in (0, 1), check.stderr
    findings = json.loads(check.stdout)["findings"]
    assert [f for f in findings if f["component"] == "env"] == []
