"""What the sidecar's endpoints and metrics read: the ``State`` the checks are recorded in and the ``View`` of it
one request sees, and the ``envcheck_finding`` series.

``State`` turns the checks into readiness through the gate (``envcheck.sidecar.gate``: ``startup`` latches on the
first passing check, ``always`` follows every check, ``never`` is always ready) and logs ``gate_opened`` and
``drift_after_ready`` under ``startup``. The clock is injected.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from envcheck.findings import Finding, Report
from envcheck.report.json import JsonReporter
from envcheck.sidecar.canary import CanaryOutcome
from envcheck.sidecar.checker import CheckResult, events
from envcheck.sidecar.gate import Gate, drift_after_ready, is_ready

#: (rule, component, subject, severity): the labels of one ``envcheck_finding`` series.
SeriesKey = Tuple[str, str, str, str]

#: At most this many ``envcheck_finding`` series: the most severe current findings first, then cleared ones.
MAX_SERIES = 200
#: A cleared finding's series stays at 0 this long (so that a scrape sees it go to 0), then is dropped.
CLEARED_KEEP_S = 300.0


def finding_series(
    previous: Dict[SeriesKey, Optional[float]], report: Report, now: float
) -> Dict[SeriesKey, Optional[float]]:
    """The ``envcheck_finding`` series after ``report``: key -> None for a current finding (value 1), or the time
    it cleared (value 0). Cleared series older than ``CLEARED_KEEP_S`` are dropped; ``MAX_SERIES`` at most."""
    out: Dict[SeriesKey, Optional[float]] = {}
    for f in sorted(report.findings, key=Finding.sort_key)[:MAX_SERIES]:
        out[f.id, f.component, f.subject, f.severity.label] = None
    cleared = [
        (key, now if since is None else since)
        for key, since in previous.items()
        if key not in out and (since is None or now - since < CLEARED_KEEP_S)
    ]
    cleared.sort(key=lambda item: -item[1])  # most recently cleared first
    for key, since in cleared[: MAX_SERIES - len(out)]:
        out[key] = since
    return out


@dataclass(frozen=True)
class View:
    """A consistent copy of the state, for one request."""

    lock_name: str
    digest: str
    started_at: float
    alive: bool
    gate: Gate
    opened: bool
    """A check has passed since the sidecar started (what opens the ``startup`` gate for good)."""
    last: Optional[CheckResult]
    """The last check's result, a timed-out one included."""
    ended: Optional[CheckResult]
    """The last check that ended (not timed out): what ``envcheck_last_check_*`` and ``checks_total`` count."""
    report: Optional[Report]
    """The last report the target gave (kept while the target is lost)."""
    report_json: Optional[str]
    checks_total: int
    """Checks that ended (a check that timed out is not counted here until it ends)."""
    errors_total: int
    """Checks that could not inspect the target, timed out, or failed."""
    timeouts_total: int
    series: Tuple[Tuple[SeriesKey, int], ...]
    generation: int
    canary_configured: bool = False
    """``--canary`` was given: the ``envcheck_canary_*`` metrics are exported."""
    canary: Optional[CanaryOutcome] = None
    """The last canary run's outcome; None before the first."""
    canary_runs: int = 0
    """Changes whenever anything the metrics show changes: a key for caching their rendering."""

    @property
    def drift_ok(self) -> bool:
        """The last check passed, whatever the gate (False before the first): ``envcheck_drift_ok``."""
        return self.last is not None and self.last.ready

    @property
    def drift_reason(self) -> Optional[str]:
        """Why the last check did not pass, whatever the gate; None when it passed."""
        if self.drift_ok:
            return None
        return "no check yet" if self.last is None else self.last.reason

    @property
    def ready(self) -> bool:
        """The readiness answer, as the gate makes it from the checks: /readyz and ``envcheck_ready``."""
        return is_ready(self.gate, passing=self.drift_ok, opened=self.opened)

    @property
    def reason(self) -> Optional[str]:
        """Why not ready; None when ready (under ``startup`` once the gate opened, under ``never`` always)."""
        return None if self.ready else self.drift_reason

    @property
    def target_up(self) -> bool:
        return self.last is not None and self.last.report is not None


