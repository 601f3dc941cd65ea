"""Real model servers for the end-to-end canary tests, started here on free loopback ports: ``mlflow models
serve`` (``mlflow_serve``) or any command (``Served``), each in its own session so that teardown kills the whole
process group (MLflow's CLI starts uvicorn as a child; a left-over worker would hold the port and the CPU).

Every child here gets this environment without ``OPENBLAS_*`` and ``OMP_*`` variables (``clean_environ``): the
tests change the serving environment on purpose, so what CI happens to set must not change it by accident."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence

import pytest

#: The folder of this interpreter's scripts (``mlflow``, ``uvicorn``): put first on the servers' PATH.
BIN = Path(sys.executable).parent
#: Variables that choose BLAS kernels and thread counts, left out of every child's environment.
NUMERIC_PREFIXES = ("OPENBLAS_", "OMP_")


def clean_environ(extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """This process's environment without ``NUMERIC_PREFIXES`` variables, ``BIN`` first on PATH, then
    ``extra``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(NUMERIC_PREFIXES)}
    environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**environ, **(extra or {})}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def train(source: str, folder: Path, seed: int) -> Path:
    """Run the training script ``source`` (argv: ``folder`` to write, ``seed``) in a child of this interpreter."""
    # in the temporary folder: some mlflow releases make an mlruns/ folder in the working directory
    done = subprocess.run(
        [sys.executable, "-c", source, str(folder), str(seed)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=folder.parent,
        env=clean_environ(),
    )
    assert done.returncode == 0, f"training failed: {done.stderr[-2000:]}"
    return folder


def envcheck(
    *args: str, cwd: Optional[Path] = None, env: Optional[Mapping[str, str]] = None
) -> subprocess.CompletedProcess[str]:
    """``python -m envcheck ARGS`` in a clean environment (plus ``env``)."""
    command = [sys.executable, "-m", "envcheck", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd, env=clean_environ(env))


class Served:
    """``command`` serving on ``port`` of 127.0.0.1, ready once ``GET ready`` answers 200; killed (its whole
    process group: SIGTERM, then SIGKILL) when left. Its output goes to ``log``, shown when it does not start."""

    def __init__(
        self,
        command: Sequence[str],
        port: int,
        *,
        ready: str,
        log: Path,
        env: Optional[Mapping[str, str]] = None,
        label: str = "the server",
        wait_s: float = 120.0,
    ) -> None:
        self.port = port
        self.ready = ready
        self.log = log
        self.label = label
        self.wait_s = wait_s
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                list(command),
                env=clean_environ(env),
                cwd=log.parent,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError as e:
            return f"(no log: {e})"

    def __enter__(self) -> Served:
        deadline = time.monotonic() + self.wait_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.__exit__()
                pytest.fail(f"{self.label} exited with {self.process.returncode}:\n{self._tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}{self.ready}", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.__exit__()
        pytest.fail(f"{self.label} did not answer {self.ready} within {self.wait_s:g} s:\n{self._tail()}")

    def __exit__(self, *exc: object) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)
        except ProcessLookupError:
            pass
        with contextlib.suppress(ProcessLookupError):  # a child that outlived the leader still holds the group
            os.killpg(self.process.pid, signal.SIGKILL)


def mlflow_serve(model: Path, env: Optional[Mapping[str, str]] = None) -> Served:
    """``mlflow models serve --env-manager local`` of the MLflow model folder ``model``, on a free port."""
    port = free_port()
    command = [str(BIN / "mlflow"), "models", "serve", "--env-manager", "local", "-m", str(model)]
    return Served(
        [*command, "-h", "127.0.0.1", "-p", str(port)],
        port,
        ready="/ping",
        log=model.parent / f"{model.name}-serve-{port}.log",
        env=env,
        label="mlflow models serve",
    )
