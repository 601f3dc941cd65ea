"""A remedy as a pip requirements file: ``name==version`` for every pinned package, ``--hash`` where the
lockfile recorded the archive.

pip's hash-checking mode is all or nothing: one ``--hash`` turns it on for the whole file, and every other line
then needs one too. So hashes are written only when every pin has one (the packages were installed from files or
URLs, whose PEP 610 ``archive_info`` pip recorded); otherwise none is, and the header says why. Pure.
"""

from __future__ import annotations

from typing import List

from envcheck.restore.header import comment, header
from envcheck.restore.interface import Pin, Plan

USAGE = (
    "install with: pip install -r THIS_FILE (every recorded package is pinned, so that pip moves no",
    "package that did not drift; pins already satisfied are left as they are)",
)


def _line(pin: Pin, hashes: bool) -> str:
    line = f"{pin.name}=={pin.version}"
    if hashes:
        line += "".join(f" \\\n    --hash={h}" for h in pin.hashes)
    return line


def render_requirements(plan: Plan) -> str:
    lines: List[str] = header(plan, USAGE, "pip uninstall")
    with_hashes = bool(plan.pins) and all(p.hashes for p in plan.pins)
    missing = sum(1 for p in plan.pins if not p.hashes)
    if plan.pins and not with_hashes:
        lines.append(comment(f"no --hash: {missing} of {len(plan.pins)} packages have no archive hash recorded"))
        lines.append(comment("(installed from an index), and pip's hash-checking mode needs one on every line"))
    lines += [_line(pin, with_hashes) for pin in plan.pins]
    return "\n".join(lines) + "\n"
