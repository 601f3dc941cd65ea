"""From a lockfile, a candidate and their comparison to the ``Plan`` that restores the lockfile's package set.

Every package the lockfile records is pinned, drifted or not: ``pip install -r`` resolves the file as a whole,
and a pin for each package is what keeps pip from moving a package that did not drift to satisfy one that did (a
drifted package's dependency would otherwise be upgraded or downgraded silently), and what pip's hash-checking
mode needs (every requirement pinned). Pins for packages already right are no-ops for pip. The drift of each pin
is still recorded, for the header the user reads.

Not pinned: packaging churn (pip, setuptools, wheel: ``CHURN_PACKAGES``, never compared either), envcheck's own
footprint (``envcheck.footprint``: a serving environment does not need envcheck), and packages no version
restores (editable installs, local folders, VCS checkouts: listed with how to put them back). Pure.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Tuple

from envcheck.findings import Report
from envcheck.footprint import tool_names
from envcheck.model import OK, Fingerprint, Package
from envcheck.modelscope import model_scope
from envcheck.restore.interface import BUILD, MISSING, SAME, VERSION, Pin, Plan, RemedyError, Source
from envcheck.restore.valid import archive_of, valid_name, valid_url, valid_version
from envcheck.rules.rulebook import CHURN_PACKAGES

#: Components of the comparison that no package manager restores.
NOT_RESTORABLE = ("python", "os", "cpu", "memory", "gpu", "native")


def skipped_names(expected: Fingerprint) -> frozenset[str]:
    """Lockfile packages never pinned: packaging churn and envcheck's own footprint (less what the model needs),
    as ``envcheck.rules.packages`` leaves them out of the comparison."""
    return CHURN_PACKAGES | (tool_names(expected) - model_scope(expected).needed)


def _drift(old: Package, new: Optional[Package]) -> str:
    if new is None:
        return MISSING
    if new.version != old.version:
        return VERSION
    if old.record_digest and new.record_digest and old.record_digest != new.record_digest:
        return BUILD
    if old.wheel_tags and new.wheel_tags and old.wheel_tags != new.wheel_tags:
        return BUILD
    return SAME


def _unpinned(pkg: Package) -> Optional[str]:
    """How to restore a package no version pin restores; None when a pin does."""
    direct = pkg.direct_url
    if direct is None or direct.kind == "archive":
        return None
    if direct.kind == "vcs":
        where = f"{direct.url}@{direct.commit_id}"
        return f"{pkg.name} {pkg.version}: a {direct.vcs or 'VCS'} checkout, reinstall from {where}"
    return (
        f"{pkg.name} {pkg.version}: installed from a local folder ({direct.kind} {direct.url}), reinstall from it"
    )


def _source(pkg: Package) -> Optional[Source]:
    direct = pkg.direct_url
    if direct is None or not valid_url(direct.url):
        return None
    return Source("archive", direct.url) if direct.kind == "archive" else None


def _pin(pkg: Package, have: Mapping[str, Package]) -> Tuple[Optional[Pin], List[str]]:
    """The pin for one lockfile package, or None with the note why it was refused."""
    shown = repr(pkg.name)[:80]
    if not valid_name(pkg.name):
        return None, [f"{shown}: not a valid package name, not pinned"]
    if not valid_version(pkg.version):
        return None, [f"{pkg.name} {repr(pkg.version)[:80]}: not a valid version, not pinned"]
    hashes, note = archive_of(pkg.direct_url)
    notes = [f"{pkg.name} {pkg.version}: {note}, pinned without it"] if note else []
    new = have.get(pkg.name)
    found = new.version if new is not None else ""
    return Pin(pkg.name, pkg.version, _drift(pkg, new), found, hashes, _source(pkg)), notes


def _finding_line(component: str, subject: str, expected: str, actual: str, rule: str) -> str:
    what = component if subject in ("", component) else f"{component}: {subject}"
    return f"{what}: {expected or '-'} -> {actual or '-'} ({rule})"


def plan(
    expected: Fingerprint,
    actual: Fingerprint,
    report: Report,
    *,
    lock_name: str = "lockfile",
    target_name: str = "candidate",
) -> Plan:
    """What restores ``expected``'s packages on ``actual``; ``report`` (their comparison) gives what a package
    manager cannot restore. Raises ``RemedyError`` when the lockfile recorded no package list."""
    if expected.source("packages").status != OK:
        detail = expected.source("packages").detail
        raise RemedyError(f"{lock_name}: records no package list ({detail or 'unavailable'}): nothing to restore")
    not_compared: List[str] = [f"{c}: {why}" for c, why in sorted(report.skipped.items())]
    have: Dict[str, Package] = {p.name: p for p in actual.packages}
    if actual.source("packages").status != OK:
        have = {}  # unknown: every package is pinned as missing, which pins them all the same
    skip = skipped_names(expected)
    pins: List[Pin] = []
    unpinned: List[str] = []
    refused: List[str] = []
    for pkg in sorted(expected.packages, key=lambda p: p.name):
        if pkg.name in skip:
            continue
        how = _unpinned(pkg)
        if how is not None:
            unpinned.append(how)
            continue
        pin, notes = _pin(pkg, have)
        refused.extend(notes)
        if pin is not None:
            pins.append(pin)
    want = {p.name for p in expected.packages}
    theirs = CHURN_PACKAGES | tool_names(actual)
    extras = tuple(
        (p.name, p.version)
        for p in sorted(have.values(), key=lambda p: p.name)
        if p.name not in want and p.name not in theirs
    )
    lines = tuple(
        _finding_line(f.component, f.subject, f.expected, f.actual, f.id)
        for f in report.findings
        if f.component in NOT_RESTORABLE
    )
    return Plan(
        lock_name=lock_name,
        lock_digest=expected.meta.digest,
        target_name=target_name,
        pins=tuple(pins),
        extras=extras,
        unpinned=tuple(unpinned),
        refused=tuple(refused),
        not_restorable=lines,
        not_compared=tuple(not_compared),
    )
