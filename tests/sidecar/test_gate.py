"""``--gate startup|always|never``: every gate through every story (the first check passes, fails, passes then
drifts, fails then recovers) on /readyz and on the metrics; what ``startup`` logs when drift comes after ready;
a lost target and a check that timed out under each gate; the option reaching the state; promtool on the
exposition under each gate."""

from __future__ import annotations

import json
import subprocess
from typing import Any, Dict, List, Tuple

import pytest

from envcheck.findings import Report, Severity
from envcheck.sidecar import Gate
from envcheck.sidecar.gate import DRIFT_AFTER_READY, drift_after_ready, drift_key, is_ready
from tests.sidecar.test_app import Sidecar, as_json
from tests.sidecar.test_checker import BASE, FakeTarget, _finding, drifted

GOOD = {"numpy": "1.26.4"}
BAD = {"numpy": "2.0.0"}  # package.version.numpy2: high, at --fail-on high

#: story -> the package states checked, one check each.
STORIES: Dict[str, List[Dict[str, str]]] = {
    "passes": [GOOD],
    "fails": [BAD],
    "passes-then-drifts": [GOOD, BAD],
    "fails-then-recovers": [BAD, GOOD],
}

#: (gate, story) -> readiness before any check, then after each check.
READY: Dict[Tuple[Gate, str], List[bool]] = {
    (Gate.ALWAYS, "passes"): [False, True],
    (Gate.ALWAYS, "fails"): [False, False],
    (Gate.ALWAYS, "passes-then-drifts"): [False, True, False],
    (Gate.ALWAYS, "fails-then-recovers"): [False, False, True],
    (Gate.STARTUP, "passes"): [False, True],
    (Gate.STARTUP, "fails"): [False, False],  # a bad rollout stalls: the new pod never takes traffic
    (Gate.STARTUP, "passes-then-drifts"): [False, True, True],  # stays ready; the drift is reported
    (Gate.STARTUP, "fails-then-recovers"): [False, False, True],
    (Gate.NEVER, "passes"): [True, True],
    (Gate.NEVER, "fails"): [True, True],
    (Gate.NEVER, "passes-then-drifts"): [True, True, True],
    (Gate.NEVER, "fails-then-recovers"): [True, True, True],
}


def _metric(side: Sidecar, name: str) -> float:
    [(labels, value)] = side.metrics()[name]
    assert labels == {}
    return value


@pytest.mark.parametrize("story", list(STORIES))
@pytest.mark.parametrize("gate", list(Gate), ids=[g.value for g in Gate])
def test_every_gate_through_every_story(gate: Gate, story: str) -> None:
    states = STORIES[story]
    target = FakeTarget({**BASE, **states[0]})
    side = Sidecar(target, gate=gate)
    expected = READY[gate, story]
    passing = [False] + [s == GOOD for s in states]  # the drift state, whatever the gate
    for step, packages in enumerate([None, *states]):
        if packages is not None:
            if step > 1:
                drifted(target, **packages)
            side.check()
        status, _, _ = side.get("/readyz")
        body = as_json(side.get("/readyz"))
        ready, ok = expected[step], passing[step]
        assert status == (200 if ready else 503), (step, body)
        assert body["ready"] is ready and body["gate"] == gate.value, (step, body)
        assert body["drift_ok"] is ok, (step, body)
        # reason: why not ready (None when ready); drift_reason: why the last check did not pass
        if ready:
            assert body["reason"] is None, (step, body)
        else:
            assert body["reason"] == body["drift_reason"] is not None, (step, body)
        if ok:
            assert body["drift_reason"] is None
        elif step == 0:
            assert body["drift_reason"] == "no check yet"
        else:
            assert body["drift_reason"] == "1 finding at or above high: package.version.numpy2 numpy"
        assert _metric(side, "envcheck_ready") == float(ready), step
        assert _metric(side, "envcheck_drift_ok") == float(ok), step
        assert side.metrics()["envcheck_gate_info"] == [({"gate": gate.value}, 1.0)]
        numpy_series = [v for lb, v in side.metrics()["envcheck_finding"] if lb["subject"] == "numpy"]
        assert numpy_series == ([] if step == 0 or (ok and step == 1) else [0.0 if ok else 1.0]), step
    # the log's check records carry the gate's answer and the check's own verdict
    checks = [r for r in side.logs if r["event"] == "check"]
    assert [r["ready"] for r in checks] == expected[1:]
    assert [r["passing"] for r in checks] == passing[1:]


