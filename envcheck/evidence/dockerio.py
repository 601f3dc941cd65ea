"""The pure parts of ``DockerRunner`` (``envcheck.evidence.docker``): the program a child runs in a container,
the small programs that choose its backstop and clean up after it, the files the arguments name (mounted into an
image's container and mapped back), and the engine's multiplexed output stream."""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from envcheck.evidence.local import _SOCKET_GUARD

#: The most bytes of one command-line argument sent as such (Linux refuses one over 128 KiB, MAX_ARG_STRLEN);
#: past it, or past ``ARGS_LIMIT`` in all, the source and arguments go through stdin.
ARG_LIMIT = 100_000
ARGS_LIMIT = 1_000_000
#: Where the files named in the arguments are mounted in an image's container.
MOUNT_ROOT = "/envcheck-models"
_HEAD = (
    "import sys\n"
    "if sys.version_info < (3, 8):\n"
    "    sys.stderr.write('envcheck-too-old %d.%d\\n' % sys.version_info[:2]); sys.exit(3)\n"
)
_EXEC = "exec(compile(src, 'envcheck-evidence', 'exec'), {'__name__': '__main__'})\n"
_FROM_ARGV = "sys.argv = ['envcheck-evidence'] + sys.argv[1:]\n"
_FROM_STDIN = (
    "import json as _envcheck_json\n"
    "_envcheck_job = _envcheck_json.loads(sys.stdin.buffer.read().decode('utf-8'))\n"
    "src = _envcheck_job['source']; sys.argv = ['envcheck-evidence'] + list(_envcheck_job['args'])\n"
    "del _envcheck_json, _envcheck_job\n"
)
# Run in the container to choose the backstop: GNU timeout on PATH (busybox's and toybox's do not kill the group).
# Valid Python 2 as well: it runs before the version is known.
DISCOVER = (
    "import os, sys\n"
    "found = ''\n"
    "for folder in os.environ.get('PATH', os.defpath).split(os.pathsep):\n"
    "    path = os.path.join(folder, 'timeout')\n"
    "    if folder and os.path.isfile(path) and os.access(path, os.X_OK):\n"
    "        found = path\n"
    "        break\n"
    "if found and os.path.basename(os.path.realpath(found)) in ('busybox', 'toybox'):\n"
    "    found = ''\n"
    "sys.stdout.write('envcheck-timeout:' + found + '\\n')\n"
)
# Kills what a run left in a running container: the processes whose command line holds the token (argv[1]), and
# the process groups they lead (children of the checked code included), never a group it does not lead.
REAPER = (
    "import os, signal, sys\n"
    "token = sys.argv[1].encode('ascii')\n"
    "me = os.getpid()\n"
    "hits = []\n"
    "for name in os.listdir('/proc'):\n"
    "    if not name.isdigit() or int(name) == me:\n"
    "        continue\n"
    "    try:\n"
    "        with open('/proc/' + name + '/cmdline', 'rb') as f:\n"
    "            if token in f.read():\n"
    "                hits.append(int(name))\n"
    "    except (IOError, OSError):\n"
    "        pass\n"
    "for pid in hits:\n"
    "    try:\n"
    "        group = os.getpgid(pid)\n"
    "        if group in hits:\n"
    "            os.killpg(group, signal.SIGKILL)\n"
    "        else:\n"
    "            os.kill(pid, signal.SIGKILL)\n"
    "    except OSError:\n"
    "        pass\n"
)
NOT_FOUND = ("executable file not found", "no such file or directory")


def missing_executable(text: str) -> bool:
    """Whether the engine or docker-init says the program to run is not there."""
    lowered = text.lower()
    return any(marker in lowered for marker in NOT_FOUND)


def bootstrap(
    token: str,
    source: Optional[str],
    *,
    memory_limit: Optional[int] = None,
    alarm: Optional[int] = None,
    guard: bool = False,
) -> str:
    """The ``-c`` program of a child: the version check, a comment with ``token`` (the reaper finds the child by
    it), then optionally an address-space limit, a process group of its own and an alarm, the socket guard; then
    the check's ``source`` (embedded; None: read with the arguments from stdin as JSON ``{"source", "args"}``),
    run as ``__main__`` with ``sys.argv = ['envcheck-evidence', *args]``. Parses as Python 2 too, so that an old
    interpreter reaches the version check."""
    parts = [_HEAD, f"# envcheck-run {token}\n"]
    if memory_limit is not None:
        parts.append(
            "import resource\n"
            "try:\n"
            f"    resource.setrlimit(resource.RLIMIT_AS, ({memory_limit}, {memory_limit}))\n"
            "except (ValueError, OSError):\n"
            "    pass\n"
        )
    if alarm is not None:
        # a group of its own, so that the reaper kills the children of the checked code with it
        parts.append(
            f"import os, signal\ntry:\n    os.setpgid(0, 0)\nexcept OSError:\n    pass\nsignal.alarm({alarm})\n"
        )
    if guard:
        parts.append(_SOCKET_GUARD)
    parts.append(_FROM_STDIN if source is None else f"src = {source!a}\n" + _FROM_ARGV)
    parts.append(_EXEC)
    return "".join(parts)


