"""``envcheck sidecar``: watch a live environment, gate readiness on drift, export Prometheus metrics.

``Checker`` compares the target with the lockfile (re-reading it only when its change token moves), ``State``
holds what the endpoints show, ``make_app`` is the WSGI application over it, ``make_registry`` its metrics, and
``serve`` wires them to the HTTP server (``server``), a checking thread whose checks have a time budget, and the
signals; ``logs`` shapes the JSON log lines; ``gate`` decides how the checks become readiness (``--gate``);
``canary`` replays the golden cases against the model server after a check, when due (``--canary``).
"""

from envcheck.sidecar.app import make_app
from envcheck.sidecar.checker import Checker, CheckResult
from envcheck.sidecar.gate import Gate
from envcheck.sidecar.metrics import SidecarCollector, make_registry
from envcheck.sidecar.serve import DEFAULT_LISTEN, parse_listen, serve
from envcheck.sidecar.state import State

__all__ = [
    "DEFAULT_LISTEN",
    "CheckResult",
    "Checker",
    "Gate",
    "SidecarCollector",
    "State",
    "make_app",
    "make_registry",
    "parse_listen",
    "serve",
]
