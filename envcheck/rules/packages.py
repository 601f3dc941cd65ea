"""Rules for installed distributions: missing, version moves, other builds, other sources, extras."""

from __future__ import annotations

from typing import Iterator, Optional, Tuple

from packaging.version import InvalidVersion, Version

from envcheck.model import Fingerprint, Package
from envcheck.policy import Policy
from envcheck.rules.interface import Change
from envcheck.rules.rulebook import CHURN_PACKAGES, is_numeric

_LEVELS = {"exact": 0, "patch": 1, "minor": 2, "major": 3}


def parse_version(text: str) -> Optional[Version]:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def version_level(old: Version, new: Version) -> str:
    """How far apart two versions are in their public part: ``major``, ``minor``, ``patch`` or ``same``."""
    a, b = ((*old.release, 0, 0, 0))[:3], ((*new.release, 0, 0, 0))[:3]
    if old.epoch != new.epoch or a[0] != b[0]:
        return "major"
    if a[1] != b[1]:
        return "minor"
    if a[2] != b[2] or old.public != new.public:  # micro, or a pre/post/dev release of the same x.y.z
        return "patch"
    return "same"


def _is_gpu_build(local: Optional[str]) -> bool:
    return bool(local) and str(local).startswith(("cu", "rocm"))


def compare_packages(expected: Fingerprint, actual: Fingerprint, policy: Policy) -> Iterator[Change]:
    have = {p.name: p for p in actual.packages}
    want = {p.name: p for p in expected.packages}
    for name, old in want.items():
        if name in CHURN_PACKAGES:
            continue
        new = have.get(name)
        if new is None:
            rule = "package.missing.critical" if name in policy.model_critical else "package.missing"
            yield Change(rule, name, old.version, "", package=name)
            continue
        yield from _compare_one(old, new, policy)
    if policy.show_extra:
        for name, new in have.items():
            if name not in want and name not in CHURN_PACKAGES:
                yield Change("package.extra", name, "", new.version, package=name)


def _compare_one(old: Package, new: Package, policy: Policy) -> Iterator[Change]:
    name = old.name
    tolerance = _LEVELS[policy.tolerance_for(name)]
    if old.version != new.version:
        a, b = parse_version(old.version), parse_version(new.version)
        if a is None or b is None:
            yield Change("package.version.opaque", name, old.version, new.version, package=name)
            return
        level = version_level(a, b)
        if level == "same":  # only the local label differs: +cu121 against +cpu is another build
            yield _build_change(old, new, a.local, b.local)
            return
        if _LEVELS[level] <= tolerance:
            return
        direction = "upgrade" if b > a else "downgrade"
        rule = f"package.version.{level}"
        if level == "minor" and is_numeric(name):
            rule = "package.version.minor.numeric"
        yield Change(rule, name, old.version, new.version, {"direction": direction}, package=name)
        return
    if old.wheel_tags and new.wheel_tags and old.wheel_tags != new.wheel_tags:
        yield _build_change(old, new, None, None, tags=True)
        return
    if _source_key(old) != _source_key(new):
        yield Change("package.source", name, _source(old) or "an index", _source(new) or "an index", package=name)
        return
    if old.record_digest and new.record_digest and old.record_digest != new.record_digest:
        yield Change(
            "package.build",
            name,
            f"{old.version} (RECORD {old.record_digest[7:19]})",
            f"{new.version} (RECORD {new.record_digest[7:19]})",
            {"fix": f"pip install --force-reinstall '{name}=={old.version}'"},
            package=name,
        )


def _build_change(
    old: Package, new: Package, old_local: Optional[str], new_local: Optional[str], tags: bool = False
) -> Change:
    if tags:
        expected = f"{old.version} [{', '.join(old.wheel_tags)}]"
        actual = f"{new.version} [{', '.join(new.wheel_tags)}]"
    else:
        expected, actual = old.version, new.version
    rule = "package.build"
    if _is_gpu_build(old_local) and not _is_gpu_build(new_local):
        rule = "package.build.gpu_dropped"
    fix = f"pip install --force-reinstall '{old.name}=={old.version}'"
    if old_local and str(old_local).startswith("cu"):
        fix += f" --index-url https://download.pytorch.org/whl/{old_local}"
    return Change(rule, old.name, expected, actual, {"fix": fix}, package=old.name)


def _source(pkg: Package) -> str:
    d = pkg.direct_url
    if d is None:
        return ""
    if d.kind == "vcs":
        return f"{d.vcs}+{d.url}@{d.commit_id[:12]}" if d.commit_id else d.url
    if d.kind == "archive" and d.archive_hash:
        return f"{d.url} ({d.archive_hash[:19]})"
    return f"{d.kind} {d.url}".strip()


def _source_key(pkg: Package) -> Tuple[str, ...]:
    """What identifies the code: a commit, an archive's hash, a folder; not where a local file happened to lie."""
    d = pkg.direct_url
    if d is None:
        return ()
    if d.kind == "vcs":
        return (d.kind, d.vcs, d.url, d.commit_id)
    if d.kind == "archive":
        if d.archive_hash:
            return (d.kind, d.archive_hash)
        # No hash recorded (older pip): a local file is known by its name (name-version-tags), not its folder.
        return (d.kind, d.url.rsplit("/", 1)[-1] if d.url.startswith("file:") else d.url)
    return (d.kind, d.url)
