"""``check --pid N --import --pid-exec``: the target process's own interpreter, run inside its root (chroot, as
root: CI runs as root), imports what the model needs; without ``--pid-exec`` the command refuses in one line."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path
from typing import Iterator

import pytest

from envcheck import api, capture
from envcheck.evidence.runners import request_for
from envcheck.policy import Policy
from envcheck.targets.factory import TargetSpec
from envcheck.targets.pid import PidTarget
from tests.conftest import build_wheel, install_wheels

DTYPE = "numpy.dtype size changed, may indicate binary incompatibility"


@pytest.fixture(scope="module")
def server_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pid-exec")
    wheels = root / "wheels"
    build_wheel(wheels, "servelib", "1.0")
    build_wheel(
        wheels, "brokenlib", "1.0", files={"brokenlib/__init__.py": f"raise ValueError({DTYPE!r})\n".encode()}
    )
    env = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    install_wheels(python, "servelib", "brokenlib", find_links=wheels)
    return python


@pytest.fixture()
def server(server_venv: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [str(server_venv), "-c", "import time, servelib\nprint('ready', flush=True)\ntime.sleep(120)"],
        stdout=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "2"},
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    proc.stdout.close()
    yield proc
    proc.kill()
    proc.wait()


@pytest.mark.slow
def test_the_process_s_own_interpreter_imports_inside_its_root(server: subprocess.Popen[bytes]) -> None:
    lock = capture.take(PidTarget(server.pid), hardware=lambda: ())
    request = request_for(TargetSpec(pid=server.pid), load_models=False, timeout=60, pid_exec=True)
    policy = Policy(model_critical=frozenset(["servelib", "brokenlib"]))
    report = api.check(lock, target=PidTarget(server.pid), policy=policy, evidence=request, loaded=False)
    (failed,) = [f for f in report.findings if f.id == "evidence.import.failed"]
    assert failed.subject == "brokenlib" and DTYPE in failed.message
    (line,) = report.evidence
    assert line.startswith("import check: 1 of 2 modules imported, failed: brokenlib")
    assert "/venv/bin/python" in line


@pytest.mark.slow
def test_without_pid_exec_the_command_refuses_in_one_line(server: subprocess.Popen[bytes], tmp_path: Path) -> None:
    lock = tmp_path / "envcheck.lock"
    done = subprocess.run(
        [sys.executable, "-m", "envcheck", "snapshot", "--pid", str(server.pid), "-o", str(lock)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for extra in ([], ["--pid-exec"]):
        args = ["check", str(lock), "--import", *extra]
        if not extra:
            args += ["--pid", str(server.pid)]
        done = subprocess.run(
            [sys.executable, "-m", "envcheck", *args], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr.count("\n") == 1 and "--pid-exec" in done.stderr and "Traceback" not in done.stderr
