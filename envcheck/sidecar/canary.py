"""The sidecar's canary (``envcheck sidecar --canary URL``): the golden cases replayed against the model server
beside it, when due, and what a run adds to the check's report and to readiness.

A run is due at the first check, after every change of the target (its change token moved: a restart, another
package, another variable), while the last run could not ask the server (not up yet: a pod starting), and every
``--canary-interval`` seconds. It runs after a check that could inspect the target, in the check's own worker
thread and time budget, so it never overlaps a check or another run.

A run whose cases all come back as recorded passes. One that differs adds its ``canary.failed`` findings to the
report and fails the check however ``--fail-on`` is set (unless ``never``): predictions were seen to change, which
is at least as serious as critical drift. A server that cannot be asked (down, slow, an HTTP error, not the
protocol's answer) is "canary: model server lost", never "predictions changed"; it fails the check too, so that
under ``--gate startup`` a pod becomes ready only once its model server has answered the canary as recorded.

Golden data stays out of logs: the log record of a run holds counts, case names, the largest error and the time.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

from envcheck.canary.http import Endpoint
from envcheck.canary.interface import CanaryProtocol, TargetLost
from envcheck.canary.run import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT, CanaryRun, changes, replay
from envcheck.compare import findings_from
from envcheck.findings import Finding, Report, Severity
from envcheck.golden.case import GoldenCase
from envcheck.policy import Policy

#: Seconds between runs when nothing changed (``--canary-interval``).
DEFAULT_INTERVAL = 300.0


@dataclass(frozen=True)
class CanaryOutcome:
    """How one canary run went."""

    started_at: float
    """Unix time at the start."""
    duration_s: float
    endpoint: str
    """The URL, credentials scrubbed."""
    run: Optional[CanaryRun]
    """The answers compared; None when the server could not be asked."""
    error: str = ""
    """Why the server could not be asked (``TargetLost``'s message)."""
    findings: Tuple[Finding, ...] = ()
    """A ``canary.failed`` finding per case answered otherwise."""

    @property
    def lost(self) -> bool:
        return self.run is None

    @property
    def ok(self) -> bool:
        """Every case was answered as recorded."""
        return self.run is not None and all(r.ok for r in self.run.results)

    @property
    def cases(self) -> int:
        return 0 if self.run is None else len(self.run.results)

    @property
    def passed(self) -> int:
        return 0 if self.run is None else sum(r.ok for r in self.run.results)

    @property
    def max_abs_error(self) -> float:
        """The largest absolute error of the answers (NaN when nothing was compared)."""
        return math.nan if self.run is None else self.run.max_abs_error

    @property
    def failed_cases(self) -> Tuple[str, ...]:
        return () if self.run is None else tuple(r.name for r in self.run.results if not r.ok)

    def reason(self, fail_on: Optional[Severity]) -> Optional[str]:
        """Why this run fails the check; None when it does not. ``fail_on`` None (``--fail-on never``): only a
        server that cannot be asked fails it."""
        if self.run is None:
            return f"canary: model server lost: {self.error}"
        if self.ok or fail_on is None:
            return None
        failed = self.failed_cases
        named = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
        cases = "golden case" if self.cases == 1 else "golden cases"
        return f"canary: {len(failed)} of {self.cases} {cases} answered otherwise than recorded: {named}"

    def line(self) -> str:
        """The report's evidence line."""
        if self.run is None:
            return f"canary: the model server at {self.endpoint} could not be asked: {self.error}"
        cases = "golden case" if self.cases == 1 else "golden cases"
        return (
            f"canary: {self.cases} {cases} sent to {self.endpoint} ({self.run.protocol}), {self.passed} "
            f"answered as recorded, in {self.run.seconds:.2f} s; largest absolute error {self.max_abs_error:.3g}"
        )

    def log_fields(self) -> Dict[str, Any]:
        """The fields of the ``canary`` log record: counts, case names, the error's size, never golden data."""
        fields: Dict[str, Any] = {
            "endpoint": self.endpoint,
            "ok": self.ok,
            "lost": self.lost,
            "cases": self.cases,
            "passed": self.passed,
            "failed_cases": list(self.failed_cases[:20]),
            "max_abs_error": None if self.run is None else self.max_abs_error,
            "duration_ms": round(self.duration_s * 1000, 3),
        }
        if self.lost:
            fields["reason"] = self.error
        return fields


class Canary:
    """Replays the golden cases against the model server when a run is due, and keeps the last outcome."""

    def __init__(
        self,
        cases: Sequence[GoldenCase],
        endpoint: Endpoint,
        protocol: CanaryProtocol,
        *,
        model: str = "",
        interval: float = DEFAULT_INTERVAL,
        timeout: float = DEFAULT_TIMEOUT,
        max_bytes: int = DEFAULT_MAX_BYTES,
        policy: Optional[Policy] = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not cases:
            raise ValueError("a canary needs at least one golden case")
        self.cases = tuple(cases)
        self.endpoint = endpoint
        self.protocol = protocol
        self.model = model
        self.interval = interval
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.policy = policy or Policy()
        self._clock = clock
        self._timer = timer
        self.last: Optional[CanaryOutcome] = None
        """The last run's outcome; None before the first."""

    def due(self, *, changed: bool) -> bool:
        """Whether a run is due now: first, after a change of the target (``changed``), while the server could
        not be asked, and every ``interval`` seconds."""
        last = self.last
        if last is None or changed or last.lost:
            return True
        return self._clock() - last.started_at >= self.interval

    def run(self) -> CanaryOutcome:
        """Run every case once; never raises ``TargetLost`` (a server that cannot be asked is an outcome)."""
        started, t0 = self._clock(), self._timer()
        try:
            run: Optional[CanaryRun] = replay(
                self.cases,
                self.endpoint,
                self.protocol,
                model=self.model,
                timeout=self.timeout,
                max_bytes=self.max_bytes,
                clock=self._timer,
            )
            error = ""
        except TargetLost as e:
            run, error = None, str(e)
        found = () if run is None else findings_from(changes(run), self.policy)
        outcome = CanaryOutcome(started, self._timer() - t0, self.endpoint.shown, run, error, found)
        self.last = outcome
        return outcome


def with_canary(report: Report, outcome: Optional[CanaryOutcome]) -> Report:
    """``report`` with the canary's findings among its own (report order) and its evidence line; before the first
    run, a line saying the canary has not run yet."""
    if outcome is None:
        return dataclasses.replace(report, evidence=(*report.evidence, "canary: not run yet"))
    findings = tuple(sorted((*report.findings, *outcome.findings), key=Finding.sort_key))
    return dataclasses.replace(report, findings=findings, evidence=(*report.evidence, outcome.line()))