class State:
    """What the sidecar knows, updated by the checking loop and read by the endpoints, under one lock."""

    def __init__(
        self,
        lock_name: str,
        digest: str,
        *,
        stall_after: float = 300.0,
        gate: Gate = Gate.STARTUP,
        canary: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lock_name = lock_name
        self.canary = canary
        """``--canary`` was given."""
        self.digest = digest
        self.gate = gate
        """When a check's verdict decides readiness (``envcheck.sidecar.gate``)."""
        self.stall_after = stall_after
        """The loop counts as dead when it has not shown life for this long."""
        self._clock = clock
        self._lock = threading.Lock()
        self.started_at = clock()
        self._heartbeat = self.started_at
        self._stopped = False
        self._opened = False
        self._last: Optional[CheckResult] = None
        self._ended: Optional[CheckResult] = None
        self._report: Optional[Report] = None
        self._report_json: Optional[str] = None
        self._checks = 0
        self._errors = 0
        self._timeouts = 0
        self._series: Dict[SeriesKey, Optional[float]] = {}
        self._series_view: Tuple[Tuple[SeriesKey, int], ...] = ()
        self._generation = 0
        self._canary: Optional[CanaryOutcome] = None
        self._canary_runs = 0

    def beat(self) -> None:
        """The loop is alive."""
        with self._lock:
            self._heartbeat = self._clock()

    def stop(self) -> None:
        """The loop has ended: /healthz says so."""
        with self._lock:
            self._stopped = True

    def record(self, result: CheckResult) -> List[Dict[str, Any]]:
        """Take a check's result; returns its log records (see ``events``)."""
        now = self._clock()
        rendered = None
        new_report = result.report is not None and result.report is not self._report
        if new_report:
            assert result.report is not None
            rendered = JsonReporter().render(result.report)  # once per new report, outside the lock
        with self._lock:
            was_open, self._opened = self._opened, self._opened or result.ready
            ready = is_ready(self.gate, passing=result.ready, opened=self._opened)
            records = events(self._last, self._report, result, ready=ready)
            ts = records[0]["ts"]
            if self.gate is Gate.STARTUP and self._opened and not was_open:
                records.append(
                    {"ts": ts, "event": "gate_opened", "target": result.target, "gate": self.gate.value}
                )
            after = drift_after_ready(self.gate, was_open=was_open, known=self._report, report=result.report)
            if after is not None:
                records.append({"ts": ts, "event": "drift_after_ready", "target": result.target, **after})
            if result.canary_ran and result.canary is not None:
                records.insert(
                    1, {"ts": ts, "event": "canary", "target": result.target, **result.canary.log_fields()}
                )
                self._canary_runs += 1
            if result.canary is not None:
                self._canary = result.canary
            self._generation += 1
            self._last = result
            self._heartbeat = now
            if not result.timed_out:
                self._ended = result
                self._checks += 1
            if result.report is None:
                self._errors += 1
                self._timeouts += int(result.timed_out)
            elif new_report or any(since is not None for since in self._series.values()):
                assert result.report is not None
                self._series = finding_series(self._series, result.report, now)
                self._series_view = tuple((k, 1 if v is None else 0) for k, v in self._series.items())
            if new_report:
                self._report, self._report_json = result.report, rendered
        return records

    def error(self) -> None:
        """A check failed for a reason other than the target (a bug): counted, and the loop goes on."""
        with self._lock:
            self._errors += 1
            self._generation += 1
            self._heartbeat = self._clock()

    def view(self) -> View:
        with self._lock:
            alive = not self._stopped and self._clock() - self._heartbeat <= self.stall_after
            return View(
                lock_name=self.lock_name,
                digest=self.digest,
                started_at=self.started_at,
                alive=alive,
                gate=self.gate,
                opened=self._opened,
                last=self._last,
                ended=self._ended,
                report=self._report,
                report_json=self._report_json,
                checks_total=self._checks,
                errors_total=self._errors,
                timeouts_total=self._timeouts,
                series=self._series_view,
                generation=self._generation,
                canary_configured=self.canary,
                canary=self._canary,
                canary_runs=self._canary_runs,
            )
