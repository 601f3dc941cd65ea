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

import dataclasses
import re
from typing import (
    TYPE_CHECKING,
    Callable,
    Container,
    Dict,
    FrozenSet,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Set,
)

from envcheck.model import Fingerprint, Package
from envcheck.probe import canonicalize_name

if TYPE_CHECKING:
    from packaging.markers import Marker

#: The distribution whose footprint this is.
TOOL = "envcheck"
_EXTRA = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")
#: The name a requirement starts with, as packaging's grammar reads it (PEP 508): enough to tell, without parsing
#: the requirement, that it cannot name a distribution of envcheck's footprint.
_LEADING_NAME = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")


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
    from packaging.requirements import InvalidRequirement, Requirement

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


def _closure(roots: Iterable[str], edges: Callable[[str], Sequence[str]]) -> Set[str]:
    seen: Set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(edges(name))
    return seen


def tool_packages(packages: Sequence[Package], markers: Mapping[str, str], tool: str = TOOL) -> FrozenSet[str]:
    """The names of the distributions present only because ``tool`` is installed (empty when it is not)."""
    by_name = {p.name: p for p in packages}
    if tool not in by_name:
        return frozenset()
    graph: Dict[str, List[str]] = {}

    def edges(name: str) -> List[str]:
        if name not in graph:
            graph[name] = [r for r in requirement_names(by_name[name], markers, by_name) if r in by_name]
        return graph[name]

    ours = _closure([tool], edges)
    # Outside envcheck's closure only the edges into it matter (every other distribution is a root anyway), so a
    # distribution's requirements are parsed only where they may name one of ours (parsing every requirement of
    # a large environment is most of the time otherwise); one that may name ours under an extra is read whole,
    # since whether an extra counts depends on all of its requirements.
    for name, p in by_name.items():
        if name not in ours:
            graph[name] = required_among(p, markers, by_name, ours)
    roots = [name for name, p in by_name.items() if name not in ours or (p.requested and name != tool)]
    return frozenset(ours - _closure(roots, edges))


def required_among(
    package: Package, markers: Mapping[str, str], installed: Container[str], among: Container[str]
) -> List[str]:
    """The names among ``among`` that ``package`` requires: ``requirement_names`` kept to them, parsing only the
    requirements that may name one of them (most of a package's requirements name something else). One that
    may, under an extra, has the package read whole: whether an extra counts depends on all of its
    requirements."""
    relevant = [text for text in package.requires if _may_name(text, among)]
    if not relevant:
        return []
    if any("extra" in text for text in relevant):
        named = requirement_names(package, markers, installed)
    else:
        named = requirement_names(dataclasses.replace(package, requires=tuple(relevant)), markers, installed)
    return [name for name in named if name in among]


def _may_name(requirement: str, names: Container[str]) -> bool:
    """Whether ``requirement`` may name one of ``names`` (its leading name does); False only where it cannot."""
    m = _LEADING_NAME.match(requirement)
    return m is None or canonicalize_name(m.group(1)) in names


def tool_names(fp: Fingerprint) -> FrozenSet[str]:
    """envcheck's footprint in a fingerprint: the packages marked ``tool``, and for a lockfile written before
    the mark existed, those ``tool_packages`` finds from its recorded requirements."""
    marked = frozenset(p.name for p in fp.packages if p.tool)
    return marked | tool_packages(fp.packages, fp.python.markers)
