"""Root causes: when one change explains many findings, the report leads with it and files the rest under it.

A Python upgrade rebuilds every compiled wheel (cp311 -> cp312 of the same versions); another architecture or C
library changes every native build and the CPU; a lockfile from another machine leaves most of its packages
missing. Each of those consequences is still a finding (JSON keeps them all, with ``cause`` naming the finding
they follow from, and exit codes are unchanged), but a reader should meet the one thing to fix first, not 180
findings whose remedies cannot work on their own.

Pure: takes changes and findings, returns them.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from envcheck.findings import Finding
from envcheck.footprint import required_among
from envcheck.model import Fingerprint
from envcheck.rules.interface import Change

MOSTLY_MISSING = "package.missing.most"
#: Most of the lockfile's packages missing: at least this share of them, and at least this many.
MOSTLY_MISSING_SHARE = 0.5
MOSTLY_MISSING_AT_LEAST = 10

_MISSING = ("package.missing", "package.missing.critical")
_BUILDS = ("package.build", "package.wheel.unsupported")

#: Root cause rule -> the rules (or rule prefixes, ending in ".") whose findings follow from it. First match wins,
#: so the broader cause comes first.
CONSEQUENCES: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    (MOSTLY_MISSING, _MISSING),
    ("os.architecture", (*_BUILDS, "native.", "cpu.", "os.libc.")),
    ("python.implementation", (*_BUILDS, "python.version.")),
    ("os.libc.family", (*_BUILDS, "os.libc.")),
    ("python.version.minor", _BUILDS),
    ("python.free_threaded", _BUILDS),
    ("package.version.numpy2", ("package.numpy2.dependent", "package.requirement.numpy2")),
)


#: Root cause rule -> the rules whose finding on the same subject follows from it: a model file whose digest
#: changed and that fails to load (or warns) fails because it is not the file that was verified.
SAME_SUBJECT: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("model.digest", ("evidence.load.failed", "evidence.load.warned")),
)


def root_changes(expected: Fingerprint, changes: Sequence[Change]) -> List[Change]:
    """Headline changes that no single comparator sees: most of the lockfile's packages missing."""
    missing = sum(1 for c in changes if c.rule in _MISSING)
    total = len(expected.packages)
    if missing >= MOSTLY_MISSING_AT_LEAST and missing >= MOSTLY_MISSING_SHARE * total:
        fields = {"missing": str(missing), "total": str(total)}
        return [Change(MOSTLY_MISSING, "packages", str(total), str(total - missing), fields)]
    return []


def _follows(rule: str, patterns: Iterable[str]) -> bool:
    return any(rule == p or (p.endswith(".") and rule.startswith(p)) for p in patterns)


#: Findings that say a package itself moved (or went): a dependency that only it brought in follows from them.
_MOVED = ("package.version.", "package.missing", "model.writer.")
#: Findings about a dependency that such a move explains: it went, or moved with it.
_DRAGGED = ("package.missing", "package.missing.critical", "package.version.")


def _requirers(fp: Fingerprint, among: Set[str]) -> Dict[str, Set[str]]:
    """Package of ``among`` -> the packages of ``fp`` that require it (markers evaluated for ``fp``'s Python)."""
    names = {p.name for p in fp.packages}
    out: Dict[str, Set[str]] = {}
    for pkg in fp.packages:
        for name in required_among(pkg, fp.python.markers, names, among):
            out.setdefault(name, set()).add(pkg.name)
    return out


def _only_a_dependency(fp: Fingerprint, name: str) -> bool:
    pkg = fp.package(name)
    return pkg is not None and not pkg.requested


def dragged(expected: Fingerprint, actual: Fingerprint, findings: Sequence[Finding]) -> Dict[str, str]:
    """Dependency -> the id of the finding it follows from: a package installed only as a dependency
    (``requested`` false) whose every requirer in the lockfile moved (a version finding, a writer finding) and,
    as the candidate has them, no longer requires it, so it went or moved with them. scikit-learn 1.9 brings in
    narwhals; a candidate with scikit-learn 1.5 has no narwhals, or another: that is scikit-learn's change, not
    a problem of its own. A dependency some unchanged package still requires stands on its own."""
    moved: Dict[str, str] = {}
    for f in findings:
        if _follows(f.id, _MOVED) and f.subject not in moved:
            moved[f.subject] = f.id
    if not moved:
        return {}
    candidates = [f for f in findings if _follows(f.id, _DRAGGED) and _only_a_dependency(expected, f.subject)]
    if not candidates:
        return {}
    among = {f.subject for f in candidates}
    then, now = _requirers(expected, among), _requirers(actual, among)
    by_whom: Dict[str, str] = {}
    for f in candidates:
        by = then.get(f.subject, set()) - {f.subject}
        if by and all(name in moved for name in by) and not (by & now.get(f.subject, set())):
            by_whom[f.subject] = sorted(by)[0]
    out: Dict[str, str] = {}
    for name, requirer in by_whom.items():
        seen = {name}
        while requirer in by_whom and requirer not in seen:  # two that brought in each other explain nothing
            seen.add(requirer)
            requirer = by_whom[requirer]
        if requirer not in seen:
            out[name] = moved[by_whom[name]]
    return out


def attribute(
    findings: Sequence[Finding], expected: Optional[Fingerprint] = None, actual: Optional[Fingerprint] = None
) -> Tuple[Finding, ...]:
    """``findings`` with ``cause`` set on each that a present root cause explains (never on a root cause); given
    both fingerprints, also on a dependency that went or moved only because what required it moved
    (``dragged``)."""
    if expected is not None and actual is not None:
        by = dragged(expected, actual, findings)
        findings = [dataclasses.replace(f, cause=by[f.subject]) if f.subject in by else f for f in findings]
    present = {f.id for f in findings}
    roots = [(root, follows) for root, follows in CONSEQUENCES if root in present]
    subjects = {(f.id, f.subject) for f in findings}
    local = [(root, follows) for root, follows in SAME_SUBJECT if root in present]
    if not roots and not local:
        return tuple(findings)
    out = []
    for finding in findings:
        cause = (
            finding.cause
            or next(
                (root for root, follows in roots if finding.id != root and _follows(finding.id, follows)),
                "",
            )
            or next(
                (root for root, follows in local if finding.id in follows and (root, finding.subject) in subjects),
                "",
            )
        )
        out.append(dataclasses.replace(finding, cause=cause) if cause else finding)
    return tuple(out)


def consequences(findings: Sequence[Finding]) -> Mapping[str, List[Finding]]:
    """Root cause id -> the findings that follow from it, in report order."""
    out: dict[str, List[Finding]] = {}
    for finding in findings:
        if finding.cause:
            out.setdefault(finding.cause, []).append(finding)
    return out
