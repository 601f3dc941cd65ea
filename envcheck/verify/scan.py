"""Verifying the distributions of some site folders against their RECORDs: modified, missing, unexpected files.

For each ``*.dist-info`` folder of each site folder, every file its RECORD lists with a hash is hashed (through
``Hasher``: bounded threads, a stat-keyed cache) and compared; a file listed without a hash is checked to exist.
Then the top-level folders the RECORDs install into (``numpy/``, ``numpy.libs/``) are walked, bounded, for files
no RECORD of that site folder lists: unexpected (``__pycache__`` folders and ``.pyc`` files left out: Python
writes them). An ``.egg-info`` has no hashes: it is named as not verifiable, never as a finding.

Every read goes through ``envcheck.tree.Tree`` rooted at the target's root: nothing outside it is read.
"""

from __future__ import annotations

import os
import stat as stat_module
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

from packaging.utils import canonicalize_name

from envcheck.tree import Tree
from envcheck.verify.hashing import BUDGET, Folders, HashCache, Hasher, Job, stamp
from envcheck.verify.record import Record, encode, is_generated, parse_record, top_folders
from envcheck.verify.result import DistFiles, Verification

#: Notes of one kind kept word for word.
_KEPT = 20


@dataclass(frozen=True)
class WalkLimits:
    """Bounds of the walk for unexpected files."""

    max_depth: int = 32
    max_per_folder: int = 100_000
    max_entries: int = 2_000_000


@dataclass(frozen=True)
class _Dist:
    """A distribution with a RECORD, as found in a site folder."""

    name: str
    version: str
    site: str
    meta: str
    record: Record
    key: Tuple[object, ...]
    """The RECORD file's identity (path and stamp): what says the plan made from it still holds."""


def split_dist_info(folder: str) -> Tuple[str, str]:
    """(canonical name, version) from a metadata folder's name (``scikit_learn-1.9.1.dist-info``)."""
    stem = folder.rsplit(".", 1)[0]
    name, _, version = stem.partition("-")
    return canonicalize_name(name), version


def _record(tree: Tree, path: str, cache: HashCache) -> Tuple[Record, Tuple[object, ...]]:
    """(a RECORD parsed, the file's identity), from the cache while the file's ``stat`` is unchanged; raises
    OSError."""
    key = (tree.root, path, *stamp(tree.stat(path)))
    record = cache.records.get(key)
    if not isinstance(record, Record):
        record = parse_record(tree.read(path, "record").decode("utf-8", "replace"))
        if len(cache.records) >= 100_000:
            cache.records.clear()
        cache.records[key] = record
    return record, key


def _unverified_tops(tree: Tree, meta: str, name: str) -> Set[str]:
    """The top-level names a distribution without hashes may install: its ``top_level.txt``, else its name."""
    tops = {name.replace("-", "_")}
    try:
        text = tree.read_text(f"{meta}/top_level.txt", "small")
    except OSError:
        return tops
    return tops | {line.strip() for line in text.splitlines() if line.strip() and "/" not in line}


def _read_dists(
    tree: Tree,
    site: str,
    cache: HashCache,
    not_verifiable: List[str],
    unsafe: List[str],
    cut: List[str],
    others: Set[str],
) -> List[_Dist]:
    """The verifiable distributions of a site folder; the top-level names of the others go into ``others`` (their
    files are nobody's unexpected files: no RECORD says what they installed)."""
    try:
        names = tree.listdir(site)
    except OSError:
        return []
    out = []
    for folder in names:
        if folder.endswith(".egg-info"):
            name, version = split_dist_info(folder)
            not_verifiable.append(f"{name} {version}: egg-info (no hashes)")
            others.update(_unverified_tops(tree, f"{site}/{folder}", name))
            continue
        if not folder.endswith(".dist-info"):
            continue
        name, version = split_dist_info(folder)
        try:
            record, key = _record(tree, f"{site}/{folder}/RECORD", cache)
        except OSError as e:
            not_verifiable.append(f"{name} {version}: no readable RECORD ({e.strerror or e})")
            others.update(_unverified_tops(tree, f"{site}/{folder}", name))
            continue
        unsafe.extend(f"{name}: {note}" for note in record.unsafe)
        if record.cut:
            cut.append(f"{name}: RECORD over {len(record.rows)} rows, the rest not verified")
        out.append(_Dist(name, version, site, folder, record, key))
    return out


