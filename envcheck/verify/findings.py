"""From a ``Verification`` to changes of the rule ``package.files.modified``: pure."""

from __future__ import annotations

from typing import Iterator, Sequence

from envcheck.rules.interface import Change
from envcheck.verify.result import DistFiles, Verification

RULE = "package.files.modified"
#: Paths named per kind before "and N more".
SHOWN = 3


def _listed(paths: Sequence[str]) -> str:
    head = ", ".join(paths[:SHOWN])
    return head + (f" and {len(paths) - SHOWN} more" if len(paths) > SHOWN else "")


def describe(dist: DistFiles) -> str:
    """``2 modified (numpy/a.py, numpy/b.so), 1 missing (numpy/c.py)``."""
    parts = [
        f"{len(paths)} {kind} ({_listed(paths)})"
        for kind, paths in (
            ("modified", dist.modified),
            ("missing", dist.missing),
            ("unexpected", dist.unexpected),
        )
        if paths
    ]
    return ", ".join(parts)


def file_changes(verification: Verification) -> Iterator[Change]:
    """One change per distribution whose installed files differ from its RECORD."""
    for dist in verification.changed:
        fields = {"detail": describe(dist), "version": dist.version, "site": dist.site}
        yield Change(RULE, dist.name, dist.version, "files differ", fields, package=dist.name, instance=dist.site)
