"""The sidecar's checker and state: change tokens, readiness, lost targets, log records, metric series bounds.

The fakes here (``FakeTarget``, ``Clock``, ``drifted``) are shared with test_app.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Hashable, Iterator, List, Optional, Sequence

import pytest

from envcheck import capture
from envcheck.findings import Finding, Report, Severity
from envcheck.model import Fingerprint
from envcheck.sidecar.checker import Checker, CheckResult, drift_reason, events, timestamp
from envcheck.sidecar.state import CLEARED_KEEP_S, MAX_SERIES, State, finding_series
from envcheck.targets.interface import Target, TargetError, folders_token, site_folders
from envcheck.targets.pid import PidTarget, ancestors, parse_mapped_libraries, parse_parent, parse_start_time

BASE = {"numpy": "1.26.4", "torch": "2.3.0", "requests": "2.32.3"}
OK = {"status": "ok", "detail": ""}


class FakeTarget(Target):
    """A target whose packages, token and presence the test sets; counts its probes."""

    kind = "fake"
    shows_hardware = False

    def __init__(self, packages: Dict[str, str], *, token: Optional[Hashable] = 1, name: str = "fake:1") -> None:
        self.packages = dict(packages)
        self.token = token
        self.gone = False
        self.probes = 0
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def probe(self, extra_env: Sequence[str] = ()) -> Dict[str, Any]:
        if self.gone:
            raise TargetError(f"--pid {self._name}: no such process (it has exited?)")
        self.probes += 1
        return {
            "sources": {k: OK for k in ("os", "python", "packages", "native", "env")},
            "os": {"system": "Linux", "machine": "x86_64"},
            "python": {"implementation": "CPython", "version": "3.11.7"},
            "packages": [{"name": n, "version": v} for n, v in sorted(self.packages.items())],
            "native": {},
            "env": {"variables": {"OMP_NUM_THREADS": "4"}, "redacted": []},
        }

    def change_token(self) -> Optional[Hashable]:
        return None if self.gone else self.token


class Clock:
    """A clock the test moves."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def expected_fp(packages: Dict[str, str] = BASE) -> Fingerprint:
    return capture.take(FakeTarget(packages))


def make_checker(target: Target, *, fail_on: Optional[Severity] = Severity.HIGH, **kw: Any) -> Checker:
    return Checker(expected_fp(), lambda: target, fail_on=fail_on, lock_name="model.lock", **kw)


def drifted(target: FakeTarget, **packages: str) -> None:
    """Change the target's packages and its token, as an install would."""
    target.packages.update(packages)
    target.token = (target.token, "changed")


# --- change tokens ----------------------------------------------------------------------------------------------


def test_steady_state_reuses_the_last_read_until_the_token_changes() -> None:
    target = FakeTarget(BASE)
    checker = make_checker(target)
    results = [checker.check_once() for _ in range(5)]
    assert [r.reread for r in results] == [True, False, False, False, False]
    assert target.probes == checker.reads == 1
    assert all(r.report is results[0].report for r in results)  # the same report, not even compared again
    drifted(target, requests="2.32.4")
    assert checker.check_once().reread
    assert checker.check_once().reread is False
    assert target.probes == 2


def test_no_token_means_read_every_time() -> None:
    target = FakeTarget(BASE, token=None)
    checker = make_checker(target)
    assert [checker.check_once().reread for _ in range(3)] == [True, True, True]
    assert target.probes == 3


def test_a_token_is_trusted_only_when_taken_before_the_read() -> None:
    """A target with no token before its first probe (PidTarget) is read twice, then reused."""

    class LateToken(FakeTarget):
        def change_token(self) -> Optional[Hashable]:
            return None if self.probes == 0 else self.token

    target = LateToken(BASE)
    checker = make_checker(target)
    assert [checker.check_once().reread for _ in range(4)] == [True, True, False, False]


# --- readiness --------------------------------------------------------------------------------------------------


