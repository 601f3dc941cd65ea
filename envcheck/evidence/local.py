"""A child of a Python interpreter on this machine (this one, or ``--python PATH``), isolated for a check.

The child is ``PYTHON -I -c BOOTSTRAP ARGS...`` with the check's source on stdin: ``-I`` without ``-S``, so that
``site`` runs and the candidate's own site folders and ``.pth`` files take effect as in the serving process (the
checks are opt-in because they run the candidate's code), while ``PYTHON*`` variables, the user site and the
working directory do not. Around it:

- **environment**: only the allow-listed numerics variables (``envcheck.probe.select_env``: threads, devices,
  CPU dispatch, locale; secret-looking names dropped, values scrubbed) plus ``PATH``, ``HOME`` and ``LANG``;
- **network**: a new network namespace (``unshare --net`` with a user namespace mapping this user) where the
  kernel allows it, else a guard in the child's ``socket`` module; the result says which (``Network``);
- **time and output**: its whole process group is killed past ``timeout`` or ``max_output`` bytes
  (``envcheck._subprocess.run_bounded``);
- **memory**: an address-space limit (``RLIMIT_AS``, 8 GiB unless told), so that a runaway import cannot take the
  host down. It bounds virtual memory, which some runtimes reserve generously: raise it (or pass None) if an
  import fails with ``MemoryError`` here and not in production;
- **files**: it starts in an empty temporary folder, removed afterwards.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import tempfile
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from envcheck import _subprocess
from envcheck.evidence.interface import ChildRun, Network, RunnerError
from envcheck.probe import scrub_value, select_env
from envcheck.tree import Tree

#: The default address-space limit of a child: generous, but below what takes a host down.
DEFAULT_MEMORY_LIMIT = 8 << 30
#: Variables passed on besides the allow-list: what finds programs and libraries, and the locale.
BASE_VARIABLES = ("PATH", "HOME", "LANG")

_TOO_OLD_EXIT = 3
_BOOTSTRAP_HEAD = (
    "import sys\n"
    "if sys.version_info < (3, 8):\n"
    "    sys.stderr.write('envcheck-too-old %d.%d\\n' % sys.version_info[:2]); sys.exit(3)\n"
)
_BOOTSTRAP_TAIL = (
    "src = sys.stdin.buffer.read().decode('utf-8'); sys.argv = ['envcheck-evidence'] + sys.argv[1:]\n"
    "exec(compile(src, 'envcheck-evidence', 'exec'), {'__name__': '__main__'})\n"
)
# Where no network namespace can be made: the socket module refuses to reach out (ENETUNREACH, as a namespace
# would). Installed before the check's source runs, after site (whose .pth lines run first either way).
_SOCKET_GUARD = (
    "import socket as _envcheck_socket\n"
    "def _envcheck_no_network(*args, **kwargs):\n"
    "    raise OSError(101, 'Network is unreachable (envcheck: no network in an evidence check)')\n"
    "for _envcheck_name in ('connect', 'connect_ex', 'sendto', 'sendmsg'):\n"
    "    setattr(_envcheck_socket.socket, _envcheck_name, _envcheck_no_network)\n"
    "_envcheck_socket.getaddrinfo = _envcheck_no_network\n"
    "del _envcheck_socket, _envcheck_name\n"
)
BOOTSTRAP = _BOOTSTRAP_HEAD + _BOOTSTRAP_TAIL
GUARDED_BOOTSTRAP = _BOOTSTRAP_HEAD + _SOCKET_GUARD + _BOOTSTRAP_TAIL

# The ways to enter a new network namespace without privileges, best first: keep the user's own id in it (files
# keep their owner), else map it to root (util-linux before 2.38 has no --map-current-user).
_UNSHARE_WAYS = (("--net", "--map-current-user"), ("--net", "--map-root-user"))
#: As root: a network namespace without a user namespace, so that the child keeps the capabilities a chroot needs.
_ROOT_WAY = ("--net",)


@functools.cache
def namespace_prefix(unshare: str = "unshare", as_root: bool = False) -> Optional[Tuple[str, ...]]:
    """The command that runs a program in a new, empty network namespace here (``unshare --net ...``), or None
    when the kernel, the container or a missing ``unshare`` does not allow one. Tried once per process.
    ``as_root``: only a namespace the child keeps root's capabilities in (no user namespace), for a chroot."""
    path = shutil.which(unshare)
    if path is None:
        return None
    for way in (_ROOT_WAY,) if as_root else _UNSHARE_WAYS:
        try:
            done = _subprocess.run([path, *way, "true"], timeout=10.0, env={"PATH": os.defpath})
        except _subprocess.RunError:
            return None
        if done.returncode == 0:
            return (path, *way)
    return None


