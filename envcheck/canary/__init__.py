"""The golden-output canary: replay the golden cases a lockfile binds against a running model server
(``envcheck canary``) and report what it answers differently."""

from __future__ import annotations

from envcheck.canary.http import Endpoint, parse_endpoint, post_json
from envcheck.canary.interface import CanaryError, CanaryProtocol, TargetLost
from envcheck.canary.run import PROTOCOLS, CanaryRun, protocol_for, replay, report_for

__all__ = [
    "PROTOCOLS",
    "CanaryError",
    "CanaryProtocol",
    "CanaryRun",
    "Endpoint",
    "TargetLost",
    "parse_endpoint",
    "post_json",
    "protocol_for",
    "replay",
    "report_for",
]