def test_readiness_follows_drift_and_its_repair() -> None:
    target = FakeTarget(BASE)
    checker = make_checker(target)
    first = checker.check_once()
    assert first.ready and first.reason is None and first.highest is None
    drifted(target, numpy="2.0.0", torch="2.3.1")
    bad = checker.check_once()
    assert not bad.ready
    assert bad.reason == "1 finding at or above high: package.version.numpy2 numpy"  # 1.x -> 2.x
    assert bad.highest == "high" and [f.id for f in bad.failing] == ["package.version.numpy2"]
    drifted(target, numpy="1.26.4")
    low = checker.check_once()
    assert low.ready and low.highest == "low"  # the torch patch change is below the threshold
    drifted(target, torch="2.3.0")
    assert checker.check_once().report == Report(
        findings=(),
        skipped=first.report.skipped if first.report else {},
        expected_name="model.lock",
        actual_name="fake:1",
        fail_on=Severity.HIGH,
    )


@pytest.mark.parametrize(
    ("fail_on", "ready"),
    [(Severity.LOW, False), (Severity.HIGH, False), (Severity.CRITICAL, True), (None, True)],
    ids=["low", "high", "critical", "never"],
)
def test_threshold(fail_on: Optional[Severity], ready: bool) -> None:
    target = FakeTarget({**BASE, "numpy": "2.0.0"})
    assert make_checker(target, fail_on=fail_on).check_once().ready is ready


def test_drift_reason_names_a_few_and_counts_the_rest() -> None:
    target = FakeTarget({f"pkg{i}": "2.0" for i in range(8)})
    checker = Checker(expected_fp({f"pkg{i}": "1.0" for i in range(8)}), lambda: target, lock_name="l")
    reason = checker.check_once().reason
    assert reason is not None
    assert reason.startswith("8 findings at or above high: package.version.major pkg0, ")
    assert reason.endswith(" and 3 more")
    assert drift_reason(Report()) is None


# --- lost targets -----------------------------------------------------------------------------------------------


def test_a_lost_target_is_a_result_and_is_looked_for_again() -> None:
    targets: List[FakeTarget] = [FakeTarget(BASE, name="pid:10")]
    checker = Checker(expected_fp(), lambda: targets[-1], lock_name="l", target_label="process-match:srv")
    assert checker.check_once().ready
    targets[-1].gone = True
    lost = checker.check_once()
    assert lost.lost and not lost.ready and lost.report is None
    assert lost.reason is not None and lost.reason.startswith("target lost: --pid pid:10: no such process")
    assert lost.target == "process-match:srv"  # no target now: what the options asked for

    def nothing() -> Target:
        raise TargetError("--process-match 'srv': no running process matches")

    checker_none = Checker(expected_fp(), nothing, lock_name="l", target_label="process-match:srv")
    assert checker_none.check_once().reason == "target lost: --process-match 'srv': no running process matches"

    targets.append(FakeTarget(BASE, name="pid:20"))  # the server restarted under a new PID
    back = checker.check_once()
    assert back.ready and back.target == "pid:20" and back.reread


def test_a_restart_between_two_checks_is_followed_in_one_check() -> None:
    old, new = FakeTarget(BASE, name="pid:10"), FakeTarget(BASE, name="pid:20")
    current = [old]
    checker = Checker(expected_fp(), lambda: current[0], lock_name="l")
    checker.check_once()
    old.gone, current[0] = True, new
    result = checker.check_once()
    assert result.ready and result.target == "pid:20"


# --- log records ------------------------------------------------------------------------------------------------


def _result(report: Optional[Report], target: str = "pid:1", **kw: Any) -> CheckResult:
    reason = "target lost: gone" if report is None else drift_reason(report)
    base: Dict[str, Any] = dict(ready=reason is None, reason=reason, reread=True, started_at=1.0, duration_s=0.002)
    base.update(kw)
    return CheckResult(report, target, **base)


def _finding(rule: str, subject: str, probability: int = 4, impact: int = 4) -> Finding:
    return Finding(rule, "packages", subject, "was-1.0", "now-2.0", ("prediction",), probability, impact, "m", "r")


