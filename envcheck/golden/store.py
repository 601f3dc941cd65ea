"""``envcheck.golden/`` beside the lockfile: one JSON file per case, bound to the lockfile by sha256 and size.

``write_case`` writes one case (atomically); ``bind`` lists the folder's cases for the lockfile (``GoldenInfo``),
refusing more than the size limit in all; ``load_bound`` reads them back for a canary, refusing a file that is
missing, larger than recorded or not the bytes the lockfile bound.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import List, Sequence, Union

from envcheck import atomic
from envcheck.errors import WriteError
from envcheck.golden.case import GoldenCase, GoldenError, check_name, parse_case, render_case
from envcheck.model import GoldenFile, GoldenInfo

FOLDER = "envcheck.golden"
#: The most golden data a lockfile binds, in all: golden cases are a handful of rows, not a test set.
DEFAULT_LIMIT = 1 << 20

PathLike = Union[str, Path]


def folder_for(lock: PathLike) -> Path:
    """``envcheck.golden/`` beside the lockfile ``lock``."""
    return Path(os.path.abspath(lock)).parent / FOLDER


def write_case(case: GoldenCase, folder: PathLike, limit: int = DEFAULT_LIMIT) -> Path:
    data = render_case(case)
    if len(data) > limit:
        raise GoldenError(
            f"golden case {case.name!r}: {len(data)} bytes is more than the golden limit of {limit} bytes "
            "(record fewer rows)"
        )
    path = Path(folder) / f"{check_name(case.name)}.json"
    try:
        os.makedirs(folder, exist_ok=True)
        atomic.write_bytes(path, data)
    except (OSError, WriteError) as e:
        raise GoldenError(f"{path}: cannot write the golden case ({e})") from e
    return path


def bind(lock: PathLike, limit: int = DEFAULT_LIMIT) -> GoldenInfo:
    """The cases in ``envcheck.golden/`` beside ``lock``, by name, with their digests; more than ``limit`` bytes
    in all, a file that is not a regular file or not a golden case, or no case at all is refused."""
    folder = folder_for(lock)
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
    except OSError as e:
        raise GoldenError(f"{folder}: cannot list the golden cases ({e.strerror or e})") from e
    if not names:
        raise GoldenError(f"{folder}: holds no golden case (NAME.json)")
    files: List[GoldenFile] = []
    total = 0
    for name in names:
        data = _read(folder / name, limit - total)
        total += len(data)
        if total > limit:
            raise GoldenError(
                f"{folder}: the golden cases are more than the limit of {limit} bytes in all (record fewer rows, "
                "or raise the limit)"
            )
        case = parse_case(data, default_name=name[: -len(".json")], where=str(folder / name))
        if f"{case.name}.json" != name:
            raise GoldenError(f"{folder / name}: holds the case {case.name!r}, not {name[:-5]!r}")
        rel = f"{FOLDER}/{name}"
        files.append(GoldenFile(name=case.name, file=rel, sha256=hashlib.sha256(data).hexdigest(), size=len(data)))
    return GoldenInfo(cases=tuple(files))


def _read(path: Path, budget: int) -> bytes:
    """A regular file's bytes: at most ``budget`` + 1 of them (more tells the caller it is too large)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError as e:
        raise GoldenError(f"{path}: cannot read ({e.strerror or e})") from e
    with os.fdopen(fd, "rb") as f:
        if not _is_regular(f.fileno()):
            raise GoldenError(f"{path}: not a regular file")
        return f.read(max(budget, 0) + 1)


def _is_regular(fd: int) -> bool:
    return stat.S_ISREG(os.fstat(fd).st_mode)


def load_bound(lock: PathLike, info: GoldenInfo, names: Sequence[str] = ()) -> List[GoldenCase]:
    """The cases the lockfile bound (``names``: only those), each checked against its digest and size."""
    base = Path(os.path.abspath(lock)).parent
    wanted = set(names)
    unknown = wanted - {c.name for c in info.cases}
    if unknown:
        raise GoldenError(f"{lock}: binds no golden case {sorted(unknown)[0]!r}")
    out = []
    for ref in info.cases:
        if wanted and ref.name not in wanted:
            continue
        if "/" in ref.file.replace(FOLDER + "/", "", 1) or not ref.file.startswith(FOLDER + "/"):
            raise GoldenError(f"{lock}: golden file {ref.file!r} is not in {FOLDER}/")
        path = base / ref.file
        data = _read(path, ref.size)
        if len(data) != ref.size or hashlib.sha256(data).hexdigest() != ref.sha256:
            raise GoldenError(
                f"{path}: not the golden case the lockfile bound (changed since the snapshot); take a new snapshot"
            )
        out.append(parse_case(data, default_name=ref.name, where=str(path)))
    return out
