"""A remedy as a ``pylock.toml`` (PEP 751): each pinned package with the archive the lockfile recorded.

PEP 751 gives every package a source (wheels, an archive, a VCS commit...) with its hashes, and installers
refuse an entry without one (uv: "must include one of wheels, directory, archive, sdist or vcs"). A package
installed from an index leaves no trace of which file it came from (pip writes no ``direct_url.json`` then), so
such packages cannot be written honestly: they are left out, listed in the header, and ``--format requirements``
is the way to restore them. Because of that, the header recommends ``uv pip install -r``: ``uv pip sync``
removes whatever the file does not list. Pure (``tomli_w`` only serialises).
"""

from __future__ import annotations

from typing import Any, Dict, List

import tomli_w

from envcheck import __version__
from envcheck.restore.header import comment, header
from envcheck.restore.interface import Pin, Plan

USAGE = (
    "install with: uv pip install -r THIS_FILE (uv pip sync would also remove every package not listed,",
    "including those left out below)",
)


def _hashes(pin: Pin) -> Dict[str, str]:
    return dict(h.split(":", 1) for h in pin.hashes)


def _entry(pin: Pin) -> Dict[str, Any]:
    """The ``[[packages]]`` table of a pin with a source; empty when it has none that can be written."""
    src = pin.source
    entry: Dict[str, Any] = {"name": pin.name, "version": pin.version}
    if src is None or src.kind != "archive" or not pin.hashes:
        return {}
    file = src.url.rsplit("/", 1)[-1]
    if file.endswith(".whl"):
        entry["wheels"] = [{"name": file, "url": src.url, "hashes": _hashes(pin)}]
    else:
        entry["archive"] = {"url": src.url, "hashes": _hashes(pin)}
    return entry


def left_out(plan: Plan) -> List[str]:
    """``name==version`` of the pins a pylock.toml cannot hold: no archive was recorded for them."""
    return [f"{pin.name}=={pin.version}" for pin in plan.pins if not _entry(pin)]


def render_pylock(plan: Plan) -> str:
    entries = [(pin, _entry(pin)) for pin in plan.pins]
    left_out = [f"{pin.name}=={pin.version}" for pin, entry in entries if not entry]
    lines: List[str] = header(plan, USAGE, "uv pip uninstall")
    if left_out:
        lines.append(comment("left out: no archive recorded (installed from an index; PEP 751 needs one);"))
        lines.append(comment("restore them with --format requirements:"))
        lines += [comment(f"  {pin}") for pin in left_out]
    data = {
        "lock-version": "1.0",
        "created-by": f"envcheck {__version__}",
        "packages": [entry for _, entry in entries if entry],
    }
    return "\n".join(lines) + "\n" + tomli_w.dumps(data)
