"""Rules for installed distributions: missing, version moves, other builds, other sources, extras."""

from __future__ import annotations

from typing import FrozenSet, Iterator, Mapping, Optional, Tuple

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from envcheck.footprint import tool_names
from envcheck.model import Fingerprint, Package
from envcheck.modelscope import model_scope
from envcheck.policy import Policy
from envcheck.rules.interface import Change
from envcheck.rules.rulebook import CHURN_PACKAGES, is_numeric
from envcheck.rules.tables import BLAS_PROVIDER_EXTRAS, NUMPY2_READY, RESULT_CHANGING_EXTRAS

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
    # what the recorded model needs is the model's, even where envcheck's own requirements pulled it in
    needed = model_scope(expected).needed
    tool = tool_names(expected) - needed
    candidate_tool = tool_names(actual) - needed
    for name, old in want.items():
        if name in CHURN_PACKAGES:
            continue
        new = have.get(name)
        if new is None:
            if name in tool:  # envcheck's own footprint (envcheck.footprint): not the model's environment
                continue
            rule = "package.missing.critical" if name in policy.model_critical else "package.missing"
            yield Change(rule, name, old.version, "", package=name)
            continue
        if name in tool and name in candidate_tool:
            continue  # envcheck's own on both sides: its dependencies move with envcheck, not with the model
        yield from _compare_one(old, new, policy)
    bundled = frozenset(lib.package for lib in actual.native.shipped if lib.kind == "blas" and lib.package)
    yield from _extras(want, {n: p for n, p in have.items() if n not in candidate_tool}, policy, bundled)
    # A compiled dependent too old for numpy 2 is a change when numpy crossed 1 -> 2 or the dependent itself moved
    # (the same pair in the lockfile is left to the self-check).
    old_numpy, new_numpy = want.get("numpy"), have.get("numpy")
    crossed = bool(
        old_numpy and new_numpy and _numpy_major(old_numpy) == 1 and (_numpy_major(new_numpy) or 0) >= 2
    )
    for change in numpy2_dependents(actual):
        before = want.get(change.subject)
        if crossed or before is None or before.version != change.actual:
            yield change


def _extras(
    want: Mapping[str, Package], have: Mapping[str, Package], policy: Policy, bundled: FrozenSet[str]
) -> Iterator[Change]:
    """Packages new in the candidate: those another installed package picks up on its own and computes with
    (``RESULT_CHANGING_EXTRAS``) always; any other only when the policy asks (``show_extra``). ``bundled``: the
    candidate's packages that ship their own BLAS."""
    for name, new in have.items():
        if name in want or name in CHURN_PACKAGES:
            continue
        hosts = [h for h in _RESULT_CHANGING.get(name, ((), "", ""))[0] if _host_uses(h, name, have, bundled)]
        if hosts:
            _, why, source = _RESULT_CHANGING[name]
            host = canonicalize_name(Requirement(hosts[0]).name)
            fields = {"host": host, "host_version": have[host].version, "why": why, "source": source}
            yield Change("package.extra.changes_results", name, "", new.version, fields, package=name)
        elif policy.show_extra:
            yield Change("package.extra", name, "", new.version, package=name)


def _host_uses(host: str, extra: str, have: Mapping[str, Package], bundled: FrozenSet[str]) -> bool:
    """The installed package ``host`` (a requirement: name and the versions that pick the extra up) uses
    ``extra``; a BLAS provider only when the host ships no BLAS of its own."""
    req = Requirement(host)
    pkg = have.get(canonicalize_name(req.name))
    version = parse_version(pkg.version) if pkg else None
    if pkg is None or version is None or not req.specifier.contains(version, prereleases=True):
        return False
    return not (extra in BLAS_PROVIDER_EXTRAS and pkg.name in bundled)


_RESULT_CHANGING = {name: (hosts, why, source) for name, hosts, why, source in RESULT_CHANGING_EXTRAS}


def _numpy_major(pkg: Package) -> Optional[int]:
    version = parse_version(pkg.version)
    return None if version is None else version.major


#: numpy 1.x releases a requirement is tested against: one of them allowed, 2.x installed, is the 1 -> 2 boundary.
NUMPY1 = tuple(Version(v) for v in ("1.26.4", "1.25.2", "1.24.4", "1.23.5", "1.22.4", "1.21.6"))


def numpy2_boundary(dependency: str, installed: Version, req: Requirement) -> bool:
    """The requirement wants numpy 1.x and numpy 2 (or later) is installed: the dependent was built against
    numpy 1's ABI, and its extension modules fail at import under numpy 2 ("numpy.dtype size changed")."""
    if dependency != "numpy" or installed.major < 2 or req.specifier.contains(installed, prereleases=True):
        return False
    return any(req.specifier.contains(v, prereleases=True) for v in NUMPY1)