def fits_command_line(args: Sequence[str]) -> bool:
    """Whether ``args`` can be passed as a command line (each under ``ARG_LIMIT`` bytes, all under
    ``ARGS_LIMIT``)."""
    sizes = [len(a.encode("utf-8")) + 1 for a in args]
    return max(sizes, default=0) <= ARG_LIMIT and sum(sizes) <= ARGS_LIMIT


def returncode(status: int) -> int:
    """Docker's exit status as ``subprocess`` gives it: 128 + N (killed by signal N) as -N."""
    return -(status - 128) if 128 < status <= 128 + 64 else status


# --- files named in the arguments --------------------------------------------------------------------------------


# --- files named in the arguments --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mounts:
    """The files of a run bind-mounted into its container, and the arguments rewritten to them."""

    args: Tuple[str, ...]
    files: Tuple[Tuple[str, str], ...] = ()
    """(host path as given, path inside), one per file."""

    def restore(self, text: str, *, json_escaped: bool = False) -> str:
        """``text`` with each inside path replaced by its host path (as a JSON string's content if
        ``json_escaped``: the child's events are JSON lines)."""
        for host, inside in self.files:
            text = text.replace(inside, json.dumps(host)[1:-1] if json_escaped else host)
        return text


def _inside_name(index: int, host: str) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(host))[:100].lstrip(".") or "file"
    return f"{MOUNT_ROOT}/{index}/{name}"


def plan_mounts(args: Sequence[str], is_file: Callable[[str], bool]) -> Mounts:
    """Which arguments name a file to mount: an argument, or a string anywhere in an argument that is JSON, that
    is an absolute path for which ``is_file`` holds. Each becomes ``/envcheck-models/N/NAME`` (its name made
    ASCII-safe, its extension kept: the loaders tell a format by it)."""
    table: Dict[str, str] = {}

    def swap(value: Any) -> Any:
        if isinstance(value, str):
            if value not in table and value.startswith("/") and is_file(value):
                table[value] = _inside_name(len(table), value)
            return table.get(value, value)
        if isinstance(value, list):
            return [swap(v) for v in value]
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        return value

    out: List[str] = []
    for arg in args:
        try:
            parsed = json.loads(arg)
        except (ValueError, RecursionError):
            out.append(swap(arg))
            continue
        if isinstance(parsed, (list, dict)):
            before = len(table)
            swapped = swap(parsed)
            out.append(json.dumps(swapped) if len(table) > before else arg)
        else:
            out.append(swap(arg))
    return Mounts(tuple(out), tuple(table.items()))


_STDOUT, _STDERR = 1, 2


# --- the engine's multiplexed stream -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Streamed:
    """What a child printed on the attach socket, bounded."""

    stdout: bytes
    stderr: bytes
    timed_out: bool
    output_limited: bool


class FrameReader:
    """Splits the engine's multiplexed stream (8-byte headers: stream, 0, 0, 0, big-endian size) into stdout and
    stderr, keeping at most ``max_output`` bytes of both together."""

    def __init__(self, max_output: int) -> None:
        self.max_output = max_output
        self.pending = bytearray()
        self.out: Dict[int, List[bytes]] = {_STDOUT: [], _STDERR: []}
        self.total = 0
        self.limited = False

    def feed(self, data: bytes) -> bool:
        """Take ``data``; False once the output bound is passed (the rest is dropped)."""
        self.pending += data
        while len(self.pending) >= 8:
            size = struct.unpack(">I", self.pending[4:8])[0]
            if len(self.pending) < 8 + size:
                break
            kind, payload = self.pending[0], bytes(self.pending[8 : 8 + size])
            del self.pending[: 8 + size]
            if kind not in self.out:
                continue
            room = self.max_output - self.total
            if len(payload) > room:
                self.out[kind].append(payload[:room])
                self.total = self.max_output
                self.limited = True
                return False
            self.out[kind].append(payload)
            self.total += len(payload)
        return True

    def result(self, timed_out: bool) -> Streamed:
        return Streamed(b"".join(self.out[_STDOUT]), b"".join(self.out[_STDERR]), timed_out, self.limited)