def _listing(
    tree: Tree, folder: str, cache: HashCache, limits: WalkLimits
) -> Tuple[List[str], List[str], bool, Tuple[int, ...]]:
    """(files, sub-folders, cut, the folder's stamp) of one folder, ``__pycache__`` and ``.pyc`` left out, at most
    ``limits.max_per_folder`` entries; from the cache while the folder's ``stat`` is unchanged (adding, removing or
    renaming an entry changes its mtime and ctime). Raises OSError."""
    st = tree.stat(folder)
    key = (tree.root, folder, limits.max_per_folder)
    hit = cache.dirs.get(key)
    now = stamp(st)
    if hit is not None and hit[0] == now:
        return hit[1], hit[2], hit[3], now
    files: List[str] = []
    folders: List[str] = []
    cut = False
    fd = tree.open_dir(folder)
    try:
        with os.scandir(fd) as entries:
            for count, entry in enumerate(entries):
                if count >= limits.max_per_folder:
                    cut = True
                    break
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        folders.append(entry.name)
                elif not entry.name.endswith(".pyc"):
                    files.append(entry.name)
    finally:
        os.close(fd)
    if len(cache.dirs) >= 200_000:
        cache.dirs.clear()
    cache.dirs[key] = (now, files, folders, cut)
    return files, folders, cut, now


def _walk(
    tree: Tree,
    site: str,
    top: str,
    cache: HashCache,
    limits: WalkLimits,
    cut: List[str],
    budget: List[int],
    listed: List[Tuple[str, Tuple[int, ...]]],
) -> List[str]:
    """Files under ``site/top`` (relative to ``site``), ``__pycache__`` and ``.pyc`` left out; bounded. Each
    folder listed is added to ``listed`` with its stamp."""
    if tree.is_link(f"{site}/{top}"):
        return []  # a link to a folder elsewhere: its files are whoever's it points to
    found: List[str] = []
    stack = [(top, 0)]
    while stack:
        rel, depth = stack.pop()
        try:
            files, folders, over, now = _listing(tree, f"{site}/{rel}", cache, limits)
        except OSError:
            continue
        listed.append((f"{site}/{rel}", now))
        budget[0] -= len(files) + len(folders)
        if over or budget[0] < 0:
            cut.append(
                f"{site}/{rel}: over {limits.max_per_folder} entries or the walk's bound of {limits.max_entries}"
            )
            if budget[0] < 0:
                return found
        found.extend(f"{rel}/{name}" for name in files)
        for name in folders:
            if depth + 1 >= limits.max_depth:
                cut.append(f"{site}/{rel}/{name}: deeper than {limits.max_depth} folders")
            else:
                stack.append((f"{rel}/{name}", depth + 1))
    return found


class _Tally:
    """Counts for the result, summed over site folders."""

    def __init__(self) -> None:
        self.hashed = self.read = self.hits = 0


class _Plan:
    """What verifying one site folder needs, made from its RECORDs, and what the last verification saw; kept in
    the cache while the RECORDs are unchanged, so that a re-verify does little more than ``stat`` each file."""

    def __init__(self, site: str, dists: Sequence[_Dist], others: Set[str]) -> None:
        self.signature = _signature(dists, others)
        self.site = site
        # two flat lists, not a (dist, row) pair per file: a sidecar keeps the plan for its lifetime
        self.rows = [r for d in dists for r in d.record.rows if r.algorithm]
        self.row_dists = [d for d in dists for r in d.record.rows if r.algorithm]
        self.unhashed = [(d, r) for d in dists for r in d.record.rows if not r.algorithm]
        self.listed = {r.path for d in dists for r in d.record.rows}
        self.owners: Dict[str, str] = {}
        for dist in dists:
            for top in top_folders(dist.record.rows, dist.meta):
                if top not in others:
                    self.owners.setdefault(top, dist.meta)
        self.verdicts: List[str] = ["ok"] * len(self.rows)
        self.stamps: List[Tuple[int, ...]] = [()] * len(self.rows)
        self.checked = False
        #: The folders the last walk listed with their stamps, what it found and the bounds it hit.
        self.walked: Optional[Tuple[List[Tuple[str, Tuple[int, ...]]], Dict[str, List[str]], List[str]]] = None

    def path(self, i: int) -> str:
        """The tree path of hashed row ``i`` (made when asked: a sidecar keeps the plan, and every path twice
        would cost megabytes in a large environment)."""
        return self.site + "/" + self.rows[i].path


