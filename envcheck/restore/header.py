"""The comment block both remedy formats start with: what drifted, what a package manager cannot restore, what
was not pinned or was refused, and what only the candidate has.

Every line passes through ``printable``: names, versions and notes come from lockfiles and environments somebody
else made, and a newline in one must not end the comment and start an option line. Pure.
"""

from __future__ import annotations

from typing import List, Sequence

from envcheck.report.escape import printable
from envcheck.restore.interface import BUILD, MISSING, VERSION, Pin, Plan


def comment(text: str) -> str:
    """One comment line; control characters and newlines are shown escaped, never written."""
    return f"# {printable(text)}".rstrip()


def _drift_line(pin: Pin) -> str:
    if pin.drift == MISSING:
        return f"{pin.name} {pin.version}: missing in the candidate"
    if pin.drift == VERSION:
        return f"{pin.name}: {pin.candidate_version} in the candidate, {pin.version} recorded"
    return f"{pin.name} {pin.version}: another build in the candidate (same version: see below)"


def _section(title: str, lines: Sequence[str]) -> List[str]:
    return [comment(title), *(comment(f"  {line}") for line in lines)] if lines else []


def header(plan: Plan, usage: Sequence[str], extra_hint: str) -> List[str]:
    """The comment lines: ``usage`` says how to install the file; ``extra_hint`` how to remove an extra."""
    drifted = plan.drifted
    lines = [
        comment(f"envcheck remedy: restores the packages of {plan.lock_name} ({plan.lock_digest[:19]})"),
        comment(f"on {plan.target_name}."),
        *(comment(line) for line in usage),
        comment(f"drifted: {len(drifted)} of {len(plan.pins)} pinned packages"),
        *(comment(f"  {_drift_line(pin)}") for pin in drifted),
    ]
    rebuilt = [p for p in drifted if p.drift == BUILD]
    if rebuilt:
        names = " ".join(f"{p.name}=={p.version}" for p in rebuilt)
        lines.append(comment("an installer keeps an installed version as it is: put the recorded build back with"))
        lines.append(comment(f"  pip install --force-reinstall --no-deps {names}"))
    lines += _section(
        "not restorable by a package manager (the interpreter, the OS, the hardware):", plan.not_restorable
    )
    lines += _section("not compared (so not known to be restorable):", plan.not_compared)
    lines += _section("not pinned (no version pin restores it):", plan.unpinned)
    lines += _section("refused (not valid in a lock, never written as a requirement):", plan.refused)
    lines += [
        comment(f"extra in the candidate: {name} {version} ({extra_hint} {name})") for name, version in plan.extras
    ]
    return lines
