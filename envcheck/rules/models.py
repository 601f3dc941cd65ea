"""Model files: their digests, and what the files themselves say they need.

A model file names the modules its pickles reference and, often, the library and version that wrote it
(``envcheck.modelfiles``, read at snapshot time, never unpickled). Against the candidate's packages that gives
breaks no version metadata declares: a pickle naming ``numpy._core`` under numpy 1.x, an estimator pickled by
scikit-learn 1.5 loaded by 1.6. Each fires only where the candidate moved from the lockfile (an identical
environment is quiet, whatever the file says).
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
from typing import Iterator, List, Optional, Sequence, Tuple

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from envcheck.model import Fingerprint, ModelFile, ModelWriter
from envcheck.policy import Policy
from envcheck.rules.interface import Change
from envcheck.rules.packages import parse_version, version_level
from envcheck.rules.tables import MODULE_PATHS, WRITER_STORIES

_LEVELS = ("patch", "minor", "major")


def compare_models(expected: Fingerprint, actual: Fingerprint, policy: Policy) -> Iterator[Change]:
    """Model files missing or changed, and what the lockfile's files need that the candidate's packages lack."""
    have = {m.path: m for m in actual.models}
    bases = looked_in(actual.source("models").detail)
    for old in expected.models:
        new = have.get(old.path)
        if new is None:
            tried = [old.path] if posixpath.isabs(old.path) else [posixpath.join(b, old.path) for b in bases]
            looked = f" (looked for {', '.join(tried)})" if tried else ""
            yield Change("model.missing", old.path, old.sha256[:16], "", {"looked": looked})
        elif new.sha256 != old.sha256:
            yield Change("model.digest", old.path, old.sha256[:16], new.sha256[:16])
    yield from model_needs(expected, actual)


#: How a candidate's models source says where its recorded relative paths were looked for.
_LOOKED_IN = " (looked in "


def looked_in_detail(count: int, bases: Sequence[str]) -> str:
    """The detail of a candidate's models source: how many recorded files were found and hashed again, and the
    folders (``bases``) their relative paths were looked for in, which ``model.missing`` names."""
    files = "file" if count == 1 else "files"
    return f"{count} recorded model {files} hashed again{_LOOKED_IN}{json.dumps(list(bases))})"


def looked_in(detail: str) -> Tuple[str, ...]:
    """The folders ``looked_in_detail`` put in ``detail``; () for another source (a lockfile's)."""
    _, marker, rest = detail.rpartition(_LOOKED_IN)
    if not marker or not rest.endswith(")"):
        return ()
    try:
        found = json.loads(rest[:-1])
    except ValueError:
        return ()
    return tuple(b for b in found if isinstance(b, str)) if isinstance(found, list) else ()


def _installed(fp: Fingerprint, name: str) -> Optional[Version]:
    pkg = fp.package(name)
    return parse_version(pkg.version) if pkg is not None else None


def model_needs(expected: Fingerprint, actual: Fingerprint) -> Iterator[Change]:
    """What the recorded model files need, judged against the candidate where it moved from the lockfile."""
    for model in expected.models:
        if model.written_by is not None:
            yield from _writer(model, model.written_by, expected, actual)
        yield from _module_paths(model, expected, actual)


def _writer(model: ModelFile, writer: ModelWriter, expected: Fingerprint, actual: Fingerprint) -> Iterator[Change]:
    # a build of the library under another name (xgboost-cpu) tells the library's story
    story = next((s for s in WRITER_STORIES if writer.package in (s[0], f"{s[0]}-cpu", f"{s[0]}-gpu")), None)
    wrote, then, now = (
        parse_version(writer.version),
        _installed(expected, writer.package),
        _installed(actual, writer.package),
    )
    if story is None or wrote is None or now is None or then == now:
        return  # no story, unreadable versions, the package missing (the package rules say so), or no drift
    _, level, direction, risks, why, source = story
    moved = version_level(wrote, now)
    if moved not in _LEVELS or _LEVELS.index(moved) < _LEVELS.index(level):
        return
    if direction == "older" and now >= wrote:
        return
    rule = "model.writer.version" if risks == "AP" else "model.writer.newer"
    fields = {"path": model.path, "why": why, "source": source, "written": writer.version}
    yield Change(
        rule,
        writer.package,
        str(then) if then is not None else "",
        str(now),
        fields,
        package=writer.package,
        instance=model.path,
    )


def _module_paths(model: ModelFile, expected: Fingerprint, actual: Fingerprint) -> Iterator[Change]:
    modules = sorted({ref.partition(":")[0] for ref in model.references})
    said = set()
    for module, package, spec_text, source in MODULE_PATHS:
        named = [m for m in modules if m == module or m.startswith(module + ".")]
        if not named or package in said:
            continue
        try:
            spec = SpecifierSet(spec_text)
        except InvalidSpecifier:  # pragma: no cover - the table is data checked by a test
            continue
        then, now = _installed(expected, package), _installed(actual, package)
        if now is None or then is None or then == now:
            continue  # missing (the package rules say so), or no drift
        if spec.contains(then, prereleases=True) and not spec.contains(now, prereleases=True):
            said.add(package)
            fields = {"path": model.path, "module": named[0], "spec": spec_text, "source": source}
            yield Change(
                "model.reference.unavailable",
                package,
                str(then),
                str(now),
                fields,
                package=package,
                instance=model.path,
            )


#: A model-file rule that says more about a package than the version rules do: where it fires on a package,
#: they are not repeated for that package.
SUPERSEDES = {"model.writer.version": ("package.version.",), "model.writer.newer": ("package.version.",)}


def superseded(changes: Sequence[Change]) -> List[Change]:
    """``changes`` less the package changes a model-file rule on the same package already says, and with a load
    warning folded into the writer-version change about the same file (``fold_warnings``)."""
    covered = {(prefix, c.package) for c in changes for prefix in SUPERSEDES.get(c.rule, ())}
    prefixes = {prefix for prefix, _ in covered}
    kept = [c for c in changes if not any(c.rule.startswith(p) and (p, c.package) in covered for p in prefixes)]
    return fold_warnings(kept)


_WRITER_RULES = ("model.writer.version", "model.writer.newer")


def fold_warnings(changes: Sequence[Change]) -> List[Change]:
    """A version warning the load check saw (``evidence.load.warned``) and a writer-version finding about the same
    file say one thing: the finding keeps its numbers and quotes the warning as what was seen, and the warning is
    not a finding of its own. A warning with no such finding (the lockfile's library already differed from the
    writer, or no writer was read) stays one."""
    warned = {c.instance: c for c in changes if c.rule == "evidence.load.warned"}
    folded = {c.instance for c in changes if c.rule in _WRITER_RULES and c.instance in warned}
    out = []
    for change in changes:
        if change.rule == "evidence.load.warned" and change.instance in folded:
            continue
        if change.rule in _WRITER_RULES and change.instance in folded:
            seen = warned[change.instance].fields.get("warning", "")
            why = f"{change.fields.get('why', '')}; the load check saw it: {seen}"
            change = dataclasses.replace(change, fields={**change.fields, "why": why})
        out.append(change)
    return out