@pytest.mark.parametrize("gate", list(Gate), ids=[g.value for g in Gate])
def test_is_ready_is_exhaustive(gate: Gate) -> None:
    answers = {(p, o): is_ready(gate, passing=p, opened=o) for p in (False, True) for o in (False, True)}
    expected = {
        Gate.ALWAYS: {(False, False): False, (False, True): False, (True, False): True, (True, True): True},
        Gate.STARTUP: {(False, False): False, (False, True): True, (True, False): False, (True, True): True},
        Gate.NEVER: dict.fromkeys(answers, True),
    }[gate]
    assert answers == expected


def _events(side: Sidecar, name: str) -> List[Dict[str, Any]]:
    return [r for r in side.logs if r["event"] == name]


def test_startup_logs_drift_after_ready_once_per_change() -> None:
    target = FakeTarget(BASE)
    side = Sidecar(target, gate=Gate.STARTUP)
    side.check()
    assert [r["gate"] for r in _events(side, "gate_opened")] == ["startup"]
    drifted(target, numpy="2.0.0")
    for _ in range(3):  # the same drift, checked three times (re-read once, then the token holds)
        side.check()
    target.token = ("re-read", 1)  # read again, same findings: still no new line
    side.check()
    [first] = _events(side, "drift_after_ready")
    assert first["message"] == DRIFT_AFTER_READY == "drift after ready: staying ready, gate=startup"
    assert first["gate"] == "startup" and first["target"] == "fake:1" and first["count"] == 1
    assert first["findings"] == [{"rule": "package.version.numpy2", "subject": "numpy"}]
    assert "2.0.0" not in json.dumps(side.logs)  # names, never values
    # a lost target and found again with the same drift: not a change
    target.gone = True
    side.check()
    target.gone = False
    side.check()
    assert len(_events(side, "drift_after_ready")) == 1
    # a second failing finding is a change: one more line, naming both
    drifted(target, pandas="3.0.0")  # not in the lockfile: pandas is new, and not failing at high
    drifted(target, torch="3.0.0")  # torch 2 -> 3: a major version, failing at high
    side.check()
    lines = _events(side, "drift_after_ready")
    assert len(lines) == 2 and lines[1]["count"] == 2, lines
    # the drift clears (drift_cleared says so) and comes back: a change again
    drifted(target, numpy="1.26.4", torch="2.3.0")
    side.check()
    assert side.state.view().drift_ok
    drifted(target, numpy="2.0.0")
    side.check()
    assert len(_events(side, "drift_after_ready")) == 3
    assert len(_events(side, "gate_opened")) == 1
    assert side.get("/readyz")[0] == 200  # all along


@pytest.mark.parametrize("gate", [Gate.ALWAYS, Gate.NEVER], ids=["always", "never"])
def test_other_gates_log_no_drift_after_ready(gate: Gate) -> None:
    target = FakeTarget(BASE)
    side = Sidecar(target, gate=gate)
    side.check()
    drifted(target, numpy="2.0.0")
    side.check()
    assert not _events(side, "drift_after_ready") and not _events(side, "gate_opened")
    assert _events(side, "drift_appeared")  # the drift itself is logged under every gate


def test_a_gate_that_opens_on_a_later_check_logs_no_drift_after_ready() -> None:
    target = FakeTarget({**BASE, **BAD})
    side = Sidecar(target, gate=Gate.STARTUP)
    side.check()
    side.check()
    assert not _events(side, "drift_after_ready") and not _events(side, "gate_opened")
    drifted(target, **GOOD)
    side.check()
    assert len(_events(side, "gate_opened")) == 1 and not _events(side, "drift_after_ready")


