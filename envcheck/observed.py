"""Evidence in the judgement: what the opt-in checks saw the candidate do, as findings and as weight.

The import check (``--import``) and the load check (``--load-model``) run the candidate's code in a child of its
interpreter (``envcheck.evidence``). What they saw beats a guess from versions both ways: a module that fails to
import, a model file that fails to load, is a critical availability finding quoting the real error; a package
whose every module was seen to import loses the "may fail to import" part of the guesses about it (an
availability-only guess drops to low, a guess of both risks keeps only the prediction risk).

Pure: results in, changes and decisions out. Which modules to import is decided here too (``modules_to_import``),
so that the CLI and the API ask the same question.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, Iterator, List, Mapping, Optional, Set, Tuple

from envcheck.model import Fingerprint
from envcheck.modelfiles.owners import STDLIB
from envcheck.rules.interface import Change

#: Top-level names distributions install that are not meant to be imported.
_NOT_MODULES = frozenset(
    ["test", "tests", "testing", "docs", "doc", "examples", "example", "benchmarks", "scripts"]
)
#: At most this many modules per distribution, and in all, are imported.
PER_PACKAGE = 4
MAX_MODULES = 200


@dataclass(frozen=True)
class Seen:
    """How one item of a check ended: ``ok``, or the error's one line."""

    ok: bool
    error: str = ""
    """``Type: last line of the message``, or what killed the interpreter."""
    detail: str = ""
    """For an import: the version and location it was imported from; for a load: what the loader returned."""


@dataclass(frozen=True)
class Observed:
    """What the opt-in checks saw in the candidate."""

    imports: Mapping[str, Seen] = field(default_factory=dict)
    """Module -> how importing it went."""
    loads: Mapping[str, Seen] = field(default_factory=dict)
    """Recorded model path -> how loading it went."""
    how: str = ""
    """How the checks ran (interpreter, network, limits), for the report."""


def _importable(name: str) -> bool:
    return name.isidentifier() and name not in _NOT_MODULES and name not in STDLIB


def modules_to_import(
    expected: Fingerprint, actual: Fingerprint, critical: Iterable[str] = (), suspects: Iterable[str] = ()
) -> List[str]:
    """What the import check imports: every top-level module the lockfile's model files name, then the modules
    of the model-critical distributions and of the ``suspects`` (distributions a finding says may fail to
    import), as the candidate installs them; the standard library and test folders left out, bounded."""
    out: Dict[str, None] = {}
    for model in expected.models:
        for module in model.modules:
            if _importable(module):
                out[module] = None
    for name in (*critical, *suspects):
        pkg = actual.package(name) or expected.package(name)
        if pkg is None:
            continue
        for module in [m for m in pkg.modules if _importable(m)][:PER_PACKAGE]:
            out[module] = None
    return list(out)[:MAX_MODULES]


def owners(fp: Fingerprint) -> Dict[str, List[str]]:
    """Top-level module -> the distributions of ``fp`` that install it."""
    found: Dict[str, List[str]] = {}
    for pkg in fp.packages:
        for module in pkg.modules:
            found.setdefault(module, []).append(pkg.name)
    return found


def observed_changes(observed: Observed, actual: Fingerprint) -> Iterator[Change]:
    """A change per module that failed to import and per model file that failed to load."""
    by_module = owners(actual)
    for module, seen in sorted(observed.imports.items()):
        if seen.ok:
            continue
        package = (by_module.get(module.split(".")[0]) or [""])[0]
        fields = {"error": seen.error, "how": observed.how}
        yield Change("evidence.import.failed", module, "imports", seen.error, fields, package=package)
    for path, seen in sorted(observed.loads.items()):
        if seen.ok:
            continue
        fields = {"error": seen.error, "how": observed.how}
        yield Change("evidence.load.failed", path, "loads", seen.error, fields)


def imported(observed: Optional[Observed], actual: Fingerprint) -> FrozenSet[str]:
    """Distributions of which at least one module was seen to import and none to fail."""
    if observed is None:
        return frozenset()
    good: Set[str] = set()
    bad: Set[str] = set()
    for module, names in owners(actual).items():
        seen = observed.imports.get(module)
        if seen is None:
            continue
        (good if seen.ok else bad).update(names)
    return frozenset(good - bad)


def summary(observed: Observed) -> Tuple[int, int, int, int]:
    """(modules imported, modules failed, files loaded, files failed)."""
    ok_imports = sum(1 for s in observed.imports.values() if s.ok)
    ok_loads = sum(1 for s in observed.loads.values() if s.ok)
    return ok_imports, len(observed.imports) - ok_imports, ok_loads, len(observed.loads) - ok_loads
