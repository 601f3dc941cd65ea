"""A partial spec (``PartialSpec``) as a ``Fingerprint`` for one candidate: markers evaluated, the rest skipped.

Pure. A pin whose PEP 508 marker does not hold for the candidate (its Python version, implementation,
``sys_platform``, ``platform_machine``...) is left out: it does not apply there, so it is never "missing". A
marker that cannot be evaluated (an unknown variable) is taken to hold: the pin is compared rather than hidden.
Every section the file does not state gets the status ``not inspected`` with the reason, so ``compare`` skips it
and the report says why, instead of reporting the candidate's hardware or libraries as drift.
"""

from __future__ import annotations

import functools
from typing import Dict, List, Mapping, Optional, Set

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName

from envcheck.expected.interface import ExpectedPackage, PartialSpec
from envcheck.model import NOT_INSPECTED, OK, SECTIONS, Fingerprint, Meta, Package, PythonInfo, Source


def marker_environment(actual: Fingerprint) -> Dict[str, str]:
    """The candidate's PEP 508 environment: as its probe recorded it, else derived from what it recorded."""
    if actual.python.markers:
        return dict(actual.python.markers)
    version = actual.python.version
    env = {
        "python_full_version": version,
        "python_version": ".".join(version.split(".")[:2]),
        "implementation_version": version,
        "platform_python_implementation": actual.python.implementation,
        "implementation_name": actual.python.implementation.lower(),
        "sys_platform": actual.os.system.lower(),
        "platform_system": actual.os.system,
        "platform_machine": actual.os.machine,
        "platform_release": actual.os.release,
        "os_name": "nt" if actual.os.system == "Windows" else "posix",
    }
    return {k: v for k, v in env.items() if v}


@functools.lru_cache(maxsize=4096)
def _marker(text: str) -> Optional[Marker]:
    """Parsed once: a uv.lock repeats a few markers on thousands of edges. None: not a marker."""
    try:
        return Marker(text)
    except InvalidMarker:
        return None


def holds(marker: str, env: Mapping[str, str]) -> bool:
    """Whether ``marker`` holds in ``env`` (with no extra requested); one that cannot be evaluated holds."""
    parsed = _marker(marker) if marker else None
    if parsed is None:
        return True
    try:
        return bool(parsed.evaluate({**env, "extra": ""}))
    except (UndefinedComparison, UndefinedEnvironmentName, TypeError, ValueError):
        return True


def applicable(spec: PartialSpec, actual: Fingerprint) -> List[ExpectedPackage]:
    """The pins that apply to the candidate, one per name (the first stated wins; a requirement over a
    constraint)."""
    env = marker_environment(actual)
    reachable = _reachable(spec, env)
    have = {p.name for p in actual.packages}
    chosen: Dict[str, ExpectedPackage] = {}
    for pkg in spec.packages:
        if not holds(pkg.marker, env):
            continue
        if reachable is not None and pkg.key not in reachable:
            continue
        if pkg.constraint and pkg.name not in have:
            continue
        old = chosen.get(pkg.name)
        if old is None or (old.constraint and not pkg.constraint):
            chosen[pkg.name] = pkg
    return list(chosen.values())


def _reachable(spec: PartialSpec, env: Mapping[str, str]) -> Optional[Set[str]]:
    """uv.lock: the nodes reachable from the roots through edges whose markers hold; None without a graph."""
    if spec.roots is None:
        return None
    children: Dict[str, List[str]] = {}
    for edge in spec.edges:
        if holds(edge.marker, env):
            children.setdefault(edge.parent, []).append(edge.child)
    seen: Set[str] = set()
    todo = list(spec.roots)
    while todo:
        key = todo.pop()
        if key not in seen:
            seen.add(key)
            todo.extend(children.get(key, ()))
    return seen


def fingerprint_for(spec: PartialSpec, actual: Optional[Fingerprint]) -> Fingerprint:
    """The partial fingerprint ``spec`` states for ``actual`` (None: before the candidate is read, no packages).

    Only ``packages`` (and ``python`` where a version is stated) are ``ok``. What no such file states is taken
    from the candidate, so that only versions compare: the interpreter's implementation and free-threading, and
    where each package was installed from (``direct_url``).
    """
    pins = applicable(spec, actual) if actual is not None else []
    installed = {p.name: p for p in actual.packages} if actual is not None else {}
    have = set(installed)
    aliases = dict(spec.aliases)
    packages = []
    for pin in pins:
        name = pin.name
        other = aliases.get(name)
        if other and name not in have and other in have:
            name = other
        # where it was installed from is not stated either: the candidate's own (a wheel file, a checkout) is no
        # source change
        there = installed.get(name)
        packages.append(Package(name=name, version=pin.version, direct_url=there.direct_url if there else None))
    left_out = len({p.name for p in spec.packages}) - len(pins)
    detail = f"{len(pins)} pinned in {spec.format}"
    if left_out > 0:
        detail += f"; {left_out} left out (markers or constraints that do not apply here)"
    not_stated = f"not stated in {spec.format}"
    sources = {section: Source(NOT_INSPECTED, not_stated) for section in SECTIONS if section != "models"}
    sources["packages"] = Source(OK, detail)
    python = PythonInfo()
    if spec.python_version and actual is not None:
        sources["python"] = Source(OK, f"python {spec.python_version} from {spec.format}")
        python = PythonInfo(
            implementation=actual.python.implementation,
            version=spec.python_version,
            free_threaded=actual.python.free_threaded,
        )
    elif spec.python_note:
        sources["python"] = Source(NOT_INSPECTED, f"{not_stated} ({spec.python_note})")
    return Fingerprint(
        meta=Meta(tool=spec.format, target=spec.format),
        sources=sources,
        python=python,
        packages=tuple(sorted(packages, key=lambda p: p.name)),
    )


def describe(spec: PartialSpec, actual: Fingerprint) -> str:
    """One report line: what the file stated, what applied to the candidate, what was not compared and why."""
    pins = applicable(spec, actual)
    line = f"expected side: {spec.format}, {len(pins)} pins compared"
    left_out = len(spec.packages) - len(pins)
    if left_out > 0:
        line += f", {left_out} not applying here (markers, constraints, other platforms)"
    if spec.notes:
        shown = "; ".join(spec.notes[:3]) + ("; ..." if len(spec.notes) > 3 else "")
        line += f"; {len(spec.notes)} not compared ({shown})"
    stated = "packages and python" if spec.python_version else "packages"
    return line + f"; it states only {stated}: the rest is skipped, not missing"
