"""The interpreter running envcheck (the default target)."""

from __future__ import annotations

from typing import Any, Dict, Hashable, Optional, Sequence

from envcheck import probe
from envcheck.targets.interface import Target, folders_token


class LocalTarget(Target):
    """This interpreter: the probe runs in-process."""

    kind = "local"
    in_process = True

    @property
    def name(self) -> str:
        return "local"

    def probe(self, extra_env: Sequence[str] = ()) -> Dict[str, Any]:
        return probe.probe(extra_env=extra_env)

    def change_token(self) -> Optional[Hashable]:
        """The mtimes of this interpreter's sys.path folders and of the distributions in them."""
        return folders_token(probe.search_path())
