"""The interpreter running envcheck (the default target)."""

from __future__ import annotations

from typing import Any, Dict, Sequence

from envcheck import probe
from envcheck.targets.interface import Target


class LocalTarget(Target):
    """This interpreter: the probe runs in-process."""

    kind = "local"
    in_process = True

    @property
    def name(self) -> str:
        return "local"

    def probe(self, extra_env: Sequence[str] = ()) -> Dict[str, Any]:
        return probe.probe(extra_env=extra_env)
