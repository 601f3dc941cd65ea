"""What the deployed model uses, and how that weighs a finding.

The lockfile's model files say which modules their pickles name (``ModelFile.references``) and which library
wrote them (``ModelFile.written_by``); each package says which top-level modules it installs
(``Package.modules``). From those: the distributions the model references, and everything they need (their
requirement closure in the lockfile). A finding about a referenced distribution is raised one severity level
(its absence is critical); a finding about a distribution the model neither references nor needs is lowered one
level. Without model references in the lockfile nothing is weighed: every package counts as it always did.

Pure: fingerprints in, names and scores out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, Iterable, List, Mapping, Set, Tuple

from packaging.utils import canonicalize_name

from envcheck.findings import Severity
from envcheck.footprint import requirement_names
from envcheck.model import Fingerprint, Package


@dataclass(frozen=True)
class ModelScope:
    """The distributions the recorded model files tie the judgement to."""

    referenced: FrozenSet[str] = frozenset()
    """Canonical names of the distributions whose modules a model file names."""
    needed: FrozenSet[str] = frozenset()
    """``referenced`` and their requirement closure among the lockfile's packages."""
    writers: Tuple[Tuple[str, str], ...] = ()
    """(distribution, version) of each library that wrote a model file, as the file says."""

    @property
    def known(self) -> bool:
        """Whether any model file said what it references: only then does the scope weigh findings."""
        return bool(self.referenced)

    def weight(self, package: str) -> int:
        """+1 for a referenced distribution, -1 for one outside ``needed``, 0 otherwise (or when unknown)."""
        if not self.known or not package:
            return 0
        if package in self.referenced:
            return 1
        return 0 if package in self.needed else -1


def module_owners(packages: Iterable[Package]) -> Dict[str, List[str]]:
    """Top-level module -> the distributions that install it (``importlib.metadata.packages_distributions``
    read from the lockfile)."""
    out: Dict[str, List[str]] = {}
    for pkg in packages:
        for module in pkg.modules:
            out.setdefault(module, []).append(pkg.name)
    return out


def _closure(roots: Iterable[str], packages: Mapping[str, Package], markers: Mapping[str, str]) -> FrozenSet[str]:
    seen = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in packages:
            continue
        seen.add(name)
        todo.extend(requirement_names(packages[name], markers, packages))
    return frozenset(seen)


def model_scope(fp: Fingerprint) -> ModelScope:
    """The scope of the model files recorded in ``fp`` (empty when none says what it references)."""
    owners = module_owners(fp.packages)
    by_name = {p.name: p for p in fp.packages}
    referenced: Set[str] = set()
    writers: List[Tuple[str, str]] = []
    for model in fp.models:
        for module in model.modules:
            # a lockfile written before packages recorded their modules: the distribution named like the module
            fallback = [name for name in (canonicalize_name(module),) if name in by_name]
            referenced.update(owners.get(module) or fallback)
        if model.written_by is not None:
            writers.append((model.written_by.package, model.written_by.version))
            if model.written_by.package in by_name:
                referenced.add(model.written_by.package)
    needed = _closure(referenced, by_name, fp.python.markers)
    return ModelScope(frozenset(referenced), needed | frozenset(referenced), tuple(sorted(set(writers))))


def shift(probability: int, impact: int, levels: int) -> Tuple[int, int]:
    """(probability, impact) moved ``levels`` severity levels up (positive) or down, clamped to low..critical.
    Moving up raises the smaller of the two first (the rule's judgement of the other is kept); moving down
    lowers probability first: the model's not using a package makes a problem less likely, not smaller."""
    start = Severity.from_score(probability * impact)
    target = Severity(min(max(start + levels, Severity.LOW), Severity.CRITICAL))
    p, i = probability, impact
    while Severity.from_score(p * i) < target:
        if p <= i and p < 5:
            p += 1
        elif i < 5:
            i += 1
        else:
            p += 1
    while Severity.from_score(p * i) > target:
        if p > 1:
            p -= 1
        else:
            i -= 1
    return p, i
