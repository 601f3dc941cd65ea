"""Environment self-checks: problems in the candidate itself, reported by ``check`` even with no difference
to the lockfile: unmet requirements (as ``pip check``), shadowed duplicates, wheels the interpreter cannot load,
a driver too old for the CUDA runtime, a CPU below a package's ISA level, GPUs torch has no kernels for, CUDA
libraries loaded from outside the package that ships them."""

from __future__ import annotations

import re
from typing import Dict, Iterator, Optional

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from envcheck.model import Fingerprint
from envcheck.rules.environment import numpy_baseline_disabled
from envcheck.rules.hardware import driver_minor_compat, driver_too_old, isa_required
from envcheck.rules.interface import Change
from envcheck.rules.packages import numpy2_boundary, numpy2_dependents, parse_version
from envcheck.rules.platform import glibc_needed
from envcheck.rules.runtime import arch_unsupported, loaded_mismatch


def self_check(fp: Fingerprint) -> Iterator[Change]:
    """Everything wrong with ``fp`` on its own."""
    yield from unmet_requirements(fp)
    yield from numpy2_dependents(fp)
    yield from shadowed(fp)
    yield from unsupported_wheels(fp)
    yield from driver_too_old(fp)
    yield from driver_minor_compat(fp)
    yield from isa_required(fp)
    yield from numpy_baseline_disabled(fp)
    yield from arch_unsupported(fp)
    yield from loaded_mismatch(fp)


def shadowed(fp: Fingerprint) -> Iterator[Change]:
    """Distributions installed twice on the path: the finding names the copy that wins and the ones it hides,
    with their folders where the snapshot recorded them."""
    for pkg in fp.packages:
        if not pkg.shadowed:
            continue
        where = list(pkg.locations) if len(pkg.locations) == len(pkg.shadowed) + 1 else []
        winner = f"{pkg.version} in {where[0]}" if where else pkg.version
        hidden = [f"{v} in {w}" for v, w in zip(pkg.shadowed, where[1:])] if where else list(pkg.shadowed)
        fields = {"winner": winner, "shadowed": ", ".join(hidden)}
        yield Change("package.shadowed", pkg.name, "", pkg.version, fields, package=pkg.name)


def _marker_ok(marker: Optional[Marker], env: Dict[str, str]) -> bool:
    if marker is None:
        return True
    try:
        return marker.evaluate({**env, "extra": ""})
    except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName):
        return True  # cannot tell: do not report


def unmet_requirements(fp: Fingerprint) -> Iterator[Change]:
    """Requires-Dist lines that the installed set does not satisfy (what ``pip check`` reports)."""
    installed = {p.name: p for p in fp.packages}
    env = dict(fp.python.markers)
    if not env:
        return
    for pkg in fp.packages:
        for line in pkg.requires:
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if not _marker_ok(req.marker, env):
                continue
            dep = installed.get(canonicalize_name(req.name))
            text = str(req).split(";")[0].strip()
            if dep is None:
                fields = {"requirement": text}
                yield Change("package.requirement.missing", pkg.name, "", "", fields, pkg.name, text)
                continue
            version = parse_version(dep.version)
            if req.specifier and version is not None and not req.specifier.contains(version, prereleases=True):
                fields = {"requirement": text, "dependency": dep.name}
                rule = "package.requirement.numpy2" if numpy2_boundary(dep.name, version, req) else None
                yield Change(
                    rule or "package.requirement.conflict", pkg.name, "", dep.version, fields, pkg.name, text
                )


_PY = re.compile(r"^(cp|pp|py)(\d)(\d*)$")


def wheel_problem(tag: str, fp: Fingerprint) -> Optional[str]:
    """Why the interpreter in ``fp`` cannot use a wheel tag, or None when it can (or cannot tell)."""
    try:
        interp, abi, plat = tag.split("-")
    except ValueError:
        return None
    py = fp.python
    if plat != "any":
        arch = fp.os.machine
        if not plat.startswith(("manylinux", "musllinux", "linux")):
            return f"platform {plat} is not Linux"
        if arch and not plat.endswith("_" + arch):
            return (
                f"built for {plat.split('_', 3)[-1] if plat.startswith('manylinux_') else plat}, machine is {arch}"
            )
        needed = glibc_needed(plat)
        if needed and fp.os.libc_family == "glibc":
            have = tuple(int(x) for x in re.findall(r"\d+", fp.os.libc_version)[:2])
            if have and have < needed:
                return f"needs glibc {needed[0]}.{needed[1]}, have {fp.os.libc_version}"
        if plat.startswith("musllinux") and fp.os.libc_family == "glibc":
            return "musllinux wheel on glibc"
        if plat.startswith("manylinux") and fp.os.libc_family == "musl":
            return "manylinux wheel on musl"
    if abi not in ("none", "abi3") and py.abi_tag and abi != py.abi_tag:
        return f"ABI {abi}, interpreter has {py.abi_tag}"
    if abi == "abi3" and py.interpreter_tag:
        wheel_py, this_py = _PY.match(interp), _PY.match(py.interpreter_tag)
        if wheel_py and this_py and wheel_py.group(3) and int(this_py.group(3) or 0) < int(wheel_py.group(3)):
            return f"abi3 from {interp}, interpreter is {py.interpreter_tag}"
    return None


def unsupported_wheels(fp: Fingerprint) -> Iterator[Change]:
    for pkg in fp.packages:
        if not pkg.wheel_tags:
            continue
        problems = [wheel_problem(tag, fp) for tag in pkg.wheel_tags]
        if all(problems):
            fields = {"version": pkg.version, "tags": ", ".join(pkg.wheel_tags), "reason": str(problems[0])}
            yield Change("package.wheel.unsupported", pkg.name, "", pkg.version, fields, package=pkg.name)
