"""Hashing installed files through ``envcheck.tree.Tree``, in a bounded pool of threads, with a stat-keyed cache.

Each worker thread reads through a ``Tree`` of its own (a tree keeps folder descriptors, and is not thread-safe);
every path resolves inside the tree's root, only regular files are opened, and a file is read in chunks into one
buffer per thread (hashlib releases the GIL while it hashes a large buffer, so threads hash in parallel).

``HashCache`` maps a file's identity (path, size, mtime, inode, ctime) to its digest: a file whose ``stat`` is
unchanged is not read again, so verifying an unchanged environment a second time costs one ``stat`` per file. The
caller keeps the cache (the sidecar keeps one for its lifetime).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from envcheck.tree import Tree, TreeError

#: Bytes read at a time.
CHUNK = 1 << 20
#: Digests kept by a cache at most (an entry is about 300 bytes: a million files is 300 MB at worst).
MAX_ENTRIES = 1_000_000
#: Bytes one verification may read in all (a CUDA torch environment is about 10 GB).
BUDGET = 1 << 40
#: Files per task given to a thread at most.
_BATCH = 64
#: Ask the kernel to read ahead: a file is read once from start to end.
_FADVISE = getattr(os, "posix_fadvise", None)
_SEQUENTIAL = getattr(os, "POSIX_FADV_SEQUENTIAL", 0)

Key = Tuple[str, str, int, int, int, int]
"""(algorithm, path, size, mtime_ns, inode, ctime_ns)."""


def workers() -> int:
    """Threads that hash: one per CPU, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


def stamp(st: os.stat_result) -> Tuple[int, int, int, int]:
    """What tells one version of a file from another without reading it: (size, mtime_ns, inode, ctime_ns). The
    ctime cannot be set back by a user, so a rewrite that restores the mtime still shows."""
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


def _key(algorithm: str, path: str, st: os.stat_result) -> Key:
    return (algorithm, path, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)


class HashCache:
    """Digests of files by their ``stat`` identity; thread-safe; bounded (cleared when full)."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._digests: Dict[Key, bytes] = {}
        self._lock = threading.Lock()
        #: What ``envcheck.verify.scan`` keeps between runs (its to fill): parsed RECORDs by the RECORD file's
        #: identity, folder listings by the folder's, and each site folder's last verdicts by file.
        self.records: Dict[Tuple[Any, ...], Any] = {}
        self.dirs: Dict[Tuple[Any, ...], Any] = {}
        self.sites: Dict[Tuple[Any, ...], Any] = {}

    def __len__(self) -> int:
        return len(self._digests)

    def get(self, key: Key) -> Optional[bytes]:
        return self._digests.get(key)

    def put(self, key: Key, digest: bytes) -> None:
        with self._lock:
            if len(self._digests) >= self.max_entries:
                self._digests.clear()
            self._digests[key] = digest


@dataclass(frozen=True)
class Job:
    """A file to hash: a tree path, the algorithm, and the size RECORD gives (None: not given)."""

    path: str
    algorithm: str
    size: Optional[int] = None


class Outcome(NamedTuple):
    """How hashing one file went. A named tuple, not a dataclass: one is made per installed file, and the hot
    loop is Python-bound on small files."""

    digest: bytes = b""
    """Empty when the file was not hashed: missing, refused, or of another size than RECORD gives."""
    missing: bool = False
    size_differs: bool = False
    refused: str = ""
    """Why the tree would not read it (a FIFO, a link loop...) or the read failed."""
    cached: bool = False
    read: int = 0
    """Bytes read."""
    stamp: Tuple[int, ...] = ()
    """The file's (size, mtime_ns, inode, ctime_ns) when it was hashed or found in the cache."""


_MISSING = Outcome(missing=True)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


def digest_fd(fd: int, algorithm: str, size: int, buffer: bytearray) -> Tuple[bytes, int]:
    """(digest, bytes read) of an open file, read in chunks into ``buffer``."""
    h = hashlib.new(algorithm)
    if size <= len(buffer):  # one read: most installed files are small
        data = os.read(fd, size + 1)
        h.update(data)
        total = len(data)
        if total <= size:
            return h.digest(), total
    else:
        total = 0
        if _FADVISE is not None:
            with contextlib.suppress(OSError):
                _FADVISE(fd, 0, 0, _SEQUENTIAL)
    view = memoryview(buffer)
    while True:
        n = os.readv(fd, [buffer])
        if not n:
            return h.digest(), total
        h.update(view[:n])
        total += n


class Folders:
    """Descriptors of a foreign tree's folders, each resolved inside the tree (``Tree.open_dir``), the last few
    kept open: the files of one folder are then looked up relative to it (``stat``/``open`` with ``dir_fd`` and no
    link followed), one syscall each instead of a resolution per path. Not thread-safe: one per thread."""

    def __init__(self, tree: Tree, keep: int = 16) -> None:
        self.tree = tree
        self.keep = keep
        self._fds: Dict[str, int] = {}

    def fd(self, folder: str) -> int:
        """A descriptor of ``folder`` (a tree path); raises OSError."""
        fd = self._fds.pop(folder, None)
        if fd is None:
            fd = self.tree.open_dir(folder)
            while len(self._fds) >= self.keep:
                os.close(self._fds.pop(next(iter(self._fds))))
        self._fds[folder] = fd  # most recent last
        return fd

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


