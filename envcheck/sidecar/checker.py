"""The sidecar's checking: one ``Checker`` that compares the live target with the lockfile, cheaply, and the
``State`` that the HTTP endpoints and the metrics read.

A check asks the target for its change token first (``Target.change_token``: PID and start time, mapped libraries,
mtimes of the site folders). When the token is the one taken just before the last full read, nothing that the
fingerprint is made of has changed and the last report stands: no probe, no comparison. Otherwise the target is
read again and compared. A token is trusted only when it was taken *before* the read it vouches for, so a change
made during a read is seen at the next check.

When the target cannot be inspected (the process is gone), the check says "target lost" and the next check asks
the target factory again: with ``--process-match`` that finds the restarted server under its new PID. A check that
runs past its time budget is abandoned by the loop (``serve.check_loop``), which records ``Checker.timed_out``.

Nothing here reads the clock, the streams or the network on its own: the clock is injected, and the caller
(``serve``) writes the log lines that ``events`` returns.
"""

from __future__ import annotations

import datetime
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Hashable, List, Optional, Sequence, Tuple

from envcheck import capture
from envcheck.compare import compare
from envcheck.findings import Finding, Report, Severity
from envcheck.model import Fingerprint
from envcheck.policy import Policy
from envcheck.report.json import JsonReporter
from envcheck.targets.interface import Target, TargetError

#: How many rule ids and subjects a readiness reason or a log line names before it says "and N more".
NAMED = 5


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check."""

    report: Optional[Report]
    """The comparison; None when the target could not be inspected."""
    target: str
    """The target's name (``pid:123``), or what the target options asked for when none was found."""
    ready: bool
    reason: Optional[str]
    """Why not ready: ``target lost: ...`` or the failing findings; None when ready."""
    reread: bool
    """True when the target was read again (its change token moved); False when the last report was reused."""
    started_at: float
    """Unix time at the start of the check."""
    duration_s: float
    """Wall time of the check."""
    error: Optional[str] = None
    """The ``TargetError`` message when the target was lost; ``check timed out`` when the check was abandoned."""
    timed_out: bool = False
    """True when the check ran past its time budget and was abandoned (no report: the target's state is
    unknown)."""

    @property
    def lost(self) -> bool:
        """True when the target could not be inspected (not when the check timed out)."""
        return self.report is None and not self.timed_out

    @property
    def failing(self) -> Tuple[Finding, ...]:
        return () if self.report is None else self.report.failing()

    @property
    def highest(self) -> Optional[str]:
        highest = None if self.report is None else self.report.highest
        return None if highest is None else highest.label


def drift_reason(report: Report) -> Optional[str]:
    """Why ``report`` fails readiness, naming the first failing rules and subjects; None when it does not."""
    failing = report.failing()
    if not failing:
        return None
    assert report.fail_on is not None  # failing() is empty without a threshold
    named = ", ".join(f"{f.id} {f.subject}" for f in failing[:NAMED])
    more = f" and {len(failing) - NAMED} more" if len(failing) > NAMED else ""
    noun = "finding" if len(failing) == 1 else "findings"
    return f"{len(failing)} {noun} at or above {report.fail_on.label}: {named}{more}"


