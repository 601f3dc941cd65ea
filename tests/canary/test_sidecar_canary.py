"""``envcheck sidecar --canary``: when the canary runs, what its outcome does to the check, readiness under each
gate, the ``envcheck_canary_*`` metrics and log records that never hold golden data; against real HTTP servers on
loopback ports (``ScriptedServer``), and the command itself end to end."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

import pytest
from prometheus_client.exposition import generate_latest

from envcheck import api, lockfile
from envcheck.canary import parse_endpoint, protocol_for
from envcheck.findings import Severity
from envcheck.golden import record
from envcheck.sidecar.canary import Canary, CanaryOutcome
from envcheck.sidecar.gate import Gate
from envcheck.sidecar.metrics import make_registry
from envcheck.sidecar.state import State
from tests.canary.conftest import Answer, Handler, ScriptedServer, by_case
from tests.sidecar.test_checker import BASE, Clock, FakeTarget, make_checker

Serve = Callable[[Answer], ScriptedServer]
#: A recorded output no log line may ever show.
PLANTED = 0.123456789
LABELS = ("planted-label-one", "planted-label-two")


@pytest.fixture
def planted_lock(tmp_path: Path) -> Path:
    """A lockfile binding one golden case whose recorded output is ``PLANTED``, and a second one."""
    lock = tmp_path / "envcheck.lock"
    record("rows", {"dataframe_split": {"columns": ["a"], "data": [[1.0]]}}, [PLANTED], 1e-9, lock=lock)
    record("labels", [[1.0], [2.0]], list(LABELS), lock=lock)
    api.snapshot(lock, golden=True, loaded=False)
    return lock


def answering(rows: Any, labels: Any = LABELS) -> Answer:
    return by_case(rows, list(labels))


def make_canary(lock: Path, url: str, clock: Clock, interval: float = 300.0) -> Canary:
    expected = lockfile.read(lock)
    return Canary(
        api.golden_of(lock, expected),
        parse_endpoint(url),
        protocol_for("mlflow"),
        interval=interval,
        timeout=2.0,
        clock=clock,
    )


def test_a_canary_runs_first_after_a_change_while_lost_and_every_interval(
    serve: Serve, planted_lock: Path
) -> None:
    server = serve(answering([PLANTED]))
    clock = Clock()
    canary = make_canary(planted_lock, server.url, clock, interval=60)
    assert canary.due(changed=False)  # never run
    first = canary.run()
    assert first.ok and first.cases == 2 and first.passed == 2 and len(server.requests) == 2
    assert not canary.due(changed=False)
    assert canary.due(changed=True)  # the target changed: run again
    clock.now += 59
    assert not canary.due(changed=False)
    clock.now += 1
    assert canary.due(changed=False)
    canary.endpoint = parse_endpoint("http://127.0.0.1:9")  # nothing listens there
    lost = canary.run()
    assert lost.lost and not lost.ok and "cannot reach" in lost.error
    assert canary.due(changed=False)  # while the server cannot be asked, at every check


def test_a_check_with_a_canary_passes_fails_and_says_why(serve: Serve, planted_lock: Path) -> None:
    answers: List[Answer] = [answering([PLANTED])]
    server = serve(lambda h: answers[-1](h))
    clock = Clock()
    target = FakeTarget(BASE)
    checker = make_checker(target, canary=make_canary(planted_lock, server.url, clock), clock=clock)

    good = checker.check_once()
    assert good.ready and good.canary_ran and good.canary is not None and good.canary.ok
    assert good.report is not None and good.report.findings == ()
    assert any(line.startswith("canary: 2 golden cases sent to") for line in good.report.evidence)

    # nothing changed, the interval has not passed: the canary does not run, the verdict stands
    answers.append(answering([PLANTED + 1.0]))
    same = checker.check_once()
    assert same.ready and not same.canary_ran and same.report is good.report

    # the target changed (a restart): the canary runs and sees the answer change
    target.token = 2
    bad = checker.check_once()
    assert bad.canary_ran and not bad.ready and bad.report is not None
    (finding,) = bad.report.findings
    assert (finding.id, finding.subject) == ("canary.failed", "rows")
    assert bad.reason is not None and "canary.failed rows" in bad.reason

    # the model server goes away: "model server lost", never "predictions changed"
    server.shutdown()
    server.server_close()
    target.token = 3
    lost = checker.check_once()
    assert not lost.ready and lost.canary is not None and lost.canary.lost
    assert lost.reason is not None and lost.reason.startswith("canary: model server lost:")
    assert lost.report is not None and [f.id for f in lost.report.findings] == []


def test_a_differing_answer_below_fail_on_still_fails_the_check_unless_never(
    serve: Serve, planted_lock: Path
) -> None:
    server = serve(answering([PLANTED * (1 + 1e-5)]))  # beyond the tolerance, within 1e-3: high
    for fail_on, ready in ((Severity.CRITICAL, False), (None, True)):
        canary = make_canary(planted_lock, server.url, Clock())
        result = make_checker(FakeTarget(BASE), canary=canary, fail_on=fail_on).check_once()
        assert result.ready is ready, result.reason
        if not ready:
            assert result.reason is not None and "1 of 2 golden cases answered otherwise" in result.reason


def _metrics(state: State) -> Dict[str, float]:
    out = {}
    for line in generate_latest(make_registry(state)).decode().splitlines():
        if line.startswith("envcheck_canary"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_state_gates_on_the_canary_exports_it_and_never_logs_golden_data(serve: Serve, planted_lock: Path) -> None:
    answers: List[Answer] = []

    def answer(h: Handler) -> None:
        if not answers:
            h.send_json({"error": "model not loaded yet"}, status=503)
        else:
            answers[-1](h)

    server = serve(answer)
    clock = Clock()
    target = FakeTarget(BASE)
    checker = make_checker(target, canary=make_canary(planted_lock, server.url, clock, interval=30), clock=clock)
    state = State("model.lock", "sha256:x", gate=Gate.STARTUP, canary=True, clock=clock)
    logs: List[Dict[str, Any]] = []

    def check() -> None:
        logs.extend(state.record(checker.check_once()))

    before = _metrics(state)
    assert before["envcheck_canary_ok"] == 0 and before["envcheck_canary_runs_total"] == 0
    assert before["envcheck_canary_max_abs_error"] != before["envcheck_canary_max_abs_error"]  # NaN

    check()  # the model server is starting: not ready under startup
    view = state.view()
    assert not view.ready and view.reason is not None and "HTTP 503" in view.reason
    answers.append(answering([PLANTED + 0.5]))
    check()  # it answers, otherwise than recorded: still not ready
    assert not state.view().ready
    assert _metrics(state)["envcheck_canary_max_abs_error"] == pytest.approx(0.5)
    answers.append(answering([PLANTED]))
    check()  # while the last run failed... it is not due until the interval or a change
    assert not state.view().ready
    clock.now += 30
    check()
    view = state.view()
    assert view.ready and view.canary is not None and view.canary.ok
    metrics = _metrics(state)
    assert metrics["envcheck_canary_ok"] == 1 and metrics["envcheck_canary_runs_total"] == 3
    assert metrics["envcheck_canary_max_abs_error"] == 0

    # once ready under startup, a canary that fails later is reported, not gated
    answers.append(answering([PLANTED + 2.0]))
    clock.now += 30
    check()
    view = state.view()
    assert view.ready and not view.drift_ok and _metrics(state)["envcheck_canary_ok"] == 0
    assert any(r["event"] == "drift_after_ready" for r in logs)

    canary_records = [r for r in logs if r["event"] == "canary"]
    assert [r["ok"] for r in canary_records] == [False, False, True, False]
    assert canary_records[0]["lost"] and canary_records[1]["failed_cases"] == ["rows"]
    text = json.dumps(logs)
    for planted in (str(PLANTED), str(PLANTED + 2.0), *LABELS):
        assert planted not in text


def test_metrics_leave_out_the_canary_when_none_is_configured() -> None:
    state = State("model.lock", "sha256:x")
    assert _metrics(state) == {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> Tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        body = e.read().decode()
        e.close()
        return e.code, body


@pytest.fixture
def sidecar_process() -> Iterator[Callable[..., Tuple[subprocess.Popen[str], str]]]:
    started: List[subprocess.Popen[str]] = []

    def start(*args: str) -> Tuple[subprocess.Popen[str], str]:
        port = free_port()
        command = [sys.executable, "-m", "envcheck", "sidecar", *args, "--listen", f"127.0.0.1:{port}"]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started.append(process)
        return process, f"http://127.0.0.1:{port}"

    yield start
    for process in started:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
        process.communicate(timeout=20)


def _wait_for(url: str, code: int, within: float = 30.0) -> str:
    deadline = time.monotonic() + within
    last: Tuple[int, str] = (0, "")
    while time.monotonic() < deadline:
        try:
            last = _get(url)
        except OSError:
            time.sleep(0.1)
            continue
        if last[0] == code:
            return last[1]
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer {code} within {within} s: {last}")


def test_the_sidecar_command_gates_readiness_on_the_canary(
    serve: Serve, planted_lock: Path, sidecar_process: Callable[..., Tuple[subprocess.Popen[str], str]]
) -> None:
    answers: List[Answer] = [answering([PLANTED])]
    server = serve(lambda h: answers[-1](h))
    process, url = sidecar_process(
        str(planted_lock), "--canary", server.url, "--gate", "always", "--interval", "0.2",
        "--canary-interval", "0.5",
    )  # fmt: skip
    body = json.loads(_wait_for(f"{url}/readyz", 200))
    assert body["ready"] is True
    metrics = _wait_for(f"{url}/metrics", 200)
    assert "envcheck_canary_ok 1.0" in metrics and "envcheck_canary_runs_total" in metrics
    report = json.loads(_wait_for(f"{url}/report", 200))
    assert any(line.startswith("canary: 2 golden cases") for line in report["evidence"])

    answers.append(
        answering([PLANTED], [LABELS[0], "planted-label-other"])
    )  # the served model now answers otherwise
    body = json.loads(_wait_for(f"{url}/readyz", 503))
    assert "canary.failed labels" in body["reason"]
    report = json.loads(_wait_for(f"{url}/report", 200))
    assert [f["id"] for f in report["findings"]] == ["canary.failed"]

    os.kill(process.pid, signal.SIGTERM)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 0
    assert '"event":"canary"' in err and "planted-label" not in err and str(PLANTED) not in err


def test_the_sidecar_command_refuses_a_lockfile_without_golden_cases(tmp_path: Path) -> None:
    lock = tmp_path / "envcheck.lock"
    api.snapshot(lock, loaded=False)
    done = subprocess.run(
        [sys.executable, "-m", "envcheck", "sidecar", str(lock), "--canary", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "binds no golden cases" in done.stderr and "Traceback" not in done.stderr


def test_an_outcome_reason_names_at_most_five_cases() -> None:
    from envcheck.canary.run import CanaryRun
    from envcheck.golden.compare import CaseResult

    results = tuple(CaseResult(f"case{i}", compared=1, mismatches=1) for i in range(7))
    outcome = CanaryOutcome(0.0, 0.1, "http://model", CanaryRun(results, "http://model", "mlflow", 0.1))
    reason = outcome.reason(Severity.HIGH)
    assert reason is not None and "case4" in reason and "case5" not in reason and "and 2 more" in reason


@pytest.mark.promtool
def test_the_canary_metrics_lint_clean(serve: Serve, planted_lock: Path) -> None:
    from tests.conftest import require_promtool

    promtool = require_promtool()
    server = serve(answering([PLANTED + 1.0]))
    clock = Clock()
    checker = make_checker(FakeTarget(BASE), canary=make_canary(planted_lock, server.url, clock), clock=clock)
    state = State("model.lock", "sha256:x", canary=True, clock=clock)
    texts = [generate_latest(make_registry(state))]
    state.record(checker.check_once())
    texts.append(generate_latest(make_registry(state)))
    for text in texts:
        done = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, timeout=60, check=False
        )
        out = (done.stdout + done.stderr).decode()
        assert done.returncode == 0 and not out.strip(), out
