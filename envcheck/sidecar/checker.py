"""The sidecar's checking: one ``Checker`` that compares the live target with the lockfile, cheaply, and the
log records a check's outcome gives (``events``); ``envcheck.sidecar.state`` holds what the endpoints read.

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

import dataclasses
import datetime
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Hashable, List, Optional, Sequence, Tuple

from envcheck import capture
from envcheck.compare import compare
from envcheck.findings import Finding, Report, Severity
from envcheck.model import Fingerprint
from envcheck.observed import Observed
from envcheck.policy import Policy
from envcheck.sidecar.canary import Canary, CanaryOutcome, with_canary
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
    """The check passed: it inspected the target and found nothing at or above ``--fail-on``. Whether the pod is
    ready also depends on the gate (``View.ready``)."""
    reason: Optional[str]
    """Why the check did not pass: ``target lost: ...`` or the failing findings; None when it passed."""
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
    canary: Optional[CanaryOutcome] = None
    """With ``--canary``: the last canary run's outcome (this check's or an earlier one's)."""
    canary_ran: bool = False
    """The canary ran in this check."""

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


def _reason(report: Report, canary: Optional[CanaryOutcome]) -> Optional[str]:
    """Why a check that read the target does not pass: its failing findings (the canary's among them) and a canary
    that could not ask the server or saw answers change below ``--fail-on``; None when it passes."""
    reasons = [drift_reason(report)]
    if canary is not None and not set(canary.findings) & set(report.failing()):
        reasons.append(canary.reason(report.fail_on))
    found = [r for r in reasons if r is not None]
    return "; ".join(found) if found else None


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
        canary: Optional[Canary] = None,
        take: Callable[..., Fingerprint] = capture.take,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.perf_counter,
        verify_files: bool = False,
    ) -> None:
        """``verify_files`` (``--files``): each read of the target also hashes its installed files against their
        RECORDs (``envcheck.verify``), through a cache kept for the checker's lifetime, so that a re-verify after
        the token moved reads only the files that changed."""
        self.expected = expected
        self.verify_files = verify_files
        self._file_cache: Any = None
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
        self.canary = canary
        """With ``--canary``: replays the golden cases against the model server after a check, when due."""
        self._merged: Optional[Tuple[Report, CanaryOutcome, Report]] = None
        """(report, canary outcome, the two merged): the merged report is the same object while neither changes."""

    @property
    def target_name(self) -> str:
        return self._target.name if self._target is not None else self.target_label

    def check_once(self) -> CheckResult:
        """One check, then the canary when one is due; never raises ``TargetError`` (a lost target is a result)."""
        started, t0 = self._clock(), self._timer()
        last = None if self.canary is None else self.canary.last
        try:
            report, reread = self._check()
        except TargetError as e:
            self._forget()
            lost = f"target lost: {e}"
            return CheckResult(
                None, self.target_name, False, lost, True, started, self._timer() - t0, str(e), canary=last
            )
        ran = False
        if self.canary is not None:
            # a change of the target is a moved token: a target without one is read at every check, and its canary
            # runs on the interval alone
            ran = self.canary.due(changed=reread and self._token is not None)
            last = self.canary.run() if ran else last
            assert last is not None  # the first check that reads the target runs it
            report = self._with_canary(report, last)
        reason = _reason(report, last)
        return CheckResult(
            report,
            self.target_name,
            reason is None,
            reason,
            reread,
            started,
            self._timer() - t0,
            canary=last,
            canary_ran=ran,
        )

    def _with_canary(self, report: Report, outcome: CanaryOutcome) -> Report:
        """The report with the canary's findings: the same object as last time when neither changed (so that the
        state renders it, and the log compares it, once)."""
        if self._merged is not None and self._merged[0] is report and self._merged[1] is outcome:
            return self._merged[2]
        merged = with_canary(report, outcome)
        self._merged = (report, outcome, merged)
        return merged

    def timed_out(
        self, started_at: float, elapsed_s: float, budget_s: float, *, still_running: bool
    ) -> CheckResult:
        """The result of a check abandoned after ``budget_s`` seconds (``elapsed_s`` so far): not ready, no report.

        ``still_running``: the check abandoned earlier has not ended yet (no new one was started)."""
        reason = f"check timed out: no result within {budget_s:g} s"
        if still_running:
            reason += f" (still running after {elapsed_s:.0f} s)"
        error = "check timed out"
        last = None if self.canary is None else self.canary.last
        return CheckResult(
            None, self.target_name, False, reason, False, started_at, elapsed_s, error, True, canary=last
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
        observed = self._verify(target) if self.verify_files else None
        self._report = compare(
            self.expected,
            self.actual,
            self.policy,
            self_checks=True,
            expected_name=self.lock_name,
            actual_name=target.name,
            fail_on=self.fail_on,
            observed=observed,
        )
        if observed is not None and observed.files is not None:
            self._report = dataclasses.replace(self._report, evidence=(observed.files.summary(),))
        self._token = token
        return self._report, True

    def _verify(self, target: Target) -> Observed:
        from envcheck.verify.hashing import HashCache
        from envcheck.verify.run import verify_target

        if self._file_cache is None:
            self._file_cache = HashCache()
        return Observed(files=verify_target(target, cache=self._file_cache))

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


def events(
    previous: Optional[CheckResult],
    known: Optional[Report],
    result: CheckResult,
    *,
    ready: Optional[bool] = None,
) -> List[Dict[str, Any]]:
    """The log records for ``result``: one ``check`` record, then one per change of state.

    ``previous`` is the check before, ``known`` the last report the target gave (drift is counted against it, so
    that a target lost and found again with the same findings logs no drift). ``ready`` is the gate's answer after
    this check (``ready`` in the record; ``passing`` is the check's own verdict); None: the check's verdict.
    A check that timed out logs ``check_timeout`` once, until a check ends again; the next one that reads the
    target logs ``target_found``.
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
            "ready": result.ready if ready is None else ready,
            "passing": result.ready,
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
