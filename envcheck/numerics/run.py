"""Running the numerics battery in a child of the target's interpreter (``--numerics``), through the same
``Runner`` the import check uses: isolated (``-I``, a clean allow-listed environment that keeps the thread and
kernel variables), no network, bounded in time, memory and output. What it prints is parsed as hostile
(``envcheck.numerics.results``)."""

from __future__ import annotations

import dataclasses
import sys
from typing import Optional

from envcheck.evidence.interface import Runner
from envcheck.evidence.local import LocalRunner
from envcheck.evidence.runners import request_for
from envcheck.model import NumericsInfo
from envcheck.numerics.battery import SOURCE
from envcheck.numerics.results import NumericsError, parse_output
from envcheck.targets.factory import TargetSpec

#: Seconds the child may take: the battery takes about 4 s here, most of it importing torch and pandas when they
#: are there.
DEFAULT_TIMEOUT = 120.0
#: Bytes of output the child may print: the battery's line is about 20 KB.
MAX_OUTPUT = 256 << 10


def run_battery(runner: Runner, *, timeout: float = DEFAULT_TIMEOUT, max_output: int = MAX_OUTPUT) -> NumericsInfo:
    """Run the battery in a child of ``runner``'s interpreter; raises ``NumericsError`` (one line) when it
    cannot run, times out, prints too much or prints something that is not the battery's result, and
    ``RunnerError`` when the interpreter cannot be started."""
    done = runner.run(SOURCE, [], timeout, max_output)
    if done.timed_out:
        raise NumericsError(f"the numerics battery did not finish within {timeout:g} s")
    if done.output_limited:
        raise NumericsError(f"the numerics battery printed more than {max_output} bytes")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
        raise NumericsError(f"the numerics battery failed (exit status {done.returncode}): {last}")
    info = parse_output(done.stdout)
    limit = f"memory limit {done.memory_limit / (1 << 30):g} GiB" if done.memory_limit else "no memory limit"
    return dataclasses.replace(info, how=f"Python {info.python}, {done.network.describe()}, {limit}")


def runner_for(spec: TargetSpec, *, pid_exec: bool = False) -> Runner:
    """The runner for the target ``spec`` names (as ``--import`` picks it); raises ``NumericsError`` for a target
    read without running anything, or ``--pid`` without ``pid_exec``."""
    if spec.root is not None or spec.image_archive is not None:
        raise NumericsError(
            "--numerics runs the target's interpreter: --root and --image-archive are read without running "
            "anything (use --image, --container or --python)"
        )
    if (spec.pid is not None or spec.process_match is not None) and not pid_exec:
        raise NumericsError(
            "--numerics with --pid/--process-match runs the target's own interpreter inside its root from here: "
            "add --pid-exec to allow it (needs root), or use --container"
        )
    return request_for(spec, load_models=False, timeout=DEFAULT_TIMEOUT, pid_exec=pid_exec).runner


def local_runner(python: Optional[str] = None) -> Runner:
    """A child of ``python`` (default: this interpreter)."""
    return LocalRunner(python or sys.executable)