def test_events_say_what_changed_and_no_values() -> None:
    drift = Report(findings=(_finding("package.version.major", "numpy"),))
    first = events(None, None, _result(drift))
    assert [e["event"] for e in first] == ["check", "target_found", "drift_appeared"]
    check = first[0]
    assert set(check) == {
        "ts",
        "event",
        "target",
        "findings",
        "total",
        "highest",
        "ready",
        "passing",
        "reason",
        "duration_ms",
        "reread",
    }
    assert check["findings"] == 1 and check["highest"] == "high" and check["ready"] is False
    assert first[2]["findings"] == [{"rule": "package.version.major", "subject": "numpy", "severity": "high"}]
    assert "was-1.0" not in json.dumps(first) and "now-2.0" not in json.dumps(first)

    steady = events(_result(drift), drift, _result(drift))
    assert [e["event"] for e in steady] == ["check"]
    cleared = events(_result(drift), drift, _result(Report()))
    assert [e["event"] for e in cleared] == ["check", "drift_cleared"]

    lost = events(_result(drift), drift, _result(None))
    assert [e["event"] for e in lost] == ["check", "target_lost"]
    slow = _result(None, timed_out=True, reason="check timed out: no result within 60 s")
    assert [e["event"] for e in events(_result(drift), drift, slow)] == ["check", "check_timeout"]
    assert [e["event"] for e in events(slow, drift, slow)] == ["check"]  # once, however long it hangs
    assert [e["event"] for e in events(slow, drift, _result(drift))] == ["check", "target_found"]
    assert [e["event"] for e in events(_result(None), drift, slow)] == ["check", "check_timeout"]
    assert [e["event"] for e in events(_result(None), drift, _result(None))] == ["check"]
    # found again with the same findings: no drift to report, only the target
    assert [e["event"] for e in events(_result(None), drift, _result(drift))] == ["check", "target_found"]
    moved = events(_result(drift), drift, _result(drift, target="pid:2"))
    assert [e["event"] for e in moved] == ["check", "target_found"]


def test_timestamp() -> None:
    assert timestamp(1_800_000_000.25) == "2027-01-15T08:00:00.250Z"


# --- state and metric series ------------------------------------------------------------------------------------


