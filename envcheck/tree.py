"""One safe way to read a filesystem tree that somebody else made.

Every static read of envcheck goes through a ``Tree``: ``--root DIR``, ``--pid`` (through ``/proc/PID/root``),
image archives and exported images, and the probe's own reads (``Tree("/")``). A tree path is resolved as the
tree's own root would resolve it, the semantics of ``openat2(RESOLVE_IN_ROOT)``: component by component from a
descriptor of the root, each step opened with ``O_NOFOLLOW``, a symbolic link's target resolved again inside the
root (an absolute target starts at the tree's root, ``..`` stops there). A link can therefore never lead a read
onto this machine's files, and swapping a folder for a link while envcheck reads cannot either (each step is a
descriptor, never a path string that the kernel resolves again). For ``Tree("/")`` (the probe reading its own
interpreter) the kernel's own resolution is the same thing, and is used.

Only regular files are opened: FIFOs, sockets and devices are refused without being opened (a FIFO would block, a
device may act on open). Each read has a cap for its kind of file and the tree has a total budget; what was
refused is kept in ``refused`` for the caller to report.

Stdlib only and valid Python 3.8: this module is bundled into the probe's source that runs in other interpreters.
Not thread-safe: one ``Tree`` per reader.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import posixpath
import stat
from collections import OrderedDict
from typing import BinaryIO, Dict, List, Optional, Tuple

#: Caps in bytes per kind of file, and whether a longer file may be read cut short (True) or is refused (False).
LIMITS = {
    # METADATA / PKG-INFO: the headers come first, a long description after them may be cut
    "metadata": (1 << 20, True),
    # a RECORD is hashed whole: torch's is about 3 MB
    "record": (64 << 20, False),
    # INSTALLER, WHEEL, direct_url.json, pyvenv.cfg, os-release, torch/version.py, /etc/timezone, a cgroup file
    "small": (256 << 10, False),
    ".pth": (1 << 20, False),
    # _sysconfigdata, Alpine's package database
    "text": (16 << 20, False),
    # the start of an executable or library (ELF header, program headers)
    "header": (64 << 10, True),
    # libraries and interpreters scanned for version strings
    "binary": (512 << 20, False),
    # an installed file hashed in chunks to verify it against its RECORD (envcheck.verify), never held whole
    "hashed": (64 << 30, False),
}
#: Total bytes one tree may read (a torch image reads about 150 MB, most of it libraries scanned for strings).
DEFAULT_BUDGET = 2 << 30
#: Symbolic links followed in one lookup, as Linux's MAXSYMLINKS.
MAX_LINKS = 40
#: Folders whose descriptors are kept open between reads.
_CACHED_DIRS = 64
#: How many refusals are kept word for word.
_KEPT_REFUSALS = 20

_O_PATH = getattr(os, "O_PATH", os.O_RDONLY)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_NOCTTY = getattr(os, "O_NOCTTY", 0)


class TreeError(OSError):
    """A path the tree will not give: not a regular file or folder, over its cap, a link loop, past the budget."""


def _kind_name(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def _split(path: str) -> List[str]:
    return [p for p in path.split("/") if p and p != "."]


class Tree:
    """A filesystem tree read from the inside: every path is a path as the tree's processes see it."""

    def __init__(self, root: str = "/", budget: int = DEFAULT_BUDGET) -> None:
        self.root = root
        #: Reads resolve with the kernel (the probe's own filesystem) rather than inside a foreign root.
        self.native = root in ("", "/") or not (_O_NOFOLLOW and {os.open, os.stat} <= os.supports_dir_fd)
        self.budget = budget
        self.spent = 0
        #: ``"path: why"`` for each read refused (the first few; ``refused_count`` counts them all).
        self.refused: List[str] = []
        self.refused_count = 0
        self._seen: "set[str]" = set()
        self._dirs: "OrderedDict[str, Tuple[int, str]]" = OrderedDict()
        self._root_fd: Optional[int] = None

    # --- lifetime -----------------------------------------------------------------------------------------------

    def close(self) -> None:
        for fd, _ in self._dirs.values():
            os.close(fd)
        self._dirs.clear()
        if self._root_fd is not None:
            os.close(self._root_fd)
            self._root_fd = None

    def __enter__(self) -> "Tree":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    # --- refusals -----------------------------------------------------------------------------------------------

    def refuse(self, path: str, why: str) -> TreeError:
        """Record a refused read and return the error to raise."""
        self._note("{}: {}".format(path, why))
        return TreeError(errno.EPERM, why, path)

    def _note(self, note: str) -> None:
        if note not in self._seen:
            self.refused_count += 1
            if len(self._seen) < 4096:
                self._seen.add(note)
            if len(self.refused) < _KEPT_REFUSALS:
                self.refused.append(note)

    def fresh_copy_state(self, budget: int) -> None:
        """In a forked copy of this tree: start counting reads and refusals from nothing, within ``budget``."""
        self.spent, self.budget, self.refused, self.refused_count, self._seen = 0, budget, [], 0, set()

    def copy_state(self) -> "Tuple[int, List[str], List[str], int]":
        """What a forked copy read and refused, for ``absorb`` in the original: (bytes, kept notes, every note
        seen, count)."""
        return self.spent, list(self.refused), sorted(self._seen), self.refused_count

    def absorb(self, spent: int, refused: List[str], seen: List[str], count: int) -> None:
        """Add what a forked copy of this tree read and refused (``copy_state``), as if read here."""
        self.spent += spent
        for note in refused:
            self._note(note)
        for note in seen:
            self._note(note)
        self.refused_count += max(0, count - len(seen))  # beyond what the copy kept word for word

    def refused_summary(self) -> str:
        """One line for ``sources``: how many reads were refused, and the first few."""
        if not self.refused_count:
            return ""
        more = self.refused_count - len(self.refused)
        return "refused {}: {}{}".format(
            self.refused_count, "; ".join(self.refused), "; and {} more".format(more) if more > 0 else ""
        )

    # --- resolution ---------------------------------------------------------------------------------------------

    def _root(self) -> int:
        if self._root_fd is None:
            self._root_fd = os.open(self.root, _O_PATH | _O_DIRECTORY | _O_CLOEXEC)
        return self._root_fd

    def _dir(self, path: str, hops: List[int]) -> Tuple[int, str]:
        """(descriptor, real tree path) of the folder ``path`` names, every link followed inside the tree."""
        key = "/" + "/".join(_split(path))
        hit = self._dirs.get(key)
        if hit is not None:
            self._dirs.move_to_end(key)
            return hit
        parts = _split(path)
        if not parts:
            return self._root(), "/"
        name = parts[-1]
        parent_fd, parent_real = self._dir("/" + "/".join(parts[:-1]), hops)
        if name == "..":
            return self._dir(posixpath.dirname(parent_real), hops)
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            target = self._link(parent_fd, parent_real, name, hops)
            found = self._dir(target, hops)
        elif stat.S_ISDIR(st.st_mode):
            fd = os.open(name, _O_PATH | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC, dir_fd=parent_fd)
            found = (fd, posixpath.join(parent_real, name))
        else:
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory", path)
        self._remember(key, found)
        return found

    def _remember(self, key: str, found: Tuple[int, str]) -> None:
        if found[0] == self._root_fd or any(
            fd == found[0] for fd, _ in self._dirs.values()
        ):  # the same folder under another name: share it
            found = (os.dup(found[0]), found[1])
        self._dirs[key] = found
        while len(self._dirs) > _CACHED_DIRS:
            _, (old, _) = self._dirs.popitem(last=False)
            os.close(old)

    def _link(self, dir_fd: int, dir_real: str, name: str, hops: List[int]) -> str:
        """The tree path a link in a folder points to."""
        hops[0] += 1
        where = posixpath.join(dir_real, name)
        if hops[0] > MAX_LINKS:
            raise self.refuse(where, "too many levels of symbolic links")
        target = os.readlink(name, dir_fd=dir_fd)
        if target.startswith("/"):
            return target
        joined = posixpath.join(dir_real, target)
        depth = 0
        for part in _split(joined):
            depth = depth - 1 if part == ".." else depth + 1
            if depth < 0:
                self.refuse(where, "link climbs out of the tree (read inside it)")
                break
        return joined

    def _final(self, path: str, follow: bool = True) -> Tuple[int, str, str]:
        """(descriptor of the parent folder, name in it, real tree path) for ``path``; the last component is
        followed when it is a link and ``follow`` is set."""
        hops = [0]
        while True:
            parts = _split(path)
            if not parts or parts[-1] == "..":
                fd, real = self._dir(path, hops)
                return fd, ".", real
            parent_fd, parent_real = self._dir("/" + "/".join(parts[:-1]), hops)
            name = parts[-1]
            if follow:
                try:
                    st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
                except FileNotFoundError:
                    return parent_fd, name, posixpath.join(parent_real, name)
                if stat.S_ISLNK(st.st_mode):
                    path = self._link(parent_fd, parent_real, name, hops)
                    continue
            return parent_fd, name, posixpath.join(parent_real, name)

    def resolve(self, path: str) -> str:
        """The real tree path of ``path`` (every link followed inside the tree); raises OSError."""
        if self.native:
            return os.path.realpath(self.host_path(path))
        return self._final(path)[2]

    def host_path(self, path: str) -> str:
        """Where a tree path lies on this machine (for a foreign tree, for messages only: never open it). The
        probe's own tree takes a relative path (a ``sys.path`` entry such as ``src``) from the current folder,
        as Python's import system does."""
        if self.root in ("", "/") and not path.startswith("/"):
            return os.path.abspath(path)
        return (self.root.rstrip("/") or "") + "/" + path.lstrip("/")

    # --- metadata -----------------------------------------------------------------------------------------------

    def stat(self, path: str, follow: bool = True) -> os.stat_result:
        if self.native:
            return os.stat(self.host_path(path), follow_symlinks=follow)
        fd, name, _ = self._final(path, follow)
        return os.stat(name, dir_fd=fd, follow_symlinks=False)

    def _mode(self, path: str, follow: bool = True) -> int:
        try:
            return self.stat(path, follow).st_mode
        except (OSError, ValueError):
            return 0

    def exists(self, path: str) -> bool:
        return self._mode(path) != 0

    def is_file(self, path: str) -> bool:
        return stat.S_ISREG(self._mode(path))

    def is_dir(self, path: str) -> bool:
        return stat.S_ISDIR(self._mode(path))

    def is_link(self, path: str) -> bool:
        return stat.S_ISLNK(self._mode(path, follow=False))

    def readlink(self, path: str) -> str:
        """The text of the link ``path`` names (the link itself, not what it points to)."""
        if self.native:
            return os.readlink(self.host_path(path))
        fd, name, _ = self._final(path, follow=False)
        return os.readlink(name, dir_fd=fd)

    def open_dir(self, path: str) -> int:
        """A descriptor of a folder of the tree, open for listing; the caller closes it. Raises OSError."""
        flags = os.O_RDONLY | _O_DIRECTORY | _O_CLOEXEC
        if self.native:
            return os.open(self.host_path(path), flags)
        fd, name, _ = self._final(path)
        return os.open(name, flags | _O_NOFOLLOW, dir_fd=fd)

    def listdir(self, path: str) -> List[str]:
        """Names in a folder, sorted; raises OSError."""
        if self.native:
            return sorted(os.listdir(self.host_path(path)))
        dfd = self.open_dir(path)
        try:
            return sorted(os.listdir(dfd))
        finally:
            os.close(dfd)

    # --- reading ------------------------------------------------------------------------------------------------

    def open(self, path: str, kind: str) -> BinaryIO:
        """A regular file of the tree, opened for reading; raises OSError (``TreeError`` for a refusal).

        The file's size is checked against the cap of ``kind`` and charged to the budget; callers read at most
        ``limit(kind)`` bytes (``read`` does).
        """
        cap, may_cut = LIMITS[kind]
        flags = os.O_RDONLY | _O_NONBLOCK | _O_NOCTTY | _O_CLOEXEC
        if self.native:
            host = self.host_path(path)
            before = os.stat(host)
            if not stat.S_ISREG(before.st_mode):
                raise self.refuse(path, _kind_name(before.st_mode))
            fd = os.open(host, flags)
        else:
            dir_fd, name, real = self._final(path)
            before = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if not stat.S_ISREG(before.st_mode):
                raise self.refuse(real, _kind_name(before.st_mode))
            fd = os.open(name, flags | _O_NOFOLLOW, dir_fd=dir_fd)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (before.st_dev, before.st_ino):
                raise self.refuse(path, "changed while it was opened")
            if st.st_size > cap and not may_cut:
                raise self.refuse(path, "{} bytes, over the {} cap of {} bytes".format(st.st_size, kind, cap))
            charge = min(st.st_size, cap)
            if self.spent + charge > self.budget:
                raise self.refuse(path, "the read budget of {} bytes is spent".format(self.budget))
            self.spent += charge
            return io.open(fd, "rb", closefd=True)  # O_NONBLOCK changes nothing for a regular file
        except BaseException:
            os.close(fd)
            raise

    def read(self, path: str, kind: str) -> bytes:
        """A regular file's bytes, at most the cap of ``kind``; raises OSError."""
        with self.open(path, kind) as f:
            return f.read(LIMITS[kind][0])

    def read_text(self, path: str, kind: str) -> str:
        return self.read(path, kind).decode("utf-8", "replace")


def limit(kind: str) -> int:
    """The cap of a kind of file, in bytes."""
    return LIMITS[kind][0]


def sources_entry(trees: "List[Tree]") -> Optional[Dict[str, str]]:
    """The ``sources.files`` entry for what some trees refused, or None when they refused nothing."""
    parts = [t.refused_summary() for t in trees if t.refused_count]
    if not parts:
        return None
    return {"status": "ok", "detail": "; ".join(parts)}
