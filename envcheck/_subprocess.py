"""The one way envcheck runs another program: bounded in time, with a typed error that carries stderr."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence


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
