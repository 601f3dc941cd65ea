"""Replaying golden cases against a model server, and the report of what it answered.

``replay`` sends each case's recorded inputs (only those) and compares the answer with the recorded outputs
(``envcheck.golden.compare``); ``report_for`` turns the results into a ``Report`` as ``check`` gives one, with a
``canary.failed`` finding per case that differs (prediction; high within 1e-3 relative of what was recorded,
critical beyond, or for a label, a NaN or another shape). A server that cannot be asked raises ``TargetLost``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple

from envcheck.canary.http import Endpoint, post_json
from envcheck.canary.interface import CanaryError, CanaryProtocol
from envcheck.canary.kserve import KServeV2Protocol
from envcheck.canary.mlflow import MlflowProtocol
from envcheck.canary.plainjson import JsonProtocol
from envcheck.compare import findings_from
from envcheck.findings import Report, Severity
from envcheck.golden.case import GoldenCase
from envcheck.golden.compare import NUMBER, CaseResult, compare_outputs, describe
from envcheck.policy import Policy
from envcheck.rules.interface import Change

PROTOCOLS: Dict[str, Callable[[], CanaryProtocol]] = {
    "mlflow": MlflowProtocol,
    "kserve-v2": KServeV2Protocol,
    "json": JsonProtocol,
}
DEFAULT_TIMEOUT = 10.0
#: The largest answer read: golden cases are a few rows, their answers kilobytes.
DEFAULT_MAX_BYTES = 4 << 20
#: A numeric difference larger than this (relative to the recorded value) is critical, not high.
CRITICAL_REL = 1e-3


@dataclass(frozen=True)
class CanaryRun:
    results: Tuple[CaseResult, ...]
    endpoint: str
    """The URL, credentials scrubbed."""
    protocol: str
    seconds: float

    @property
    def max_abs_error(self) -> float:
        return max((r.max_abs_error for r in self.results), default=0.0)


def protocol_for(name: str) -> CanaryProtocol:
    try:
        return PROTOCOLS[name]()
    except KeyError:
        raise CanaryError(f"unknown canary protocol {name!r} (one of {', '.join(PROTOCOLS)})") from None


def replay(
    cases: Sequence[GoldenCase],
    endpoint: Endpoint,
    protocol: CanaryProtocol,
    *,
    model: str = "",
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    clock: Callable[[], float] = time.monotonic,
) -> CanaryRun:
    """Send each case and compare its answer; raises ``TargetLost`` for a server that cannot be asked."""
    if not cases:
        raise CanaryError("no golden case to send")
    path = protocol.path(model)
    start = clock()
    results = []
    for case in cases:
        answer = post_json(endpoint, path, protocol.request(case), timeout=timeout, max_bytes=max_bytes)
        results.append(compare_outputs(case.name, case.outputs, protocol.outputs(answer, case), case.tolerance))
    return CanaryRun(tuple(results), endpoint.shown, protocol.name, clock() - start)


def changes(run: CanaryRun) -> Tuple[Change, ...]:
    """A ``canary.failed`` change per case whose answer differs."""
    out = []
    for result in run.results:
        if result.ok or result.worst is None:
            continue
        worst = result.worst
        minor = worst.kind == NUMBER and worst.rel_error <= CRITICAL_REL
        out.append(
            Change(
                rule="canary.failed",
                subject=result.name,
                expected=worst.expected,
                actual=worst.actual,
                fields={"detail": describe(result), "impact": "4" if minor else "5", "endpoint": run.endpoint},
            )
        )
    return tuple(out)


def report_for(
    run: CanaryRun,
    *,
    policy: Optional[Policy] = None,
    lock_name: str = "lockfile",
    fail_on: Optional[Severity] = Severity.HIGH,
) -> Report:
    findings = findings_from(changes(run), policy or Policy())
    passed = sum(r.ok for r in run.results)
    line = (
        f"canary: {len(run.results)} golden case{'' if len(run.results) == 1 else 's'} sent to {run.endpoint} "
        f"({run.protocol}), {passed} answered "
        f"as recorded, in {run.seconds:.2f} s; largest absolute error {run.max_abs_error:.3g}"
    )
    return Report(
        findings=findings, expected_name=lock_name, actual_name=run.endpoint, fail_on=fail_on, evidence=(line,)
    )
