"""The interpreter running envcheck (the default target).

Its environment variables are the ones the process was launched with (``/proc/self/environ`` on Linux), not
``os.environ`` as it stands when the snapshot is taken: imported libraries set variables on themselves
(scikit-learn sets ``KMP_DUPLICATE_LIB_OK`` and ``KMP_INIT_AT_FORK`` at import), and those are no part of the
environment a model needs. The launch environment is also what ``--pid`` and the sidecar read of a server.
"""

from __future__ import annotations

import contextlib
import os
from typing import Dict, Hashable, Iterator, Mapping, Optional, Sequence, Tuple

from envcheck import probe
from envcheck.contract import ProbeOutput
from envcheck.targets.interface import FileView, Target, folders_token

ENV_DETAIL = "allow-listed environment variables as the process was launched ({}), /etc/localtime"


def parse_environ_block(raw: bytes) -> Dict[str, str]:
    """A NUL-separated ``NAME=value`` block (``/proc/PID/environ``), decoded as ``os.environ`` decodes (the
    filesystem encoding, undecodable bytes kept as surrogate escapes); entries without ``=`` are skipped."""
    out: Dict[str, str] = {}
    for item in raw.split(b"\0"):
        name, sep, value = item.partition(b"=")
        if sep and name:
            out[os.fsdecode(name)] = os.fsdecode(value)
    return out


def plausible(launch: Mapping[str, str], current: Mapping[str, str]) -> bool:
    """Whether ``launch`` can be this process's launch environment, given ``current`` (``os.environ``): a
    program may add and change variables, but most of those it started with are still there. A process that
    rewrote its environ block (``setproctitle`` moves the environment to write a long title there) fails this."""
    if not launch:
        return not current
    return len(set(launch) & set(current)) * 2 >= len(current)


def launch_environ(
    proc_root: str = "/proc", current: Optional[Mapping[str, str]] = None
) -> Tuple[Mapping[str, str], str]:
    """(the environment this process was launched with, where it was read): ``/proc/self/environ`` under
    ``proc_root``, else ``os.environ`` (another system, or a block that cannot be the launch environment)."""
    current = os.environ if current is None else current
    path = os.path.join(proc_root, "self", "environ")
    try:
        with open(path, "rb") as f:
            launch = parse_environ_block(f.read())
    except OSError as e:
        return current, f"os.environ: {path} unreadable ({e.strerror or e})"
    if not plausible(launch, current):
        return current, f"os.environ: {path} does not hold the launch environment"
    return launch, "/proc/self/environ"


class LocalTarget(Target):
    """This interpreter: the probe runs in-process."""

    kind = "local"
    in_process = True

    def __init__(self, proc_root: str = "/proc", parallel: bool = False) -> None:
        self.proc_root = proc_root
        #: Read distributions in forked workers (``probe.read_distributions``): only for a process that runs no
        #: other thread, the command line's own; never inside a caller's process (the Python API, the sidecar).
        self.parallel = parallel

    @property
    def name(self) -> str:
        return "local"

    def probe(self, extra_env: Sequence[str] = ()) -> ProbeOutput:
        environ, where = launch_environ(self.proc_root)
        data = probe.probe(extra_env=extra_env, environ=environ, parallel=self.parallel)
        data["sources"]["env"]["detail"] = ENV_DETAIL.format(where)
        return data

    @contextlib.contextmanager
    def files(self) -> Iterator[FileView]:
        """This interpreter's sys.path folders, on this machine's tree."""
        yield FileView("/", tuple(probe.search_path()))

    def change_token(self) -> Optional[Hashable]:
        """The mtimes of this interpreter's sys.path folders and of the distributions in them."""
        return folders_token(probe.search_path())