#: The stamp of a file that was missing when last judged.
GONE = (-1,)


def _signature(dists: Sequence[_Dist], others: Set[str]) -> Tuple[object, ...]:
    return (tuple(d.key for d in dists), tuple(sorted(others)))


def _plan(tree: Tree, site: str, dists: Sequence[_Dist], others: Set[str], cache: HashCache) -> _Plan:
    key = (tree.root, site)
    plan = cache.sites.get(key)
    if not isinstance(plan, _Plan) or plan.signature != _signature(dists, others):
        plan = _Plan(site, dists, others)
        if len(cache.sites) >= 1000:
            cache.sites.clear()
        cache.sites[key] = plan
    return plan


def _check_files(tree: Tree, plan: _Plan, hasher: Hasher, tally: _Tally) -> None:
    """Fill the plan's verdicts (``ok``, ``modified``, ``missing``), one per hashed row.

    A plan checked before has each file ``stat``-ed in one tight loop against the identity it had when last
    judged (this machine's tree only: a foreign tree's paths must resolve inside it, through the tree, which the
    hasher does); only the files that moved are hashed again."""
    if plan.checked and tree.native and tree.root in ("", "/"):
        redo = _moved(plan.path, plan.stamps, hasher.threads)
        tally.hits += len(plan.rows) - len(redo)
    elif plan.checked:
        redo = _moved_in(tree, plan.path, plan.stamps)
        tally.hits += len(plan.rows) - len(redo)
    else:
        redo = list(range(len(plan.rows)))
    jobs = [Job(plan.path(i), plan.rows[i].algorithm, plan.rows[i].size) for i in redo]
    for (_, outcome), i in zip(hasher.hash_all(jobs), redo):  # the generator first: it closes its pool
        row = plan.rows[i]
        if outcome.missing:
            plan.verdicts[i] = "missing"
            plan.stamps[i] = GONE
            continue
        if outcome.size_differs or outcome.refused or encode(outcome.digest) != row.digest:
            plan.verdicts[i] = "modified"
        else:
            plan.verdicts[i] = "ok"
        plan.stamps[i] = outcome.stamp
        if outcome.cached:
            tally.hits += 1
        elif outcome.digest:
            tally.hashed += 1
            tally.read += outcome.read
    plan.checked = True


def _moved_part(path: Callable[[int], str], stamps: Sequence[Tuple[int, ...]], start: int, end: int) -> List[int]:
    out = []
    stat_of = os.stat
    for i in range(start, end):
        try:
            st = stat_of(path(i))
        except (FileNotFoundError, NotADirectoryError):
            if stamps[i] != GONE:  # still missing: nothing to hash again
                out.append(i)
            continue
        except OSError:
            out.append(i)
            continue
        if (st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns) != stamps[i]:
            out.append(i)
    return out


def _moved_in(tree: Tree, path_of: Callable[[int], str], stamps: Sequence[Tuple[int, ...]]) -> List[int]:
    """``_moved`` for a foreign tree: each file ``stat``-ed in its folder's descriptor (resolved inside the tree),
    nothing followed; a link counts as moved (the hasher resolves it inside the tree, and its cache answers)."""
    out = []
    folders = Folders(tree)
    try:
        for i in range(len(stamps)):
            folder, _, name = path_of(i).rpartition("/")
            try:
                st = os.stat(name, dir_fd=folders.fd(folder or "/"), follow_symlinks=False)
            except (FileNotFoundError, NotADirectoryError):
                if stamps[i] != GONE:  # still missing: nothing to hash again
                    out.append(i)
                continue
            except OSError:
                out.append(i)
                continue
            if (
                stat_module.S_ISLNK(st.st_mode)
                or (
                    st.st_size,
                    st.st_mtime_ns,
                    st.st_ino,
                    st.st_ctime_ns,
                )
                != stamps[i]
            ):
                out.append(i)
    finally:
        folders.close()
    return out


