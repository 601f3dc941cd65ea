"""Layer application that cannot touch anything outside its extraction root, within limits.

Every path is walked component by component from a descriptor of the extraction root (``os.open`` with
``dir_fd``, ``O_NOFOLLOW``, ``O_DIRECTORY``): nothing is ever opened by a full host path, so no link, ``..`` or
absolute name can lead out. A link met in a member's *parent* path is resolved inside the root, as the image's
own root would see it (``lib -> /usr/lib`` then ``lib/x`` writes the tree's ``/usr/lib/x``); ``..`` stops at the
root. A member's last component is never followed: whatever is there (a link included) is removed and replaced.
Whiteouts are resolved the same way and must name an entry (``.wh.``, ``.wh..``, ``.wh...`` are refused); member
names that are absolute or climb with ``..`` are refused, hard links must name a member inside the root, device
nodes and FIFOs are skipped. Entries are created with ``O_EXCL``/``O_NOFOLLOW`` semantics; modes are kept minus
set-uid bits, and always readable by us; sparse members are written with their holes.

A ``Budget`` bounds the whole image (all its layers): the bytes the layers expand to and the bytes written, the
number of members, one file's size and, in ``layerstream``, the compression ratio.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tarfile
from typing import IO, List, Optional, Sequence, Set, Tuple

from envcheck.targets.limits import ArchiveError, Budget, Limits, one_line

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
#: aufs' own bookkeeping (``.wh..wh.plnk``, ``.wh..wh.aufs``): not part of the image.
_WHITEOUT_META = ".wh..wh."
#: Deeper member paths, or deeper resolved folders, are refused (keeps descriptors and recursion bounded).
MAX_DEPTH = 256
#: Links followed while resolving one path, as the kernel's own limit.
MAX_LINKS = 40
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_COPY_CHUNK = 1 << 20


def member_parts(name: str, what: str = "member name") -> List[str]:
    """A tar member's name as path components (``./usr//bin/`` -> ``["usr", "bin"]``); refuses absolute names,
    ``..``, NUL characters and paths deeper than ``MAX_DEPTH``."""
    if name.startswith("/"):
        raise ArchiveError(f"unsafe {what} {name[:200]!r} (absolute)")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"unsafe {what} {name[:200]!r} (climbs with ..)")
    if "\0" in name:
        raise ArchiveError(f"unsafe {what} {name[:200]!r} (holds a NUL character)")
    if len(parts) > MAX_DEPTH:
        raise ArchiveError(f"unsafe {what} {name[:200]!r} (deeper than {MAX_DEPTH} folders)")
    return parts


def member_path(name: str) -> str:
    """A tar member's name as a tree path (``./usr/bin`` -> ``/usr/bin``); refuses absolute names and ``..``."""
    return "/" + "/".join(member_parts(name))


