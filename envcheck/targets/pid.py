"""A running process (``--pid PID``, ``--process-match REGEX``), read through /proc without running anything in
its namespace: its filesystem through ``/proc/PID/root``, its interpreter from ``exe`` and ``cmdline``, its
environment from ``environ`` (allow-listed variables only), its loaded libraries from ``maps``, its CPU and
memory limits from its own cgroup.

Reading another user's /proc/PID/root, environ and maps needs the same UID as the process (and the process
dumpable) or CAP_SYS_PTRACE.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
from typing import Any, Callable, Dict, Hashable, Iterator, List, Mapping, Optional, Sequence, Tuple

from envcheck.collect.cgroup import read_text
from envcheck.collect.interface import Collected, Collector
from envcheck.collect.native import LoadedLibrariesCollector, openblas_corename_of_file
from envcheck.contract import ProbeOutput, PythonSection
from envcheck.model import NativeLib, PythonInfo
from envcheck.probe import detect_container, select_env
from envcheck.targets.interface import FileView, Target, TargetError, folders_token, site_folders
from envcheck.targets.rootfs import RootError, probe_root
from envcheck.tree import Tree

PERMISSION = "run envcheck as the same user as the process, or give it CAP_SYS_PTRACE"
#: Variables the static reader needs (sys.path, container detection); everything else is dropped once read.
PATH_VARS = (
    "PATH",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONNOUSERSITE",
    "HOME",
    "VIRTUAL_ENV",
    "KUBERNETES_SERVICE_HOST",
    "container",
)


def parse_environ(raw: bytes, keep: Sequence[str] = ()) -> Dict[str, str]:
    """The allow-listed part of a NUL-separated environ block, plus the variables sys.path depends on.

    A secret-looking name keeps its name with an empty value (so that it is listed as redacted); no other value
    outlives this function.
    """
    full: Dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            full[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
    selected = select_env(full, keep)
    kept: Dict[str, str] = dict(selected["variables"])
    kept.update({k: full[k] for k in PATH_VARS if k in full})
    kept.update({name: "" for name in selected["redacted"]})
    full.clear()
    return kept


def parse_cmdline(raw: bytes) -> List[str]:
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def parse_start_time(raw: bytes) -> int:
    """A process's start time (clock ticks after boot) from /proc/PID/stat: with the PID, it names the process
    uniquely, even once the PID is reused. The command name may hold spaces and parentheses: split after the last
    ``)``."""
    return int(raw.rsplit(b")", 1)[1].split()[19])


_LIBRARY = re.compile(rb"\.so(\.|$)")


def parse_mapped_libraries(raw: bytes) -> frozenset[bytes]:
    """The shared libraries a /proc/PID/maps block maps (paths, ``(deleted)`` kept: a replaced file is a change).
    Shared memory and memfd mappings come and go while a server works, and are not libraries: left out."""
    out = set()
    for line in raw.split(b"\n"):
        start = line.find(b"/")
        if start < 0:
            continue
        path = line[start:]
        if path.startswith((b"/dev/", b"/memfd:")) or not _LIBRARY.search(path.split(b" (deleted)")[0]):
            continue
        out.add(path)
    return frozenset(out)


def parse_parent(raw: bytes) -> int:
    """The parent PID from /proc/PID/stat."""
    return int(raw.rsplit(b")", 1)[1].split()[1])


def ancestors(pid: int, proc_root: str = "/proc") -> List[int]:
    """``pid`` and its parents up to PID 1: a wrapper that started envcheck (``sh -c``, ``timeout``) carries the
    pattern in its own command line, and is never the process meant."""
    out = [pid]
    while pid > 1 and len(out) < 64:
        try:
            with open(posixpath.join(proc_root, str(pid), "stat"), "rb") as f:
                pid = parse_parent(f.read())
        except (OSError, ValueError, IndexError):
            break
        if pid <= 0 or pid in out:
            break
        out.append(pid)
    return out


def find_processes(pattern: str, proc_root: str = "/proc", exclude: Sequence[int] = ()) -> List[Tuple[int, str]]:
    """(pid, command line) of processes whose command line matches ``pattern``, oldest first."""
    regex = re.compile(pattern)
    found = []
    for entry in os.listdir(proc_root):
        if not entry.isdigit() or int(entry) in exclude:
            continue
        try:
            with open(posixpath.join(proc_root, entry, "cmdline"), "rb") as f:
                cmdline = " ".join(parse_cmdline(f.read()))
            with open(posixpath.join(proc_root, entry, "stat"), "rb") as f:
                start = parse_start_time(f.read())
        except (OSError, ValueError, IndexError):
            continue
        if cmdline and regex.search(cmdline):
            found.append((start, int(entry), cmdline))
    return [(pid, cmd) for _, pid, cmd in sorted(found)]


def _sites_of(python: PythonSection, environ: Mapping[str, str]) -> List[str]:
    """The site folders (tree paths) of the probed interpreter: its prefixes', the system's, the user's and
    PYTHONPATH's."""
    minor = ".".join(python.get("version", "").split(".")[:2])
    prefixes = [python.get("prefix", ""), python.get("base_prefix", ""), "/usr/local", "/usr"]
    if environ.get("HOME"):
        prefixes.append(posixpath.join(environ["HOME"], ".local"))
    return site_folders(prefixes, minor, environ.get("PYTHONPATH", "").split(":"))