def _moved(path: Callable[[int], str], stamps: Sequence[Tuple[int, ...]], threads: int) -> List[int]:
    """Indexes of the files whose ``stat`` identity is not the one recorded (or that cannot be stat-ed), in
    ``threads`` threads: ``os.stat`` releases the GIL, and on an unchanged environment syscalls are the cost."""
    if threads < 4 or len(stamps) < 1024:  # measured: on 2 CPUs a second thread only adds its own cost
        return _moved_part(path, stamps, 0, len(stamps))
    step = -(-len(stamps) // threads)
    bounds = [(i, min(i + step, len(stamps))) for i in range(0, len(stamps), step)]
    with ThreadPoolExecutor(max_workers=len(bounds), thread_name_prefix="envcheck-stat") as pool:
        parts = pool.map(lambda b: _moved_part(path, stamps, b[0], b[1]), bounds)
        return [i for part in parts for i in part]


def verify_sites(
    root: str,
    sites: Sequence[str],
    *,
    target: str = "",
    cache: Optional[HashCache] = None,
    threads: Optional[int] = None,
    limits: WalkLimits = WalkLimits(),
) -> Verification:
    """Verify every distribution installed in ``sites`` (paths of the tree at ``root``)."""
    not_verifiable: List[str] = []
    unsafe: List[str] = []
    cut: List[str] = []
    changed: List[DistFiles] = []
    outside = verified = 0
    tally = _Tally()
    cache = cache if cache is not None else HashCache()
    with Tree(root, budget=BUDGET) as tree, Hasher(root, cache, threads) as hasher:
        for site in dict.fromkeys(sites):
            others: Set[str] = set()
            dists = _read_dists(tree, site, cache, not_verifiable, unsafe, cut, others)
            if not dists:
                continue
            verified += len(dists)
            outside += sum(d.record.outside for d in dists)
            plan = _plan(tree, site, dists, others, cache)
            found: Dict[str, Dict[str, List[str]]] = {
                d.meta: {"modified": [], "missing": [], "unexpected": []} for d in dists
            }
            for dist, row in plan.unhashed:
                path = f"{site}/{row.path}"
                if not tree.exists(path) and not tree.is_link(path):
                    found[dist.meta]["missing"].append(row.path)
            _check_files(tree, plan, hasher, tally)
            for dist, row, verdict in zip(plan.row_dists, plan.rows, plan.verdicts):
                if verdict != "ok":
                    found[dist.meta][verdict].append(row.path)
            for meta, paths in _unexpected(tree, site, plan, cache, limits, cut).items():
                found[meta]["unexpected"].extend(paths)
            for dist in dists:
                kinds = found[dist.meta]
                entry = DistFiles(
                    dist.name,
                    dist.version,
                    site,
                    tuple(sorted(kinds["modified"])),
                    tuple(sorted(kinds["missing"])),
                    tuple(sorted(kinds["unexpected"])),
                )
                if entry.changed:
                    changed.append(entry)
        refused = (tree.refused + hasher.refused())[:_KEPT]
    return Verification(
        target=target,
        sites=tuple(dict.fromkeys(sites)),
        verified=verified,
        changed=tuple(sorted(changed, key=lambda d: (d.name, d.site))),
        files_hashed=tally.hashed,
        bytes_hashed=tally.read,
        cache_hits=tally.hits,
        not_verifiable=tuple(not_verifiable),
        unsafe=tuple(unsafe[:_KEPT]) + ((f"and {len(unsafe) - _KEPT} more",) if len(unsafe) > _KEPT else ()),
        outside=outside,
        cut=tuple(cut[:_KEPT]),
        refused=tuple(refused),
    )


def _unexpected(
    tree: Tree, site: str, plan: _Plan, cache: HashCache, limits: WalkLimits, cut: List[str]
) -> Dict[str, List[str]]:
    """Metadata folder -> files in its top-level folders that no RECORD of the site lists. When every folder the
    last walk listed has the same stamp (an entry added, removed or renamed changes its folder's), the last
    answer holds, and nothing is listed again."""
    if plan.walked is not None and _same_folders(tree, plan.walked[0]):
        cut.extend(plan.walked[2])
        return plan.walked[1]
    out: Dict[str, List[str]] = {}
    folders: List[Tuple[str, Tuple[int, ...]]] = []
    notes: List[str] = []
    budget = [limits.max_entries]
    for top, meta in sorted(plan.owners.items()):
        if not tree.is_dir(f"{site}/{top}"):
            continue
        for path in _walk(tree, site, top, cache, limits, notes, budget, folders):
            if path not in plan.listed and not is_generated(path):
                out.setdefault(meta, []).append(path)
    plan.walked = (folders, out, notes)
    cut.extend(notes)
    return out


def _same_folders(tree: Tree, folders: Sequence[Tuple[str, Tuple[int, ...]]]) -> bool:
    try:
        return all(stamp(tree.stat(folder)) == then for folder, then in folders)
    except OSError:
        return False
