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
from typing import Iterable, List, Mapping, Sequence, Tuple

from envcheck.findings import Finding
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


def attribute(findings: Sequence[Finding]) -> Tuple[Finding, ...]:
    """``findings`` with ``cause`` set on each that a present root cause explains (never on a root cause)."""
    present = {f.id for f in findings}
    roots = [(root, follows) for root, follows in CONSEQUENCES if root in present]
    if not roots:
        return tuple(findings)
    out = []
    for finding in findings:
        cause = next(
            (root for root, follows in roots if finding.id != root and _follows(finding.id, follows)),
            "",
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