def test_state_counts_and_renders_each_report_once(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    state = State("model.lock", "sha256:abc", clock=clock)
    view = state.view()
    assert view.last is None and view.reason == "no check yet" and not view.ready and view.alive
    renders: List[Report] = []
    from envcheck.report.json import JsonReporter

    original = JsonReporter.render

    def counting(self: JsonReporter, report: Report) -> str:
        renders.append(report)
        return original(self, report)

    monkeypatch.setattr(JsonReporter, "render", counting)
    report = Report(findings=(_finding("package.version.major", "numpy"),))
    for _ in range(3):
        state.record(_result(report))
    state.record(_result(None))
    state.record(_result(None, timed_out=True, reason="check timed out"))
    view = state.view()
    # a check that timed out has not ended: counted as an error and a timeout, not as a check
    assert (view.checks_total, view.errors_total, view.timeouts_total, len(renders)) == (4, 2, 1, 1)
    assert view.last is not None and view.last.timed_out
    assert view.ended is not None and view.ended.lost
    assert view.report is report and view.report_json is not None  # kept while the target is lost
    assert view.reason == "check timed out" and not view.target_up
    clock.now += state.stall_after + 1
    assert not state.view().alive
    state.beat()
    assert state.view().alive
    state.stop()
    assert not state.view().alive


def test_cleared_series_go_to_zero_then_away() -> None:
    numpy, torch = _finding("package.version.major", "numpy"), _finding("package.version.minor", "torch", 3, 3)
    series = finding_series({}, Report(findings=(numpy, torch)), now=0.0)
    assert list(series.values()) == [None, None]
    series = finding_series(series, Report(findings=(numpy,)), now=10.0)
    assert series[("package.version.minor", "packages", "torch", "medium")] == 10.0
    series = finding_series(series, Report(findings=(numpy,)), now=10.0 + CLEARED_KEEP_S - 1)
    assert len(series) == 2
    series = finding_series(series, Report(findings=(numpy,)), now=10.0 + CLEARED_KEEP_S)
    assert list(series) == [("package.version.major", "packages", "numpy", "high")]


def test_series_are_bounded_most_severe_first() -> None:
    many = tuple(_finding("package.version.minor", f"p{i:03d}", 2, 2) for i in range(MAX_SERIES + 50))
    worst = _finding("package.missing", "torch", 5, 5)
    series = finding_series({}, Report(findings=(*many, worst)), now=0.0)
    assert len(series) == MAX_SERIES
    assert next(iter(series)) == ("package.missing", "packages", "torch", "critical")
    # cleared ones only fill what current findings leave
    later = finding_series(series, Report(findings=many[:MAX_SERIES]), now=1.0)
    assert len(later) == MAX_SERIES and all(v is None for v in later.values())


# --- change tokens of real targets ------------------------------------------------------------------------------


def test_folders_token_sees_installs_and_edits(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    meta = site / "demo-1.0.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Name: demo\nVersion: 1.0\n")
    folders = [str(site), str(tmp_path / "missing")]
    token = folders_token(folders)
    assert folders_token(folders) == token

    def moved(path: Path, ns: int) -> Hashable:
        os.utime(path, ns=(ns, ns))
        return folders_token(folders)

    site_ns = os.stat(site).st_mtime_ns
    t1 = moved(meta / "METADATA", 1_000_000_000)  # edited in place: only the file's mtime moves
    assert t1 != token
    os.utime(site, ns=(site_ns, site_ns))
    t2 = moved(meta, 2_000_000_000)  # a file renamed in the dist-info folder (sed -i)
    assert t2 != t1
    (tmp_path / "missing").mkdir()
    assert folders_token(folders) != t2


def test_site_folders() -> None:
    got = site_folders(["/venv", "/usr/local", "/venv", ""], "3.12", ["/app", ""])
    assert got == [
        "/venv/lib/python3.12/site-packages",
        "/venv/lib/python3.12/dist-packages",
        "/usr/local/lib/python3.12/site-packages",
        "/usr/local/lib/python3.12/dist-packages",
        "/usr/lib/python3/dist-packages",
        "/app",
    ]


def test_proc_parsers() -> None:
    stat = b"4242 (my (odd) name) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 100000 2000\n"
    assert parse_start_time(stat) == 987654
    assert parse_parent(stat) == 17
    maps = (
        b"55d0 r--p 00000000 08:01 1 /usr/bin/python3.11\n"
        b"7f00 r-xp 00000000 08:01 2 /venv/lib/python3.11/site-packages/numpy.libs/libopenblas64_p-r0.3.so\n"
        b"7f01 r-xp 00000000 08:01 3 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
        b"7f02 r-xp 00000000 08:01 3 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
        b"7f03 rw-s 00000000 00:1a 9 /dev/shm/torch_123_456\n"
        b"7f04 rw-s 00000000 00:01 9 /memfd:cuda-ipc.so (deleted)\n"
        b"7f05 r-xp 00000000 08:01 4 /opt/lib/libcudnn.so.9 (deleted)\n"
        b"7ffc rw-p 00000000 00:00 0 [stack]\n"
    )
    assert parse_mapped_libraries(maps) == {
        b"/venv/lib/python3.11/site-packages/numpy.libs/libopenblas64_p-r0.3.so",
        b"/usr/lib/x86_64-linux-gnu/libc.so.6",
        b"/opt/lib/libcudnn.so.9 (deleted)",
    }


def test_ancestors_walk_a_fake_proc_tree(tmp_path: Path) -> None:
    for pid, ppid in ((30, 20), (20, 1), (1, 0)):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_bytes(f"{pid} (x y) S {ppid} 0 0 0\n".encode())
    assert ancestors(30, str(tmp_path)) == [30, 20, 1]
    assert ancestors(99, str(tmp_path)) == [99]


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A Python process whose PYTHONPATH folder (tmp_path/extra) the test can install into; yielded once it has
    started (it says so on stdout)."""
    extra = tmp_path / "extra"
    extra.mkdir()
    env = {**os.environ, "PYTHONPATH": str(extra)}
    code = "import sys, time; print('ready', flush=True); time.sleep(600)"
    with subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE) as proc:
        try:
            assert proc.stdout is not None
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            assert ready and proc.stdout.readline() == b"ready\n", "the process did not start within 60 s"
            yield proc
        finally:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_pid_token_moves_with_an_install_and_with_the_process(
    sleeper: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    target = PidTarget(sleeper.pid)
    assert target.change_token() is None  # no site folders known before a probe
    target.probe()
    token = target.change_token()
    assert token is not None and target.change_token() == token
    (tmp_path / "extra" / "late-1.0.dist-info").mkdir()
    assert target.change_token() != token
    sleeper.kill()
    sleeper.wait()
    assert target.change_token() is None


def test_local_target_token_is_stable() -> None:
    from envcheck.targets.local import LocalTarget

    target = LocalTarget()
    assert target.change_token() is not None and target.change_token() == target.change_token()


def test_check_result_is_frozen() -> None:
    result = _result(Report())
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.ready = False  # type: ignore[misc]