def _forbids_numpy2(pkg: Package, numpy: Version) -> bool:
    """Its own Requires-Dist already says numpy 1.x only (``package.requirement.numpy2`` reports it)."""
    for line in pkg.requires:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(req.name) == "numpy" and numpy2_boundary("numpy", numpy, req):
            return True
    return False


def is_compiled(pkg: Package) -> bool:
    """Its wheel carries compiled code: a tag other than ``*-none-any``; unknown (no WHEEL file) counts as
    compiled, since every package of the tables that ask is."""
    return not pkg.wheel_tags or any(not tag.endswith("-none-any") for tag in pkg.wheel_tags)


def numpy2_dependents(fp: Fingerprint) -> Iterator[Change]:
    """Compiled packages in ``fp`` older than their first release built for numpy 2 while numpy >= 2 is installed
    (``NUMPY2_READY``): their extension modules fail at import. Those whose own metadata forbids numpy 2 are left
    to ``package.requirement.numpy2``."""
    installed = {p.name: p for p in fp.packages}
    numpy = installed.get("numpy")
    numpy_version = parse_version(numpy.version) if numpy else None
    if numpy is None or numpy_version is None or numpy_version.major < 2:
        return
    for name, ready, source in NUMPY2_READY:
        pkg = installed.get(name)
        version = parse_version(pkg.version) if pkg else None
        if pkg is None or version is None or Version(version.public) >= Version(ready):
            continue
        if not is_compiled(pkg) or _forbids_numpy2(pkg, numpy_version):
            continue
        fields = {"numpy": numpy.version, "ready": ready, "source": source}
        yield Change("package.numpy2.dependent", name, "", pkg.version, fields, package=name)


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
        if name == "numpy" and a.major < 2 <= b.major:
            rule = "package.version.numpy2"
        yield Change(rule, name, old.version, new.version, {"direction": direction}, package=name)
        return
    if old.wheel_tags and new.wheel_tags and old.wheel_tags != new.wheel_tags:
        yield _build_change(old, new, None, None, tags=True)
        return
    if _editable(old) or _editable(new):
        # An editable install's RECORD lists only a .pth or finder: its code is the project folder's files.
        if old.editable_digest and new.editable_digest:
            if old.editable_digest != new.editable_digest:
                url = new.direct_url.url if new.direct_url else ""
                fields = {"folder": url[len("file://") :] if url.startswith("file://") else url or "its folder"}
                expected = f"{old.version} (files {old.editable_digest[7:19]})"
                actual = f"{new.version} (files {new.editable_digest[7:19]})"
                yield Change("package.editable.changed", name, expected, actual, fields, package=name)
        elif _source_key(old) != _source_key(new):
            yield Change(
                "package.source", name, _source(old) or "an index", _source(new) or "an index", package=name
            )
        return
    digests = bool(old.record_digest and new.record_digest)
    if digests and old.record_digest == new.record_digest:
        return  # the same files, wherever they were installed from (index, wheelhouse, local file)
    if _source_key(old) != _source_key(new) and not digests:
        yield Change("package.source", name, _source(old) or "an index", _source(new) or "an index", package=name)
        return
    if digests:  # other files: one finding, a build change, that names the sources when they differ too
        moved = _source_key(old) != _source_key(new)
        then = f", from {_source(old) or 'an index'}" if moved else ""
        now = f", from {_source(new) or 'an index'}" if moved else ""
        yield Change(
            "package.build" if is_compiled(new) else "package.build.files",
            name,
            f"{old.version} (RECORD {old.record_digest[7:19]}{then})",
            f"{new.version} (RECORD {new.record_digest[7:19]}{now})",
            {"fix": _reinstall(old)},
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


def _reinstall(old: Package) -> str:
    """How to put back the files the lockfile recorded: from its own source when it names one."""
    src = old.direct_url
    if src is not None and src.kind == "vcs" and src.url and src.commit_id:
        return f"pip install --force-reinstall '{old.name} @ {src.vcs}+{src.url}@{src.commit_id}'"
    if src is not None and src.kind == "archive" and src.url:
        return f"pip install --force-reinstall '{src.url}'"
    return f"pip install --force-reinstall '{old.name}=={old.version}'"


def _editable(pkg: Package) -> bool:
    return pkg.direct_url is not None and pkg.direct_url.kind == "editable"


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
