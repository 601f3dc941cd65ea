"""What every evidence check shares: how a child of the candidate's interpreter is run (``Runner``), what a run
gives back (``ChildRun``), how one item of a check ended (``Outcome``), and the errors.

An evidence check runs the candidate's own code (its imports, its model loaders), so it is opt-in, and always in
a child process of the candidate's interpreter, never in envcheck's: a ``Runner`` starts that child, feeds it a
self-contained, stdlib-only Python source on stdin, cuts its network, bounds its time, memory and output, and
reports what happened. ``LocalRunner`` runs an interpreter on this machine; a runner for containers implements
the same protocol.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Optional, Protocol, Sequence

from envcheck.errors import EnvcheckError


class EvidenceError(EnvcheckError):
    """An evidence check could not be run at all (what it found about an item is a result, not an error)."""


class RunnerError(EvidenceError):
    """The candidate's interpreter could not be started, or did not run the check's source."""


class Network(enum.Enum):
    """How the child was kept off the network."""

    NAMESPACE = "namespace"
    """A new, empty network namespace (``unshare --net``): no interface but a loopback that is down."""
    SOCKET_GUARD = "socket-guard"
    """No namespace could be made here: the child's ``socket`` module refuses to connect and resolve names
    (``connect``, ``connect_ex``, ``sendto``, ``sendmsg``, ``getaddrinfo``). Code that bypasses the ``socket``
    module (its own C calls) is not stopped."""
    CONTAINER = "container"
    """``docker exec`` in a running container: the child shares the container's own network namespace, which
    exec cannot cut; a guard in the child's ``socket`` module (as ``SOCKET_GUARD``) refuses connections and name
    lookups made through it."""

    def describe(self) -> str:
        """A phrase for reports: how the network was cut."""
        if self is Network.NAMESPACE:
            return "a network namespace of its own (no network)"
        if self is Network.SOCKET_GUARD:
            return "a guard in the socket module (no namespace could be made here)"
        if self is Network.CONTAINER:
            return "the container's own network (docker exec cannot cut it; a guard in the socket module)"
        raise AssertionError(self)  # pragma: no cover - exhaustive


class Outcome(enum.Enum):
    """How one item of a check (a module imported, a model file loaded) ended."""

    OK = "ok"
    ERROR = "error"
    """The code raised: ``error`` holds the exception's type and the last line of its message."""
    TIMEOUT = "timeout"
    """The child was still at it when the time ran out, and was killed."""
    CRASHED = "crashed"
    """The interpreter died at it: killed by a signal (a segfault, an abort) or exited."""
    OUTPUT_LIMIT = "output-limit"
    """It printed more than the output bound, and the child was killed there."""
    SKIPPED = "skipped"
    """Not attempted (a model file of a kind no loader is known for)."""


@dataclass(frozen=True)
class ChildRun:
    """One run of a child of the candidate's interpreter, as its runner saw it."""

    returncode: int
    """The child's exit status; negative: killed by that signal (by the runner when ``timed_out`` or
    ``output_limited``)."""
    stdout: str
    stderr: str
    timed_out: bool
    output_limited: bool
    """stdout and stderr together passed ``max_output`` bytes: the child was killed there, output cut."""
    network: Network
    memory_limit: Optional[int]
    """The child's address-space limit in bytes; None: none was set."""


class Runner(Protocol):
    """Runs a Python source in a child of the candidate's interpreter.

    The source is self-contained and stdlib-only (Python 3.8 syntax), given on the child's stdin; ``args`` are
    its ``sys.argv[1:]``. The child runs isolated as the serving process would start (``-I``: no ``PYTHON*``
    variables, no user site, but ``site`` and the candidate's ``.pth`` files do run), in a clean environment
    (allow-listed variables only, never the caller's secrets), without network, for at most ``timeout`` seconds
    and ``max_output`` bytes of output, its whole process group killed past either."""

    def run(self, source: str, args: Sequence[str], timeout: float, max_output: int) -> ChildRun:
        """Run ``source`` with ``args``; raises ``RunnerError`` when the child cannot be started."""
        ...
