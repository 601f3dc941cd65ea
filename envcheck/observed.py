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

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, FrozenSet, Iterable, Iterator, List, Mapping, Optional, Set, Tuple

from envcheck.model import Fingerprint
from envcheck.modelfiles.owners import STDLIB
from envcheck.rules.interface import Change

if TYPE_CHECKING:
    from envcheck.verify.result import Verification

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
    warnings: Tuple[str, ...] = ()
    """The warnings it raised, ``Category: first line`` each, distinct, the first few (scikit-learn's
    ``InconsistentVersionWarning`` when an estimator pickled by another version is loaded)."""


@dataclass(frozen=True)
class Observed:
    """What the opt-in checks saw in the candidate."""

    imports: Mapping[str, Seen] = field(default_factory=dict)
    """Module -> how importing it went."""
    loads: Mapping[str, Seen] = field(default_factory=dict)
    """Recorded model path -> how loading it went."""
    how: str = ""
    """How the checks ran (interpreter, network, limits), for the report."""
    files: Optional[Verification] = None
    """What verifying the installed files against their RECORDs found (``--files``); None: not asked."""


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


#: Exception types that say a model file's bytes are damaged (cut short, overwritten), not that the environment
#: lacks something: the unpicklers' and the decompressors' own errors, by their last dotted part.
_DAMAGE_TYPES = frozenset(["EOFError", "UnpicklingError", "error", "LZMAError", "BadGzipFile", "BadZipFile"])
#: Messages that say the same whatever the type (torch's zip reader, onnxruntime's protobuf parser, gzip).
_DAMAGE_WORDS = re.compile(
    r"truncated|invalid load key|ran out of input|pickle exhausted|unpickling stack underflow|could not find MARK"
    r"|failed finding central directory|failed reading zip archive|not a zip file|INVALID_PROTOBUF"
    r"|protobuf parsing failed|compressed file ended|incorrect header check|invalid stored block",
    re.IGNORECASE,
)
#: torch's weights_only refusal is an UnpicklingError about what the file holds, not about damage.
_NOT_DAMAGE = re.compile(r"weights only load failed|weights_only", re.IGNORECASE)
_DAMAGED_REMEDY = (
    "the file is truncated or corrupt: compare its digest with the lockfile's (`sha256sum FILE`, "
    "`envcheck show LOCK`), copy it again from where it was verified"
)
_VERSION_REMEDY = (
    "serve with the lockfile's versions of the libraries the model file names (`envcheck show LOCK`), or "
    "re-export the model with the candidate's and verify it again"
)


def damaged(error: str) -> bool:
    """Whether a load failure (``Type: last line of the message``) says the file's bytes are damaged (cut short,
    overwritten) rather than that the candidate's libraries cannot read a sound file: pickle's ``EOFError`` and
    ``UnpicklingError: pickle data was truncated`` / ``invalid load key``, a decompressor's or zip reader's error.
    An import or attribute error (the environment's story) is never damage."""
    kind, _, message = error.partition(": ")
    last = kind.rsplit(".", 1)[-1]
    if last in ("ModuleNotFoundError", "ImportError", "AttributeError") or _NOT_DAMAGE.search(error):
        return False
    return (last in _DAMAGE_TYPES and " " not in kind) or bool(_DAMAGE_WORDS.search(message))


#: A warning that says the file was written by another version of the library loading it (scikit-learn's
#: ``InconsistentVersionWarning``, xgboost's "an older version of XGBoost"); a deprecation notice is not one.
_VERSION_WARNING = re.compile(
    r"version\S*warning|\b(from|by|an?|another|other|older|newer|different) (older |newer |other |different )?"
    r"version\b.*\b(when|while|using|current|installed|now|please|differ)|version mismatch",
    re.IGNORECASE,
)
_DEPRECATION = re.compile(r"^(\S*\.)?(Deprecation|PendingDeprecation|Future)Warning\b|deprecated", re.IGNORECASE)


def version_warnings(warnings: Iterable[str]) -> List[str]:
    """The warnings that say a model file was written by another version of the library that loaded it."""
    return [w for w in warnings if _VERSION_WARNING.search(w) and not _DEPRECATION.search(w)]


def _verified_so(expected: Optional[Fingerprint], actual: Fingerprint, path: str) -> bool:
    """Whether the lockfile shows that the model at ``path`` was verified with the library that warns about it
    at the version the candidate has: its writer is known, and that package did not move. The warning was
    there at verification then, and matching the lockfile cannot silence it."""
    model = next((m for m in expected.models if m.path == path), None) if expected is not None else None
    if expected is None or model is None or model.written_by is None:
        return False
    then, now = expected.package(model.written_by.package), actual.package(model.written_by.package)
    return then is not None and now is not None and then.version == now.version


def observed_changes(
    observed: Observed, actual: Fingerprint, expected: Optional[Fingerprint] = None
) -> Iterator[Change]:
    """A change per module that failed to import, per model file that failed to load (what the error says:
    a damaged file, or the environment), and per model file that loaded with a warning that it was written by
    another version of its library (it may predict differently), unless the lockfile shows it was verified so
    (``expected``: the writer's library did not move)."""
    by_module = owners(actual)
    for module, seen in sorted(observed.imports.items()):
        if seen.ok:
            continue
        package = (by_module.get(module.split(".")[0]) or [""])[0]
        fields = {"error": seen.error, "how": observed.how}
        yield Change("evidence.import.failed", module, "imports", seen.error, fields, package=package)
    for path, seen in sorted(observed.loads.items()):
        if seen.ok:
            said = version_warnings(seen.warnings)
            if said and not _verified_so(expected, actual, path):
                fields = {"warning": said[0], "how": observed.how}
                yield Change("evidence.load.warned", path, "loads", said[0], fields, instance=path)
            continue
        bad = damaged(seen.error)
        fields = {
            "error": seen.error,
            "how": observed.how,
            "meaning": " — the file is damaged, not the environment" if bad else "",
            "remedy": _DAMAGED_REMEDY if bad else _VERSION_REMEDY,
        }
        yield Change("evidence.load.failed", path, "loads", seen.error, fields)
    if observed.files is not None:
        from envcheck.verify.findings import file_changes

        yield from file_changes(observed.files)


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


#: Characters of the first warning quoted in the load check's report line.
_QUOTED = 200


def load_warnings(observed: Observed) -> str:
    """What the load check's report line adds about warnings: the files that loaded with one, and the first
    file's version warning (else its first) quoted, cut; empty when none warned."""
    warned = [(path, seen.warnings) for path, seen in sorted(observed.loads.items()) if seen.ok and seen.warnings]
    if not warned:
        return ""
    path, said = warned[0]
    first = (version_warnings(said) or list(said))[0]  # the one that matters first
    first = first if len(first) <= _QUOTED else first[: _QUOTED - 3] + "..."
    more = f" and {len(warned) - 1} more" if len(warned) > 1 else ""
    return f", with warnings: {path}{more} ({first})"


def summary(observed: Observed) -> Tuple[int, int, int, int]:
    """(modules imported, modules failed, files loaded, files failed)."""
    ok_imports = sum(1 for s in observed.imports.values() if s.ok)
    ok_loads = sum(1 for s in observed.loads.values() if s.ok)
    return ok_imports, len(observed.imports) - ok_imports, ok_loads, len(observed.loads) - ok_loads