class Hasher:
    """Hashes files of one tree in a bounded pool of threads, through a cache."""

    def __init__(self, root: str, cache: Optional[HashCache] = None, threads: Optional[int] = None) -> None:
        self.root = root
        self.cache = cache if cache is not None else HashCache()
        self.threads = threads or workers()
        self._local = threading.local()
        self._trees: List[Tree] = []
        self._folders: List[Folders] = []
        self._trees_lock = threading.Lock()

    def _tree(self) -> Tree:
        tree: Optional[Tree] = getattr(self._local, "tree", None)
        if tree is None:
            tree = Tree(self.root, budget=BUDGET)
            self._local.tree = tree
            self._local.buffer = bytearray(CHUNK)
            self._local.folders = Folders(tree)
            with self._trees_lock:
                self._trees.append(tree)
                self._folders.append(self._local.folders)
        return tree

    def refused(self) -> List[str]:
        """What the trees refused to read, ``"path: why"`` each."""
        return [note for tree in self._trees for note in tree.refused]

    def close(self) -> None:
        with self._trees_lock:
            for folders in self._folders:
                folders.close()
            for tree in self._trees:
                tree.close()

    def __enter__(self) -> Hasher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def hash_one(self, job: Job) -> Outcome:
        """Hash one file, unless the cache knows it by its ``stat``; never raises ``OSError``."""
        tree = self._tree()
        try:
            if tree.native:
                return self._native(tree, job)
            outcome = self._in_folder(tree, job)
            if outcome is not None:
                return outcome
            st = tree.stat(job.path)
            hit = self.cache.get(_key(job.algorithm, job.path, st))
            if hit is not None and stat.S_ISREG(st.st_mode):
                return Outcome(hit, cached=True, stamp=stamp(st))
            with tree.open(job.path, "hashed") as f:
                st = os.fstat(f.fileno())
                if job.size is not None and st.st_size != job.size:
                    return Outcome(size_differs=True, stamp=stamp(st))
                digest, read = digest_fd(f.fileno(), job.algorithm, st.st_size, self._local.buffer)
        except (FileNotFoundError, NotADirectoryError):
            return _MISSING
        except TreeError as e:
            return Outcome(refused=e.strerror or str(e))
        except OSError as e:
            tree.refuse(job.path, e.strerror or type(e).__name__)
            return Outcome(refused=e.strerror or type(e).__name__)
        self.cache.put(_key(job.algorithm, job.path, st), digest)
        return Outcome(digest, read=read, stamp=stamp(st))

    def _in_folder(self, tree: Tree, job: Job) -> Optional[Outcome]:
        """``hash_one`` for a foreign tree, the file looked up in its folder's descriptor (resolved inside the
        tree) without following anything; None for a link, which ``Tree`` resolves inside the tree instead."""
        folder, _, name = job.path.rpartition("/")
        dir_fd = self._local.folders.fd(folder or "/")
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            return None
        return self._known(tree, st, job, job.path) or self._hash_open(
            tree, os.open(name, _OPEN_FLAGS | _NOFOLLOW, dir_fd=dir_fd), st, job, job.path
        )

    def _native(self, tree: Tree, job: Job) -> Outcome:
        """``hash_one`` for this machine's own tree (``Tree("/")``: the kernel resolves paths, as the tree does):
        the same checks as ``Tree.open`` (a regular file before it is opened, the same file once open), inline,
        because on small files the calls are the cost."""
        path = job.path if tree.root in ("", "/") else tree.host_path(job.path)
        st = os.stat(path)
        return self._known(tree, st, job, path) or self._hash_open(tree, os.open(path, _OPEN_FLAGS), st, job, path)

    def _known(self, tree: Tree, st: os.stat_result, job: Job, shown: str) -> Optional[Outcome]:
        """What ``st`` alone tells: a refusal for anything but a regular file, the cached digest of a file
        unchanged since it was hashed, or a size other than RECORD's; None when the file must be read."""
        if not stat.S_ISREG(st.st_mode):
            raise tree.refuse(shown, "not a regular file")
        key = _key(job.algorithm, job.path, st)
        hit = self.cache.get(key)
        if hit is not None:
            return Outcome(hit, cached=True, stamp=key[2:])
        if job.size is not None and st.st_size != job.size:
            return Outcome(size_differs=True, stamp=key[2:])
        return None

    def _hash_open(self, tree: Tree, fd: int, st: os.stat_result, job: Job, shown: str) -> Outcome:
        """Hash the file open at ``fd`` (closed here), which must still be the one ``st`` describes, and keep
        its digest in the cache."""
        key = _key(job.algorithm, job.path, st)
        try:
            opened = os.fstat(fd)
            if opened.st_ino != st.st_ino or opened.st_dev != st.st_dev:
                raise tree.refuse(shown, "changed while it was opened")
            digest, read = digest_fd(fd, job.algorithm, opened.st_size, self._local.buffer)
        finally:
            os.close(fd)
        self.cache.put(key, digest)
        return Outcome(digest, read=read, stamp=key[2:])

    def hash_all(self, jobs: Sequence[Job]) -> Iterator[Tuple[Job, Outcome]]:
        """Each job with its outcome, in the order given."""
        if self.threads <= 1 or len(jobs) < 2:
            for job in jobs:
                yield job, self.hash_one(job)
            return
        # batches, not one future per file: most files are small, and a future costs as much as hashing one
        size = max(1, min(_BATCH, len(jobs) // (self.threads * 4)))
        batches = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="envcheck-hash") as pool:
            for batch, outcomes in zip(batches, pool.map(self._hash_batch, batches)):
                yield from zip(batch, outcomes)

    def _hash_batch(self, batch: Sequence[Job]) -> List[Outcome]:
        return [self.hash_one(job) for job in batch]