def child_env(environ: Mapping[str, str], extra: Sequence[str] = ()) -> Dict[str, str]:
    """The child's whole environment: the allow-listed variables of ``environ`` (and ``extra`` names) as
    ``select_env`` keeps them, plus ``BASE_VARIABLES``; nothing else of the caller's reaches the child."""
    kept: Dict[str, str] = dict(select_env(environ, extra)["variables"])
    for name in BASE_VARIABLES:
        if name in environ:
            kept[name] = environ[name]
    return kept


class LocalRunner:
    """Runs a check's source in a child of ``executable``, a Python interpreter on this machine."""

    def __init__(
        self,
        executable: Optional[str] = None,
        *,
        memory_limit: Optional[int] = DEFAULT_MEMORY_LIMIT,
        network: Optional[Network] = None,
        environ: Optional[Mapping[str, str]] = None,
        extra_env: Sequence[str] = (),
        root: Optional[str] = None,
    ) -> None:
        """``executable``: the interpreter (default: this one). ``memory_limit``: bytes of address space, None for
        no limit. ``network``: how to cut the network, None for the best this machine allows (a namespace, else
        the socket guard). ``environ``: the environment the child's is built from (default: this process's, read
        at each run); ``extra_env``: names to pass on besides the allow-list (secret-looking ones never are).
        ``root``: run ``executable`` (a path inside it) in this filesystem tree (``chroot ROOT``: another
        process's ``/proc/PID/root``); that needs root."""
        # the child starts in a folder of its own: a relative path is taken from here, as the user meant it
        if executable and root is None:
            executable = os.path.abspath(executable)
        self.executable = executable or sys.executable
        self.memory_limit = memory_limit
        self.network = network
        self.environ = environ
        self.extra_env = tuple(extra_env)
        self.root = root

    def _network(self) -> Tuple[Network, List[str]]:
        if self.network is Network.SOCKET_GUARD:
            return Network.SOCKET_GUARD, []
        prefix = namespace_prefix(as_root=self.root is not None)
        if prefix is not None:
            return Network.NAMESPACE, list(prefix)
        if self.network is Network.NAMESPACE:
            raise RunnerError("no network namespace can be made here (unshare --net failed)")
        return Network.SOCKET_GUARD, []

    def _command(self) -> List[str]:
        """The interpreter's command: itself, or ``chroot ROOT`` and its path inside ``root``."""
        exe = self.executable
        if self.root is None:
            if not os.path.isfile(exe):
                raise RunnerError(f"{exe}: no such interpreter")
            return [exe]
        with Tree(self.root) as tree:
            if not tree.is_file(exe):
                raise RunnerError(f"{exe}: no such interpreter in {self.root}")
        chroot = shutil.which("chroot")
        if chroot is None or os.geteuid() != 0:
            raise RunnerError(f"running {exe} inside {self.root} needs root and chroot (run envcheck as root)")
        return [chroot, self.root, exe]

    def run(self, source: str, args: Sequence[str], timeout: float, max_output: int) -> ChildRun:
        exe = self.executable
        command = self._command()
        network, prefix = self._network()
        bootstrap = BOOTSTRAP if network is Network.NAMESPACE else GUARDED_BOOTSTRAP
        argv = [*prefix, *command, "-I", "-c", bootstrap, *args]
        env = child_env(os.environ if self.environ is None else self.environ, self.extra_env)
        folder = tempfile.mkdtemp(prefix="envcheck-evidence-")
        try:
            done = _subprocess.run_bounded(
                argv,
                input=source,
                timeout=timeout,
                max_output=max_output,
                env=env,
                cwd=folder,
                memory_limit=self.memory_limit,
            )
        except _subprocess.RunError as e:
            raise RunnerError(f"{exe}: {e}") from e
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if done.returncode == _TOO_OLD_EXIT and "envcheck-too-old" in done.stderr:
            version = scrub_value(done.stderr.split("envcheck-too-old", 1)[1].strip()[:20])
            raise RunnerError(f"{exe}: Python {version} is older than 3.8, which the evidence checks need")
        return ChildRun(
            returncode=done.returncode,
            stdout=done.stdout,
            stderr=done.stderr,
            timed_out=done.timed_out,
            output_limited=done.truncated,
            network=network,
            memory_limit=self.memory_limit,
        )
