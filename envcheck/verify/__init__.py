"""Deep verification of installed files: each distribution's files hashed and compared with its RECORD
(``envcheck check LOCK --files``, ``envcheck verify-files``)."""

from __future__ import annotations

from envcheck.verify.hashing import HashCache
from envcheck.verify.result import DistFiles, Verification
from envcheck.verify.scan import WalkLimits, verify_sites

__all__ = ["DistFiles", "HashCache", "Verification", "WalkLimits", "verify_sites"]