def test_drift_after_ready_is_pure() -> None:
    numpy = Report(findings=(_finding("package.version.major", "numpy"),), fail_on=None)
    failing = Report(findings=numpy.findings, fail_on=Severity.HIGH)
    clean = Report(fail_on=Severity.HIGH)
    assert drift_key(None) == drift_key(clean) == drift_key(numpy) == frozenset()  # no threshold: nothing fails
    assert drift_key(failing) == {("package.version.major", "numpy")}
    fired = drift_after_ready(Gate.STARTUP, was_open=True, known=clean, report=failing)
    assert fired is not None and fired["count"] == 1
    assert drift_after_ready(Gate.STARTUP, was_open=False, known=clean, report=failing) is None
    assert drift_after_ready(Gate.ALWAYS, was_open=True, known=clean, report=failing) is None
    assert drift_after_ready(Gate.STARTUP, was_open=True, known=failing, report=failing) is None
    assert drift_after_ready(Gate.STARTUP, was_open=True, known=clean, report=None) is None


@pytest.mark.parametrize(
    ("gate", "ready"),
    [(Gate.ALWAYS, False), (Gate.STARTUP, True), (Gate.NEVER, True)],
    ids=["always", "startup", "never"],
)
def test_a_lost_target_and_a_timeout_after_ready(gate: Gate, ready: bool) -> None:
    """Under ``startup`` the gate stays open (the server's own liveness and EnvcheckTargetLost cover a server
    that is gone); /report still says the check timed out, whatever the gate."""
    target = FakeTarget(BASE)
    side = Sidecar(target, gate=gate)
    side.check()
    target.gone = True
    side.check()
    body = as_json(side.get("/readyz"))
    assert body["ready"] is ready and body["drift_ok"] is False
    assert body["drift_reason"].startswith("target lost")
    assert _metric(side, "envcheck_target_up") == 0.0 and _metric(side, "envcheck_ready") == float(ready)
    side.logs += side.state.record(side.checker.timed_out(1_800_000_000.0, 60.5, 60.0, still_running=False))
    body = as_json(side.get("/readyz"))
    assert body["ready"] is ready and body["drift_reason"] == "check timed out: no result within 60 s"
    assert as_json(side.get("/report")) == {"reason": "check timed out: no result within 60 s"}


def test_never_is_ready_before_the_first_check_and_while_the_target_was_never_found() -> None:
    target = FakeTarget(BASE)
    target.gone = True
    side = Sidecar(target, gate=Gate.NEVER)
    assert side.get("/readyz")[0] == 200
    side.check()
    body = as_json(side.get("/readyz"))
    assert side.get("/readyz")[0] == 200 and body["reason"] is None and body["drift_ok"] is False
    assert side.get("/report")[0] == 503  # no report yet


def test_the_cli_choices_are_the_gates() -> None:
    from envcheck.cli import sidecar

    [option] = [p for p in sidecar.params if p.name == "gate"]
    assert list(option.type.choices) == [g.value for g in Gate]  # type: ignore[attr-defined]
    assert option.default == Gate.STARTUP.value


@pytest.mark.promtool
@pytest.mark.parametrize("gate", list(Gate), ids=[g.value for g in Gate])
def test_the_exposition_lints_clean_under_each_gate(gate: Gate) -> None:
    from tests.conftest import require_promtool

    promtool = require_promtool()
    target = FakeTarget(BASE)
    side = Sidecar(target, gate=gate)
    texts = [side.get("/metrics")[2]]
    side.check()
    drifted(target, numpy="2.0.0")
    side.check()
    texts.append(side.get("/metrics")[2])
    for text in texts:
        done = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, timeout=60, check=False
        )
        out = (done.stdout + done.stderr).decode()
        assert done.returncode == 0 and not out.strip(), out