class Checker:
    """Compares a target with the expected fingerprint, re-reading the target only when its token changes."""

    def __init__(
        self,
        expected: Fingerprint,
        target_factory: Callable[[], Target],
        *,
        policy: Optional[Policy] = None,
        fail_on: Optional[Severity] = Severity.HIGH,
        lock_name: str = "lockfile",
        target_label: str = "target",
        take: Callable[..., Fingerprint] = capture.take,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.expected = expected
        self.policy = policy or Policy()
        self.fail_on = fail_on
        self.lock_name = lock_name
        self.target_label = target_label
        """What to call the target before one has been found (``process-match:uvicorn``)."""
        self._factory = target_factory
        self._take = take
        self._clock = clock
        self._timer = timer
        self._extra_env: List[str] = sorted(
            {*expected.env.variables, *expected.env.redacted, *self.policy.extra_env}
        )
        self._target: Optional[Target] = None
        self._token: Optional[Hashable] = None
        self.actual: Optional[Fingerprint] = None
        """The last fingerprint read from the target."""
        self._report: Optional[Report] = None
        self.reads = 0
        """How many times the target was read (probed) in full."""

    @property
    def target_name(self) -> str:
        return self._target.name if self._target is not None else self.target_label

    def check_once(self) -> CheckResult:
        """One check; never raises ``TargetError`` (a lost target is a result)."""
        started, t0 = self._clock(), self._timer()
        try:
            report, reread = self._check()
        except TargetError as e:
            self._forget()
            lost = f"target lost: {e}"
            return CheckResult(None, self.target_name, False, lost, True, started, self._timer() - t0, str(e))
        reason = drift_reason(report)
        return CheckResult(report, self.target_name, reason is None, reason, reread, started, self._timer() - t0)

    def timed_out(
        self, started_at: float, elapsed_s: float, budget_s: float, *, still_running: bool
    ) -> CheckResult:
        """The result of a check abandoned after ``budget_s`` seconds (``elapsed_s`` so far): not ready, no report.

        ``still_running``: the check abandoned earlier has not ended yet (no new one was started)."""
        reason = f"check timed out: no result within {budget_s:g} s"
        if still_running:
            reason += f" (still running after {elapsed_s:.0f} s)"
        error = "check timed out"
        return CheckResult(
            None, self.target_name, False, reason, False, started_at, elapsed_s, error=error, timed_out=True
        )

    def _check(self) -> Tuple[Report, bool]:
        fresh = self._target is None
        if self._target is None:
            self._target = self._factory()
        try:
            return self._check_target(self._target)
        except TargetError:
            if fresh:
                raise
        # The process may have restarted under another PID: find it again, once.
        self._forget()
        self._target = self._factory()
        return self._check_target(self._target)

    def _check_target(self, target: Target) -> Tuple[Report, bool]:
        token = target.change_token()
        if token is not None and token == self._token and self._report is not None:
            return self._report, False
        self._token = None  # until this read succeeds
        self.actual = self._take(target, extra_env=self._extra_env, loaded=False)
        self.reads += 1
        self._report = compare(
            self.expected,
            self.actual,
            self.policy,
            self_checks=True,
            expected_name=self.lock_name,
            actual_name=target.name,
            fail_on=self.fail_on,
        )
        self._token = token
        return self._report, True

    def _forget(self) -> None:
        self._target, self._token, self._report = None, None, None


def _finding_keys(report: Optional[Report]) -> Dict[Tuple[str, str], str]:
    return {} if report is None else {(f.id, f.subject): f.severity.label for f in report.findings}


def _named(keys: Sequence[Tuple[str, str]], severities: Dict[Tuple[str, str], str]) -> Dict[str, Any]:
    listed = [{"rule": r, "subject": s, "severity": severities[r, s]} for r, s in sorted(keys)[:20]]
    out: Dict[str, Any] = {"count": len(keys), "findings": listed}
    if len(keys) > len(listed):
        out["more"] = len(keys) - len(listed)
    return out


def timestamp(unix: float) -> str:
    """UTC, ISO 8601, milliseconds: ``2026-11-28T10:00:00.123Z``."""
    dt = datetime.datetime.fromtimestamp(unix, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def events(previous: Optional[CheckResult], known: Optional[Report], result: CheckResult) -> List[Dict[str, Any]]:
    """The log records for ``result``: one ``check`` record, then one per change of state.

    ``previous`` is the check before, ``known`` the last report the target gave (drift is counted against it, so
    that a target lost and found again with the same findings logs no drift). A check that timed out logs
    ``check_timeout`` once, until a check ends again; the next one that reads the target logs ``target_found``.
    Records hold counts, severities, rule ids, subjects (package and variable names) and the target's name: never
    an expected or actual value, which for an environment variable could be a secret.
    """
    ts = timestamp(result.started_at + result.duration_s)
    out: List[Dict[str, Any]] = [
        {
            "ts": ts,
            "event": "check",
            "target": result.target,
            "findings": len(result.failing),
            "total": 0 if result.report is None else len(result.report.findings),
            "highest": result.highest,
            "ready": result.ready,
            "reason": result.reason,
            "duration_ms": round(result.duration_s * 1000, 3),
            "reread": result.reread,
        }
    ]
    if result.timed_out:
        if previous is None or not previous.timed_out:
            out.append({"ts": ts, "event": "check_timeout", "target": result.target, "reason": result.reason})
        return out
    if result.lost:
        if previous is None or not previous.lost:
            out.append({"ts": ts, "event": "target_lost", "target": result.target, "reason": result.reason})
        return out
    if previous is None or previous.report is None or previous.target != result.target:
        out.append({"ts": ts, "event": "target_found", "target": result.target})
    if known is result.report:
        return out  # the same report (nothing re-read): nothing appeared or cleared
    before, now = _finding_keys(known), _finding_keys(result.report)
    appeared = [k for k in now if k not in before]
    cleared = [k for k in before if k not in now]
    if appeared:
        out.append({"ts": ts, "event": "drift_appeared", "target": result.target, **_named(appeared, now)})
    if cleared:
        out.append({"ts": ts, "event": "drift_cleared", "target": result.target, **_named(cleared, before)})
    return out


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
    """Changes whenever anything the metrics show changes: a key for caching their rendering."""

    @property
    def ready(self) -> bool:
        return self.last is not None and self.last.ready

    @property
    def reason(self) -> Optional[str]:
        return "no check yet" if self.last is None else self.last.reason

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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.lock_name = lock_name
        self.digest = digest
        self.stall_after = stall_after
        """The loop counts as dead when it has not shown life for this long."""
        self._clock = clock
        self._lock = threading.Lock()
        self.started_at = clock()
        self._heartbeat = self.started_at
        self._stopped = False
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
            records = events(self._last, self._report, result)
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
                last=self._last,
                ended=self._ended,
                report=self._report,
                report_json=self._report_json,
                checks_total=self._checks,
                errors_total=self._errors,
                timeouts_total=self._timeouts,
                series=self._series_view,
                generation=self._generation,
            )
