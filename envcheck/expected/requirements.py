"""Pinned ``requirements.txt`` files: ``name==version`` lines with their hashes and markers, and ``-r``/``-c``
includes resolved only inside the top file's folder.

``parse_requirements`` is pure (one file's text: its pins, includes and notes); ``read_requirements`` follows the
includes. The line syntax is pip's (continuations, ``#`` comments, per-requirement ``--hash``); each requirement
is parsed by ``packaging.requirements``. Only ``==`` (or ``===``) pins without a wildcard state a version: any
other requirement, an editable install or a URL is noted and not compared. Nothing is fetched: an include that is
a URL, an absolute path, or leaves the folder (``..``, a symbolic link) is refused, as are more than
``MAX_FILES`` files or includes nested deeper than ``MAX_DEPTH``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import List, Optional, Set, Tuple

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from envcheck.expected.interface import ExpectedError, ExpectedPackage, PartialSpec
from envcheck.expected.reading import read_text

FORMAT = "requirements.txt"
MAX_FILES = 32
MAX_DEPTH = 8
#: Logical lines in all the files together: a large real file has a few thousand (``packaging`` parses about
#: 5,000 requirements a second, so this bounds the time a hostile file costs to about two seconds).
MAX_LINES = 10_000
#: Lines detection looks at before deciding a file that is not TOML is no requirements file.
DETECT_LINES = 100
_INCLUDE = {"-r": False, "--requirement": False, "-c": True, "--constraint": True}
_EDITABLE = ("-e", "--editable")
#: Options pip takes on a line of their own; they say where to install from, not what.
_GLOBAL = (
    "-i",
    "--index-url",
    "--extra-index-url",
    "--no-index",
    "-f",
    "--find-links",
    "--trusted-host",
    "--pre",
    "--prefer-binary",
    "--only-binary",
    "--no-binary",
    "--require-hashes",
    "--use-feature",
)
_COMMENT = re.compile(r"(^|\s+)#.*$")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@dataclass(frozen=True)
class Include:
    """A ``-r``/``-c`` line: the file it names, as written."""

    target: str
    constraint: bool
    line: int


@dataclass(frozen=True)
class Parsed:
    packages: Tuple[ExpectedPackage, ...]
    includes: Tuple[Include, ...]
    notes: Tuple[str, ...]


def logical_lines(text: str, limit: Optional[int] = None) -> List[Tuple[int, str]]:
    """(first line number, content) with comments stripped and ``\\`` continuations joined, blanks dropped; at
    most ``limit`` of them."""
    out: List[Tuple[int, str]] = []
    buf: List[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not buf:
            start = number
        line = _COMMENT.sub("", raw)
        if line.endswith("\\"):
            buf.append(line[:-1])
            continue
        buf.append(line)
        joined = " ".join(part.strip() for part in buf).strip()
        buf = []
        if joined:
            out.append((start, joined))
            if limit is not None and len(out) >= limit:
                return out
    if buf and " ".join(buf).strip():
        out.append((start, " ".join(part.strip() for part in buf).strip()))
    return out


def _option(line: str) -> Tuple[str, str]:
    """(``-r``, ``FILE``) from ``-r FILE``, ``-rFILE``, ``--requirement FILE`` or ``--requirement=FILE``."""
    first, _, rest = line.partition(" ")
    if first.startswith("--"):
        flag, _, value = first.partition("=")
        return flag, (value or rest).strip()
    return first[:2], (first[2:] or rest).strip()


def _split(line: str) -> Tuple[str, List[str]]:
    """The requirement text and its per-requirement options (``--hash=...``)."""
    match = re.search(r"\s--?[A-Za-z]", line)
    if match is None:
        return line, []
    return line[: match.start()].strip(), line[match.start() :].split()


def _hashes(options: List[str]) -> Tuple[str, ...]:
    out: List[str] = []
    for i, token in enumerate(options):
        if token.startswith("--hash="):
            value = token[len("--hash=") :]
        elif token == "--hash" and i + 1 < len(options):
            value = options[i + 1]
        else:
            continue
        algo, _, digest = value.partition(":")
        out.append(f"{algo}:{digest.lower()}")
    return tuple(out)


def pinned_version(req: Requirement) -> Optional[str]:
    """The version a requirement pins: one ``==`` (no wildcard) or ``===`` specifier; None otherwise."""
    specs = list(req.specifier)
    if req.url or len(specs) != 1:
        return None
    (spec,) = specs
    if spec.operator == "===" or (spec.operator == "==" and not spec.version.endswith(".*")):
        return spec.version
    return None


def parse_requirements(text: str, name: str, constraint: bool = False, max_lines: int = MAX_LINES) -> Parsed:
    """One requirements file's pins, includes and notes; a line that is neither option nor requirement, or more
    than ``max_lines`` lines, is an ``ExpectedError`` naming the file (and the line)."""
    packages: List[ExpectedPackage] = []
    includes: List[Include] = []
    notes: List[str] = []
    lines = logical_lines(text, max_lines + 1)
    if len(lines) > max_lines:
        raise ExpectedError(f"{name}: more than {max_lines} requirement lines")
    for number, line in lines:
        if line.startswith("-"):
            flag, value = _option(line)
            if flag in _INCLUDE:
                if not value:
                    raise ExpectedError(f"{name}:{number}: {flag} names no file")
                includes.append(Include(value, constraint or _INCLUDE[flag], number))
            elif flag in _EDITABLE:
                notes.append(f"{name}:{number}: editable {value[:80]} not compared")
            elif flag not in _GLOBAL:
                notes.append(f"{name}:{number}: option {flag[:40]} ignored")
            continue
        req_text, options = _split(line)
        try:
            req = Requirement(req_text)
        except InvalidRequirement as e:
            raise ExpectedError(f"{name}:{number}: not a requirement ({str(e)[:120]})") from e
        version = pinned_version(req)
        canonical = canonicalize_name(req.name)
        if version is None:
            notes.append(f"{canonical}: {'a URL' if req.url else 'not pinned with =='}, not compared")
            continue
        marker = str(req.marker) if req.marker is not None else ""
        packages.append(ExpectedPackage(canonical, version, marker, _hashes(options), constraint))
    return Parsed(tuple(packages), tuple(includes), tuple(notes))


def looks_like_requirements(text: str) -> bool:
    """Detection, for text that is not TOML: some line is a requirement or a ``-r``/``-c`` include (a bad line
    elsewhere is then reported by ``parse_requirements`` with its number, not as "not valid TOML")."""
    for _, line in logical_lines(text, DETECT_LINES):
        if line.startswith("-"):
            if _option(line)[0] in _INCLUDE:
                return True
            continue
        try:
            Requirement(_split(line)[0])
        except InvalidRequirement:
            continue
        return True
    return False


def _resolve(include: Include, folder: str, root: str, name: str) -> str:
    """The included file's path, refused unless it lies inside ``root`` (after symbolic links)."""
    target = include.target
    where = f"{name}:{include.line}"
    if _URL.match(target) and not re.match(r"^[A-Za-z]:[\\/]", target):
        raise ExpectedError(f"{where}: include {target[:80]} is a URL; envcheck fetches nothing")
    if os.path.isabs(target) or target.startswith("~"):
        raise ExpectedError(f"{where}: include {target[:80]} is an absolute path; give one inside {root}")
    path = os.path.realpath(os.path.join(folder, target))
    if os.path.commonpath([path, root]) != root:
        raise ExpectedError(f"{where}: include {target[:80]} lies outside the folder {root}")
    return path