class ExtractRoot:
    """An extraction root reached only through descriptors. ``folder()`` keeps the last folder it opened
    (members of a layer come folder by folder); its descriptor stays valid until the next ``folder()`` call."""

    def __init__(self, root: str) -> None:
        self.fd = os.open(root, _DIR)
        #: (device, inode of the folder, name) of each folder made on the way to a member.
        self.made: Set[Tuple[int, int, str]] = set()
        self._cached: Optional[Tuple[Tuple[str, ...], int, Tuple[int, int]]] = None
        self._stale = False

    def close(self) -> None:
        self._drop()
        os.close(self.fd)

    def _drop(self) -> None:
        if self._cached is not None:
            os.close(self._cached[1])
            self._cached = None
        self._stale = False

    def folder(self, parts: Sequence[str], create: bool) -> Optional[Tuple[int, Tuple[int, int]]]:
        """(descriptor, (device, inode)) of the folder at ``parts``, links in it resolved inside the root;
        missing folders are made when ``create``, else None. A non-folder in the way is an error when
        ``create``, else None."""
        key = tuple(parts)
        if self._stale:
            self._drop()
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1], self._cached[2]
        fd = self._walk(parts, create)
        if fd is None:
            return None
        st = os.fstat(fd)
        self._drop()
        self._cached = (key, fd, (st.st_dev, st.st_ino))
        return fd, self._cached[2]

    def _walk(self, parts: Sequence[str], create: bool) -> Optional[int]:
        pending = list(reversed(parts))
        names: List[str] = []
        fd = os.dup(self.fd)
        links = 0
        try:
            while pending:
                part = pending.pop()
                if part in ("", "."):
                    continue
                if part == "..":  # only ever met in a link's target: stops at the root, as in the image
                    if names:
                        names.pop()
                        os.close(fd)
                        fd = -1
                        fd = self._reopen(names)
                    continue
                try:
                    child = os.open(part, _DIR, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        os.close(fd)
                        return None
                    os.mkdir(part, 0o755, dir_fd=fd)
                    child = os.open(part, _DIR, dir_fd=fd)
                    st = os.fstat(fd)
                    self.made.add((st.st_dev, st.st_ino, part))
                except OSError as e:
                    if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                    st = os.stat(part, dir_fd=fd, follow_symlinks=False)
                    if not stat.S_ISLNK(st.st_mode):
                        if create:
                            raise ArchiveError(f"{'/'.join(parts)[:200]!r}: {part[:100]!r} is not a folder") from e
                        os.close(fd)
                        return None
                    links += 1
                    if links > MAX_LINKS:
                        raise ArchiveError(f"{'/'.join(parts)[:200]!r}: too many levels of links") from e
                    target = os.readlink(part, dir_fd=fd)
                    if target.startswith("/"):
                        names = []
                        os.close(fd)
                        fd = -1
                        fd = os.dup(self.fd)
                    pending.extend(reversed(target.split("/")))
                    continue
                os.close(fd)
                fd = child
                names.append(part)
                if len(names) > MAX_DEPTH:
                    raise ArchiveError(f"{'/'.join(parts)[:200]!r}: resolves deeper than {MAX_DEPTH} folders")
            return fd
        except BaseException:
            if fd >= 0:
                os.close(fd)
            raise

    def _reopen(self, names: Sequence[str]) -> int:
        """The folder at ``names``: each one a real folder already met on this walk (no link to follow)."""
        fd = os.dup(self.fd)
        for name in names:
            try:
                child = os.open(name, _DIR, dir_fd=fd)
            finally:
                os.close(fd)
            fd = child
        return fd

    def remove(self, fd: int, name: str) -> None:
        """Delete ``name`` in the folder ``fd`` (a file, a link, a whole folder), never following a link."""
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        self._stale = True  # the cached folder may have been inside it, or reached through a link it was
        if stat.S_ISDIR(st.st_mode):
            _rmtree(fd, name)
        else:
            os.unlink(name, dir_fd=fd)


def _rmtree(parent: int, name: str) -> None:
    """``shutil.rmtree`` relative to a descriptor (``dir_fd`` is only there from Python 3.11)."""
    fd = os.open(name, _DIR, dir_fd=parent)
    try:
        os.fchmod(fd, 0o700)
        with os.scandir(fd) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    _rmtree(fd, entry.name)
                else:
                    os.unlink(entry.name, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent)


_HOLE = 64 << 10
_ZEROS = bytes(_HOLE)


def _copy_sparse(stream: IO[bytes], out: IO[bytes]) -> None:
    """Copy a sparse member keeping its holes (any 64 KiB of zeros): a tiny archive that claims gigabytes does
    not fill the disk."""
    while True:
        chunk = memoryview(stream.read(_COPY_CHUNK))
        if not chunk:
            break
        for at in range(0, len(chunk), _HOLE):
            piece = chunk[at : at + _HOLE]
            if piece == _ZEROS[: len(piece)]:
                out.seek(len(piece), os.SEEK_CUR)
            else:
                out.write(piece)
    out.truncate()


def _next(tar: tarfile.TarFile) -> Optional[tarfile.TarInfo]:
    """The next member; a header ``tarfile`` cannot parse is an ``ArchiveError``."""
    try:
        return tar.next()
    except ArchiveError:
        raise
    except Exception as e:  # tarfile's parser raises many kinds on hostile headers
        raise ArchiveError(f"a damaged tar header ({type(e).__name__}: {one_line(e)})") from e


class _Layer:
    """One layer being applied over an ``ExtractRoot``."""

    def __init__(self, tree: ExtractRoot, tar: tarfile.TarFile, budget: Budget, whiteouts: bool) -> None:
        self.tree, self.tar, self.budget, self.whiteouts = tree, tar, budget, whiteouts
        #: (device, inode of the folder, name) of what this layer wrote, the folders made on the way included:
        #: its own whiteouts do not hide them.
        self.written: Set[Tuple[int, int, str]] = set()
        tree.made = self.written

    def apply(self) -> None:
        while True:
            member = _next(self.tar)
            if member is None:
                return
            # Stream mode keeps every header it read (``members``, not in typeshed): a long layer would hold all.
            members = getattr(self.tar, "members", None)
            if isinstance(members, list):
                members.clear()
            self.budget.member(member)
            parts = member_parts(member.name)
            if not parts:
                continue
            *folder, base = parts
            if self.whiteouts and base.startswith(WHITEOUT):
                self._whiteout(folder, base, member.name)
            elif member.isdir():
                self._dir(folder, base, member)
            elif member.isreg():
                self._file(folder, base, member)
            elif member.issym():
                self._symlink(folder, base, member)
            elif member.islnk():
                self._hardlink(folder, base, member)
            # device nodes, FIFOs and unknown kinds: skipped

    def _place(self, folder: Sequence[str], base: str) -> int:
        """The folder's descriptor, with whatever is at ``base`` removed; ``base`` counts as written."""
        placed = self.tree.folder(folder, create=True)
        assert placed is not None
        fd, (dev, ino) = placed
        self.tree.remove(fd, base)
        self.written.add((dev, ino, base))
        return fd

    def _whiteout(self, folder: Sequence[str], base: str, name: str) -> None:
        if base.startswith(_WHITEOUT_META):
            if base == OPAQUE:
                self._opaque(folder)
            return
        hidden = base[len(WHITEOUT) :]
        if hidden in ("", ".", ".."):
            raise ArchiveError(f"unsafe whiteout {name[:200]!r} (names {hidden or 'nothing'!r}, not an entry)")
        found = self.tree.folder(folder, create=False)
        if found is None:
            return
        fd, (dev, ino) = found
        if (dev, ino, hidden) not in self.written:
            self.tree.remove(fd, hidden)

    def _opaque(self, folder: Sequence[str]) -> None:
        found = self.tree.folder(folder, create=False)
        if found is None:
            return
        fd, (dev, ino) = found
        for child in os.listdir(fd):
            if (dev, ino, child) not in self.written:
                self.tree.remove(fd, child)

    def _dir(self, folder: Sequence[str], base: str, member: tarfile.TarInfo) -> None:
        placed = self.tree.folder(folder, create=True)
        assert placed is not None
        fd, (dev, ino) = placed
        try:
            st: Optional[os.stat_result] = os.stat(base, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is None or not stat.S_ISDIR(st.st_mode):
            self.tree.remove(fd, base)
            os.mkdir(base, 0o700, dir_fd=fd)
        self.written.add((dev, ino, base))
        child = os.open(base, _DIR, dir_fd=fd)
        try:
            os.fchmod(child, (member.mode & 0o777) | 0o700)
        finally:
            os.close(child)

    def _file(self, folder: Sequence[str], base: str, member: tarfile.TarInfo) -> None:
        fd = self._place(folder, base)
        stream = self.tar.extractfile(member)
        out = os.open(base, _NEW_FILE, 0o600, dir_fd=fd)
        with os.fdopen(out, "wb") as f:
            if stream is not None:
                with stream:
                    if member.issparse():
                        _copy_sparse(stream, f)
                    else:
                        shutil.copyfileobj(stream, f, _COPY_CHUNK)
            os.fchmod(f.fileno(), (member.mode & 0o777) | 0o600)

    def _symlink(self, folder: Sequence[str], base: str, member: tarfile.TarInfo) -> None:
        if "\0" in member.linkname:
            raise ArchiveError(f"unsafe link target in {member.name[:200]!r} (holds a NUL character)")
        fd = self._place(folder, base)
        os.symlink(member.linkname, base, dir_fd=fd)

    def _hardlink(self, folder: Sequence[str], base: str, member: tarfile.TarInfo) -> None:
        *source_folder, source = member_parts(member.linkname, "hard link target") or [""]
        found = self.tree.folder(source_folder, create=False) if source else None
        try:
            st = os.stat(source, dir_fd=found[0], follow_symlinks=False) if found else None
        except FileNotFoundError:
            st = None
        if st is None or stat.S_ISDIR(st.st_mode):
            raise ArchiveError(
                f"hard link {member.name[:200]!r} to a missing member or a folder {member.linkname[:200]!r}"
            )
        assert found is not None
        source_fd = os.dup(found[0])  # folder() below may replace the cached descriptor
        try:
            placed = self.tree.folder(folder, create=True)
            assert placed is not None
            fd = placed[0]
            try:
                here = os.stat(base, dir_fd=fd, follow_symlinks=False)
                if (here.st_dev, here.st_ino) == (st.st_dev, st.st_ino):
                    return  # a link to itself
            except FileNotFoundError:
                pass
            fd = self._place(folder, base)
            try:
                os.link(source, base, src_dir_fd=source_fd, dst_dir_fd=fd, follow_symlinks=False)
            except OSError:  # a file system without hard links, or at its link count: copy instead
                self._copy(source_fd, source, fd, base, st)
        finally:
            os.close(source_fd)

    def _copy(self, source_fd: int, source: str, fd: int, base: str, st: os.stat_result) -> None:
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(source, dir_fd=source_fd), base, dir_fd=fd)
            return
        self.budget.write(st.st_size)
        src = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=source_fd)
        with os.fdopen(src, "rb") as f_in:
            out = os.open(base, _NEW_FILE, 0o600, dir_fd=fd)
            with os.fdopen(out, "wb") as f_out:
                shutil.copyfileobj(f_in, f_out, _COPY_CHUNK)
                os.fchmod(f_out.fileno(), stat.S_IMODE(st.st_mode))


def apply_layer(
    tar: tarfile.TarFile,
    dest: str,
    *,
    whiteouts: bool = True,
    limits: Optional[Limits] = None,
    budget: Optional[Budget] = None,
) -> None:
    """Unpack one layer over ``dest``, member by member in one pass (the ``TarFile`` is consumed): regular
    files, folders, symbolic and hard links; whiteouts hide what the layers below put there (never this layer's
    own entries, as the OCI spec says). ``budget`` carries the limits across an image's layers."""
    tree = ExtractRoot(dest)
    try:
        _Layer(tree, tar, budget or Budget(limits or Limits()), whiteouts).apply()
    finally:
        tree.close()