def inside_reader(root: str) -> Callable[[str], str]:
    """A ``Reader`` for the cgroup collectors: a path under ``root`` (the process's own cgroup files, seen
    through /proc/PID/root) is read inside that root, never through a link onto this machine; any other path
    (this machine's /proc/PID files) as it is."""
    prefix = root.rstrip("/") + "/"

    def read(path: str) -> str:
        if path.startswith(prefix):
            with Tree(root) as tree:
                return tree.read_text(path[len(prefix) - 1 :], "small")
        return read_text(path)

    return read


class PidTarget(Target):
    """A process on this machine or in a shared PID namespace."""

    kind = "pid"

    def __init__(self, pid: int, proc_root: str = "/proc", *, blas_kernels: bool = False) -> None:
        """``blas_kernels``: ask each OpenBLAS the process mapped which kernels it picks, by loading that file in a
        short-lived child of envcheck. That runs the target's library code (never in the target) in envcheck's
        own namespaces, so it is the caller's choice; off, the kernel sets are left unknown."""
        self.pid = pid
        self.proc_root = proc_root
        self.blas_kernels = blas_kernels
        #: The site folders (host paths, through /proc/PID/root) the last probe found; None before one.
        self._sites: Optional[List[str]] = None
        #: The process's OPENBLAS_CORETYPE, which steers the kernels its OpenBLAS picks.
        self._coretype = ""
        #: Kernel sets already asked of a child, by the library file's identity (path, inode, mtime, coretype).
        self._corenames: Dict[Tuple[str, int, int, str], str] = {}

    @classmethod
    def matching(cls, pattern: str, proc_root: str = "/proc", *, blas_kernels: bool = False) -> PidTarget:
        """The oldest process whose command line matches ``pattern`` (a server's master, not its workers), leaving
        out envcheck itself and the processes that started it."""
        try:
            found = find_processes(pattern, proc_root, exclude=ancestors(os.getpid(), proc_root))
        except re.error as e:
            raise TargetError(f"--process-match {pattern!r}: not a valid regular expression ({e})") from e
        if not found:
            raise TargetError(f"--process-match {pattern!r}: no running process matches")
        return cls(found[0][0], proc_root, blas_kernels=blas_kernels)

    @property
    def name(self) -> str:
        return f"pid:{self.pid}"

    def _path(self, *parts: str) -> str:
        return posixpath.join(self.proc_root, str(self.pid), *parts)

    def _failure(self, e: OSError, path: str) -> TargetError:
        """One line for what went wrong reading the process's /proc files."""
        if isinstance(e, FileNotFoundError):
            return TargetError(f"--pid {self.pid}: no such process (it has exited?)")
        if isinstance(e, PermissionError):
            return TargetError(f"--pid {self.pid}: permission denied reading {path}: {PERMISSION}")
        return TargetError(f"--pid {self.pid}: cannot read {path} ({e.strerror})")

    def _read(self, name: str) -> bytes:
        try:
            with open(self._path(name), "rb") as f:
                return f.read()
        except OSError as e:
            raise self._failure(e, self._path(name)) from e

    def _interpreter(self, argv: List[str], environ: Mapping[str, str]) -> str:
        try:
            exe = os.readlink(self._path("exe"))
        except OSError as e:
            raise self._failure(e, self._path("exe")) from e
        if exe.endswith(" (deleted)"):
            exe = exe[: -len(" (deleted)")]
        if not re.search(r"python[\d.]*t?$", posixpath.basename(exe)):
            raise TargetError(f"--pid {self.pid}: not a Python process ({exe})")
        # argv[0] keeps the virtual environment that /proc/PID/exe (the resolved binary) loses
        first = argv[0] if argv else ""
        if "python" in posixpath.basename(first):
            if first.startswith("/"):
                return first
            with Tree(self._path("root")) as tree:
                for folder in environ.get("PATH", "").split(":"):
                    candidate = posixpath.join(folder, first)
                    if folder and tree.exists(candidate):
                        return candidate
        return exe

    @property
    def root(self) -> str:
        """The process's filesystem, as this process reaches it (``/proc/PID/root``)."""
        return self._path("root")

    def interpreter(self) -> str:
        """The process's interpreter, as a path inside its root."""
        if not os.path.isdir(self._path()):
            raise TargetError(f"--pid {self.pid}: no such process (it has exited?)")
        argv = parse_cmdline(self._read("cmdline"))
        return self._interpreter(argv, parse_environ(self._read("environ")))

    def environment(self) -> Dict[str, str]:
        """The allow-listed part of the environment the process was launched with (``parse_environ``)."""
        return parse_environ(self._read("environ"))

    def working_directory(self) -> str:
        """The process's working directory, as a path inside its root."""
        try:
            return os.readlink(self._path("cwd"))
        except OSError as e:
            raise self._failure(e, self._path("cwd")) from e

    def probe(self, extra_env: Sequence[str] = ()) -> ProbeOutput:
        if not os.path.isdir(self._path()):
            raise TargetError(f"--pid {self.pid}: no such process (it has exited?)")
        argv = parse_cmdline(self._read("cmdline"))
        environ = parse_environ(self._read("environ"), extra_env)
        self._coretype = environ.get("OPENBLAS_CORETYPE", "")
        interpreter = self._interpreter(argv, environ)
        root = self._path("root")
        with self._reading(root):
            data = probe_root(root, environ, interpreter=interpreter, extra_env=extra_env)
        data["sources"]["python"]["detail"] = f"{interpreter} of process {self.pid}, read through {root}"
        self._add_kernel(data, root, environ)
        self._sites = _sites_of(data["python"], environ)
        return data

    @contextlib.contextmanager
    def files(self) -> Iterator[FileView]:
        """The process's filesystem through ``/proc/PID/root``, and the sys.path folders of its interpreter as its
        own environment makes them (read statically, as ``probe`` reads them)."""
        from envcheck.verify.sites import tree_sites

        interpreter = self.interpreter()
        with self._reading(self.root):
            sites = tree_sites(self.root, self.environment(), interpreter)
        yield FileView(self.root, tuple(sites))

    @contextlib.contextmanager
    def _reading(self, root: str) -> Iterator[None]:
        """Reading the process's tree at ``root``: what fails there as one line naming the process."""
        try:
            yield
        except PermissionError as e:
            raise TargetError(f"--pid {self.pid}: permission denied reading {root}: {PERMISSION}") from e
        except RootError as e:
            raise TargetError(f"--pid {self.pid}: {e}") from e
        except OSError as e:
            raise TargetError(f"--pid {self.pid}: cannot read {root} ({e.strerror})") from e

    def change_token(self) -> Optional[Hashable]:
        """The PID and its start time, the set of libraries it maps, and the mtimes of the site folders the last
        probe found (and of the distributions in them); None before a probe or when /proc cannot be read."""
        if self._sites is None:
            return None
        try:
            with open(self._path("stat"), "rb") as f:
                start = parse_start_time(f.read())
            with open(self._path("maps"), "rb") as f:
                libraries = hash(parse_mapped_libraries(f.read()))
        except (OSError, ValueError, IndexError):
            return None
        try:
            with Tree(self._path("root")) as tree:
                return (self.pid, start, libraries, folders_token(self._sites, tree))
        except OSError:
            return None

    def _add_kernel(self, data: ProbeOutput, root: str, environ: Mapping[str, str]) -> None:
        """A process on this machine runs on this kernel: what a static tree cannot tell, /proc can."""
        kernel: Dict[str, str] = {}
        for key, name in (("release", "osrelease"), ("version", "version")):
            try:
                with open(posixpath.join(self.proc_root, "sys/kernel", name), encoding="utf-8") as f:
                    kernel[key] = f.read().strip()
            except OSError:
                pass
        os_data = data["os"]
        if "release" in kernel:
            os_data["release"] = kernel["release"]
            data["python"].setdefault("markers", {})["platform_release"] = kernel["release"]
        if "version" in kernel:
            data["python"].setdefault("markers", {})["platform_version"] = kernel["version"]
        os_data["page_size"] = os.sysconf("SC_PAGE_SIZE")
        with Tree(root) as tree:
            os_data["container"] = detect_container(tree, environ)
        data["sources"]["os"]["detail"] = f"files of process {self.pid} through {root}, kernel from /proc"

    def hardware(self) -> Sequence[Collector[Any]]:
        from envcheck.collect.cpu import CpuCollector
        from envcheck.collect.gpu import GpuCollector
        from envcheck.collect.memory import MemoryCollector

        pid, root = str(self.pid), self._path("root")
        read = inside_reader(root)
        return (
            CpuCollector(self.proc_root, pid, root, read=read),
            MemoryCollector(self.proc_root, pid, root, read=read),
            # The sidecar is usually not given the model server's GPU, so NVML here sees nothing; the driver's
            # /proc files as the target's mount namespace shows them are the fallback that still works.
            GpuCollector(proc_root="/proc", root=root),
        )

    def loaded_libraries(
        self, python: PythonInfo, shipped: Mapping[str, NativeLib]
    ) -> Optional[Collected[Tuple[NativeLib, ...]]]:
        minor = ".".join(python.version.split(".")[:2])
        sites = [
            posixpath.join(prefix, "lib", f"python{minor}", sub)
            for prefix in dict.fromkeys([python.prefix, python.base_prefix, "/usr/local", "/usr"])
            for sub in ("site-packages", "dist-packages")
        ] + ["/usr/lib/python3/dist-packages"]
        return LoadedLibrariesCollector(
            pid=str(self.pid),
            proc_root=self.proc_root,
            site_dirs=sites,
            shipped=shipped,
            file_root=self._path("root"),
            corename=self._corename if self.blas_kernels else None,
        ).collect()

    def _corename(self, path: str) -> str:
        """The kernel set of the OpenBLAS at ``path``, asked of a child once per file (the sidecar re-reads)."""
        try:
            st = os.stat(path)
        except OSError:
            return ""
        key = (path, st.st_ino, st.st_mtime_ns, self._coretype)
        if key not in self._corenames:
            if len(self._corenames) >= 64:  # files replaced again and again: forget the old ones
                self._corenames.clear()
            self._corenames[key] = openblas_corename_of_file(path, self._coretype)
        return self._corenames[key]
