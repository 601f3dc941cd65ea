"""Golden outputs: inputs a model server is sent and the outputs it gave when the model was verified, stored
beside the lockfile (``envcheck.golden/``) and bound to it by digest; ``envcheck canary`` replays them."""

from __future__ import annotations

from envcheck.golden.case import DEFAULT_TOLERANCE, GoldenCase, GoldenError, Tolerance
from envcheck.golden.compare import CaseResult, compare_outputs
from envcheck.golden.recording import case_from_file, record
from envcheck.golden.store import DEFAULT_LIMIT, FOLDER, bind, load_bound

__all__ = [
    "DEFAULT_LIMIT",
    "DEFAULT_TOLERANCE",
    "FOLDER",
    "CaseResult",
    "GoldenCase",
    "GoldenError",
    "Tolerance",
    "bind",
    "case_from_file",
    "compare_outputs",
    "load_bound",
    "record",
]
