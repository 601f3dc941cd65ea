"""envcheck._subprocess.run_bounded: time, output and memory bounds that kill the whole process group."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from envcheck._subprocess import RunError, run_bounded


def _state(pid: int) -> str:
    """A process's state letter, or "gone"; a killed orphan may linger as a zombie where no init reaps it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def test_output_and_exit_status() -> None:
    done = run_bounded([sys.executable, "-c", "import sys; print('out'); sys.stderr.write('err'); sys.exit(3)"])
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err")
    assert not done.timed_out and not done.truncated


def test_input_larger_than_a_pipe_buffer() -> None:
    code = "import sys; data = sys.stdin.read(); print(len(data), data[-3:])"
    done = run_bounded([sys.executable, "-c", code], input="y" * 3_000_000 + "end")
    assert done.stdout == "3000003 end\n"


def test_a_program_that_ignores_its_input() -> None:
    done = run_bounded([sys.executable, "-c", "import os; os.close(0); print('done')"], input="z" * 3_000_000)
    assert done.stdout == "done\n" and done.returncode == 0


def test_too_much_output_kills_the_group_and_cuts_the_output() -> None:
    code = "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * (1 << 20))\n"
    done = run_bounded([sys.executable, "-c", code], max_output=1 << 20)
    assert done.truncated and not done.timed_out
    assert len(done.stdout) + len(done.stderr) == 1 << 20
    assert done.returncode == -9


def test_the_timeout_kills_the_whole_process_group() -> None:
    done = run_bounded(["sh", "-c", "sleep 60 & echo $!; sleep 60"], timeout=1)
    assert done.timed_out and done.returncode == -9
    grandchild = int(done.stdout)
    for _ in range(100):  # SIGKILL lands asynchronously: give it up to 10 s to take effect
        if _state(grandchild) in ("Z", "X", "gone"):
            break
        time.sleep(0.1)
    assert _state(grandchild) in ("Z", "X", "gone")


def test_a_child_left_behind_does_not_hold_the_run_open() -> None:
    """The program exits at once; the child it leaves holds its stdout: the run ends anyway, not by timeout."""
    done = run_bounded(["sh", "-c", "echo started; sleep 60 &"], timeout=30)
    assert not done.timed_out and done.returncode == 0 and done.stdout == "started\n"


def test_the_memory_limit() -> None:
    code = "import mmap; mmap.mmap(-1, 2 << 30); print('mapped')"
    assert run_bounded([sys.executable, "-c", code], memory_limit=None).stdout == "mapped\n"
    limited = run_bounded([sys.executable, "-c", code], memory_limit=1 << 30)
    assert limited.returncode == 1 and "Cannot allocate memory" in limited.stderr


def test_the_environment_and_folder_are_the_given_ones(tmp_path: Path) -> None:
    code = "import os; print(sorted(os.environ.items())); print(os.getcwd())"
    done = run_bounded([sys.executable, "-c", code], env={"ONLY": "this"}, cwd=str(tmp_path))
    lines = done.stdout.splitlines()
    assert ("ONLY", "this") in eval(lines[0]) and "HOME" not in lines[0]
    assert lines[1] == str(tmp_path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nonexistent/python"], "no such file"),
        ([os.devnull], "permission denied"),
    ],
    ids=["missing", "not-executable"],
)
def test_a_program_that_cannot_start(args: list[str], message: str) -> None:
    with pytest.raises(RunError, match=message):
        run_bounded(args)
