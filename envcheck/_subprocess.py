"""The one way envcheck runs another program: bounded in time, with a typed error that carries stderr."""

from __future__ import annotations

import contextlib
import os
import resource
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


class RunError(Exception):
    """The program could not be started or did not finish in time."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr


def run(
    args: Sequence[str],
    *,
    input: Optional[str] = None,
    timeout: float = 60.0,
    env: Optional[Mapping[str, str]] = None,
) -> Completed:
    """Run ``args`` and return its exit code and output; never raises for a non-zero exit."""
    try:
        proc = subprocess.run(
            list(args),
            input=input,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            env=None if env is None else dict(env),
            check=False,
        )
    except FileNotFoundError as e:
        raise RunError(f"{args[0]}: no such file") from e
    except PermissionError as e:
        raise RunError(f"{args[0]}: permission denied (not executable?)") from e
    except OSError as e:
        raise RunError(f"{args[0]}: cannot run ({e.strerror or e})") from e
    except subprocess.TimeoutExpired as e:
        raise RunError(f"{args[0]}: no answer within {timeout:g} s") from e
    return Completed(proc.returncode, proc.stdout, proc.stderr)


class Started:
    """A program ``start`` began: ``result`` waits for it as ``run`` would have, ``cancel`` ends it."""

    def __init__(self, args: Sequence[str], proc: subprocess.Popen[str], input: str, timeout: float) -> None:
        self._args, self._proc, self._input = list(args), proc, input
        self._deadline = time.monotonic() + timeout
        self._timeout = timeout

    def result(self) -> Completed:
        try:
            out, err = self._proc.communicate(self._input, timeout=max(0.0, self._deadline - time.monotonic()))
        except subprocess.TimeoutExpired as e:
            self.cancel()
            raise RunError(f"{self._args[0]}: no answer within {self._timeout:g} s") from e
        return Completed(self._proc.returncode, out, err)

    def cancel(self) -> None:
        with contextlib.suppress(OSError):
            self._proc.kill()
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            self._proc.communicate(timeout=5)


def start(args: Sequence[str], *, input: str = "", timeout: float = 60.0) -> Optional[Started]:
    """``run``, begun now and waited for later (``Started.result``); None where the program cannot start (``run``
    then raises the error that says why)."""
    try:
        proc = subprocess.Popen(
            list(args),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return Started(args, proc, input, timeout)


@dataclass(frozen=True)
class Bounded:
    """What a bounded run gave: the output read before the end, and why it ended."""

    returncode: int
    """The exit status; negative: killed by that signal (by envcheck when ``timed_out`` or ``truncated``)."""
    stdout: str
    stderr: str
    timed_out: bool
    """The time ran out: the process group was killed."""
    truncated: bool
    """stdout and stderr together passed ``max_output`` bytes: the process group was killed there, and the output
    is cut at that size."""


#: After the program exits, how long its output may stay open (a child it left behind holds it) before envcheck
#: stops reading and kills what is left of its process group.
_EXIT_GRACE_S = 0.5
_CHUNK = 65536


def run_bounded(
    args: Sequence[str],
    *,
    input: Optional[str] = None,
    timeout: float = 60.0,
    max_output: int = 1 << 20,
    env: Optional[Mapping[str, str]] = None,
    cwd: Optional[str] = None,
    memory_limit: Optional[int] = None,
) -> Bounded:
    """Run ``args`` in a process group of its own and return its exit status and output, bounded: at most
    ``timeout`` seconds and ``max_output`` bytes of stdout and stderr together, after which the whole process
    group is killed; ``memory_limit`` bytes of address space (``RLIMIT_AS``) when given. ``input`` is written to
    its stdin. Never raises for a non-zero exit, a timeout or too much output (see ``Bounded``); raises
    ``RunError`` when the program cannot start."""
    preexec = None if memory_limit is None else _address_space_limit(memory_limit)
    try:
        proc = subprocess.Popen(
            list(args),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=None if env is None else dict(env),
            cwd=cwd,
            start_new_session=True,
            preexec_fn=preexec,
        )
    except FileNotFoundError as e:
        raise RunError(f"{args[0]}: no such file") from e
    except PermissionError as e:
        raise RunError(f"{args[0]}: permission denied (not executable?)") from e
    except (OSError, subprocess.SubprocessError) as e:
        raise RunError(f"{args[0]}: cannot run ({getattr(e, 'strerror', None) or e})") from e
    try:
        out, err, timed_out, truncated = _pump(proc, (input or "").encode("utf-8"), timeout, max_output)
    finally:
        _kill_group(proc)
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    text = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    return Bounded(proc.returncode, text[0], text[1], timed_out, truncated)


def _pump(
    proc: subprocess.Popen[bytes], payload: bytes, timeout: float, max_output: int
) -> tuple[bytes, bytes, bool, bool]:
    """Feed ``payload`` to the process and read its stdout and stderr until both end, the time runs out, the
    output passes ``max_output``, or the process has exited and left its output open for ``_EXIT_GRACE_S``."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    chunks: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
    total = 0
    sent = 0
    deadline = time.monotonic() + timeout
    exited_at: Optional[float] = None
    with selectors.DefaultSelector() as selector:
        if payload:
            os.set_blocking(proc.stdin.fileno(), False)
            selector.register(proc.stdin, selectors.EVENT_WRITE, "stdin")
        else:
            proc.stdin.close()
        selector.register(proc.stdout, selectors.EVENT_READ, "stdout")
        selector.register(proc.stderr, selectors.EVENT_READ, "stderr")
        while any(key.data != "stdin" for key in selector.get_map().values()):
            now = time.monotonic()
            if now >= deadline:
                return b"".join(chunks["stdout"]), b"".join(chunks["stderr"]), True, False
            if exited_at is None and _has_exited(proc.pid):
                exited_at = now
            if exited_at is not None and now - exited_at >= _EXIT_GRACE_S:
                break
            for key, _ in selector.select(min(deadline - now, 0.1)):
                stream = key.fileobj
                assert not isinstance(stream, int)
                if key.data == "stdin":
                    try:
                        sent += os.write(stream.fileno(), payload[sent : sent + _CHUNK])
                    except BlockingIOError:
                        continue
                    except OSError:  # the program closed its stdin (BrokenPipeError) or died
                        sent = len(payload)
                    if sent >= len(payload):
                        selector.unregister(stream)
                        proc.stdin.close()
                    continue
                data = os.read(stream.fileno(), _CHUNK)
                if not data:
                    selector.unregister(stream)
                    continue
                chunks[key.data].append(data[: max_output - total])
                total += len(data)
                if total > max_output:
                    return b"".join(chunks["stdout"]), b"".join(chunks["stderr"]), False, True
    return b"".join(chunks["stdout"]), b"".join(chunks["stderr"]), False, False


def _has_exited(pid: int) -> bool:
    """True once ``pid`` has exited, without reaping it: its process group stays safe to kill until it is."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill what is left of the process group the program leads (it is not reaped yet, so the id is still its)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _address_space_limit(limit: int) -> Callable[[], None]:
    """A function for ``preexec_fn`` that caps the child's address space at ``limit`` bytes (or the hard limit
    already in force, if lower). Computed before the fork: the function only calls ``setrlimit``."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    value = limit if hard == resource.RLIM_INFINITY else min(limit, hard)

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (value, value))

    return apply
