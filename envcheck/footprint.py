"""envcheck's own footprint: the distributions an environment holds only because envcheck is installed in it.

A lockfile written by an envcheck installed in the training environment lists envcheck and what it pulled in
(click, psutil, tomli-w, ...). A serving environment without envcheck lacks them, and that is no drift of the
model's. They are marked ``tool`` in the lockfile (``Package.tool``) and never reported missing.

Which ones: envcheck and its requirement closure, as the recorded ``requires`` state it (markers evaluated for the
recorded interpreter; an extra's requirements followed where all of them are installed), less every
distribution that the model's own packages require (directly or through others) and less what the user asked
for by name (a ``REQUESTED`` file), with their closures. Pure: data in, names out.
"""

from __future__ import annotations

import re
from typing import Container, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Set

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from envcheck.model import Fingerprint, Package

#: The distribution whose footprint this is.
TOOL = "envcheck"
_EXTRA = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")


def _holds(marker: Optional[Marker], markers: Mapping[str, str], extra: str) -> bool:
    """Whether a requirement's marker holds for the recorded interpreter and ``extra`` ("" for none). A marker
    that cannot be evaluated is taken to hold."""
    if marker is None:
        return True
    try:
        return bool(marker.evaluate({**markers, "extra": extra}))
    except Exception:  # packaging raises several types for an environment it cannot use
        return True


def requirement_names(
    package: Package, markers: Mapping[str, str], installed: Optional[Container[str]] = None
) -> List[str]:
    """The canonical names ``package`` requires in this environment: its requirements whose markers hold, and
    those of each extra that looks installed (every requirement of that extra is, among ``installed``; all when
    ``installed`` is None). Unparsable requirements are skipped."""
    base: List[str] = []
    extras: Dict[str, List[str]] = {}
    for text in package.requires:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue
        name = canonicalize_name(req.name)
        if _holds(req.marker, markers, ""):
            base.append(name)
            continue
        for extra in _EXTRA.findall(str(req.marker)):
            if _holds(req.marker, markers, extra):
                extras.setdefault(extra, []).append(name)
    out = list(base)
    for names in extras.values():
        if installed is None or all(n in installed for n in names):
            out.extend(names)
    return list(dict.fromkeys(out))


def _closure(roots: Iterable[str], graph: Mapping[str, Sequence[str]]) -> Set[str]:
    seen: Set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(graph.get(name, ()))
    return seen


def tool_packages(packages: Sequence[Package], markers: Mapping[str, str], tool: str = TOOL) -> FrozenSet[str]:
    """The names of the distributions present only because ``tool`` is installed (empty when it is not)."""
    by_name = {p.name: p for p in packages}
    if tool not in by_name:
        return frozenset()
    graph: Dict[str, List[str]] = {
        name: [r for r in requirement_names(p, markers, by_name) if r in by_name] for name, p in by_name.items()
    }
    ours = _closure([tool], graph)
    roots = [name for name, p in by_name.items() if name not in ours or (p.requested and name != tool)]
    return frozenset(ours - _closure(roots, graph))


def tool_names(fp: Fingerprint) -> FrozenSet[str]:
    """envcheck's footprint in a fingerprint: the packages marked ``tool``, and for a lockfile written before
    the mark existed, those ``tool_packages`` finds from its recorded requirements."""
    marked = frozenset(p.name for p in fp.packages if p.tool)
    return marked | tool_packages(fp.packages, fp.python.markers)