def read_requirements(path: str, constraint: bool = False) -> PartialSpec:
    """Read ``path`` and the files it includes (``-c`` files as constraints), within bounds."""
    root = os.path.dirname(os.path.realpath(path))
    packages: List[ExpectedPackage] = []
    notes: List[str] = []
    seen: Set[str] = set()
    lines_read = 0
    todo: List[Tuple[str, str, bool, int]] = [(os.path.realpath(path), str(path), constraint, 0)]
    while todo:
        real, shown, is_constraint, depth = todo.pop(0)
        if real in seen:
            continue  # included twice (or in a cycle): read once
        seen.add(real)
        if len(seen) > MAX_FILES:
            raise ExpectedError(f"{path}: includes more than {MAX_FILES} files")
        budget = MAX_LINES - lines_read
        parsed = parse_requirements(read_text(real, "requirements file"), shown, is_constraint, budget)
        lines_read += len(parsed.packages) + len(parsed.includes) + len(parsed.notes)
        packages.extend(parsed.packages)
        notes.extend(parsed.notes)
        for include in parsed.includes:
            if depth + 1 > MAX_DEPTH:
                raise ExpectedError(f"{shown}:{include.line}: includes nested deeper than {MAX_DEPTH}")
            target = _resolve(include, os.path.dirname(real), root, shown)
            shown_target = os.path.join(os.path.dirname(shown), include.target)
            todo.append((target, shown_target, include.constraint, depth + 1))
    if not packages and not notes:
        raise ExpectedError(f"{path}: states no requirement")
    return PartialSpec(format=FORMAT, packages=tuple(packages), notes=tuple(notes))
