"""How the sidecar's checks become the pod's readiness: ``--gate startup|always|never``.

A verifier that takes a pod out of its Service on drift guards one replica well and a fleet badly: a drift that
reaches every replica at once (a node image, a driver upgrade, a shared volume) takes every pod out, and the
verifier itself causes the outage it guards against. So the gate says when a check's verdict decides readiness:

``startup`` (the default)  not ready until a check passes; from then on ready for the life of the sidecar. A bad
                           rollout stalls (its new pods never become ready, the old ones keep serving), and a
                           drift that appears later is reported (metrics, ``/report``, a ``drift_after_ready``
                           log line, the alert rules) but never takes the pod out.
``always``                 ready exactly while the last check passes: fails closed, at the cost above.
``never``                  always ready, from the moment the sidecar listens, before its first check too: the
                           sidecar only reports, and a pod's readiness is the server's own business.

A check passes when it could inspect the target and found nothing at or above ``--fail-on``
(``CheckResult.ready``): a lost target or a check that timed out does not pass, and does not close an open gate.
Pure: no I/O, no clock.
"""

from __future__ import annotations

import enum
from typing import Any, Dict, FrozenSet, List, NoReturn, Optional, Tuple

from envcheck.findings import Report


class Gate(enum.Enum):
    """When a check's verdict decides readiness; the value is the ``--gate`` choice."""

    STARTUP = "startup"
    ALWAYS = "always"
    NEVER = "never"


def _assert_never(value: NoReturn) -> NoReturn:
    # typing.assert_never is 3.11+; a NoReturn parameter gives mypy the same exhaustiveness check.
    raise AssertionError(f"unhandled gate: {value!r}")


def is_ready(gate: Gate, *, passing: bool, opened: bool) -> bool:
    """The readiness answer: ``passing`` (the last check passed; False before the first), ``opened`` (a check has
    passed since the sidecar started)."""
    if gate is Gate.ALWAYS:
        return passing
    if gate is Gate.STARTUP:
        return opened
    if gate is Gate.NEVER:
        return True
    _assert_never(gate)


#: The failing findings of a report, as (rule, subject) pairs: what a change of drift is measured by.
DriftKey = FrozenSet[Tuple[str, str]]


def drift_key(report: Optional[Report]) -> DriftKey:
    """The failing findings of ``report`` (empty for None)."""
    return frozenset() if report is None else frozenset((f.id, f.subject) for f in report.failing())


DRIFT_AFTER_READY = "drift after ready: staying ready, gate=startup"


def drift_after_ready(
    gate: Gate, *, was_open: bool, known: Optional[Report], report: Optional[Report]
) -> Optional[Dict[str, Any]]:
    """The fields of a ``drift_after_ready`` log record when ``report`` (the check just ended) fails on a finding
    that the last report the target gave (``known``) did not fail on, while the ``startup`` gate was already
    open; None otherwise. Once per change: a steady drift logs once, a new failing finding logs again (a finding
    that clears has ``drift_cleared``), a lost target (no report) logs nothing here (it has ``target_lost``)."""
    if gate is not Gate.STARTUP or not was_open or report is None or report is known:
        return None
    now = drift_key(report)
    if not now - drift_key(known):
        return None
    named: List[Dict[str, str]] = [{"rule": r, "subject": s} for r, s in sorted(now)[:20]]
    out: Dict[str, Any] = {"message": DRIFT_AFTER_READY, "gate": gate.value, "count": len(now), "findings": named}
    if len(now) > len(named):
        out["more"] = len(now) - len(named)
    return out
