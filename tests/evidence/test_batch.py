"""The parent side of the protocol, pure: events, output segments, deaths, cleaning; and the driver's edge cases
with a runner that answers as a broken child would."""

from __future__ import annotations

import json
from typing import Callable, Sequence

import pytest

from envcheck.evidence import ChildRun, Network, Outcome, RunnerError
from envcheck.evidence.batch import attempt_from_event, death, output_lines, parse_events, run_items, split_output

TOKEN = "ghp_" + "A1" * 18


def _run(
    returncode: int = 0, stdout: str = "", stderr: str = "", timed_out: bool = False, cut: bool = False
) -> ChildRun:
    return ChildRun(returncode, stdout, stderr, timed_out, cut, Network.NAMESPACE, 1 << 30)


def test_parse_events_keeps_events_and_drops_the_rest() -> None:
    stdout = "\n".join(
        [
            json.dumps({"ev": "hello", "python": "3.11.7"}),
            json.dumps({"ev": "start", "i": 0}),
            "garbage",
            json.dumps([1, 2]),
            json.dumps({"ev": "done", "i": 0, "status": "ok"}),
            json.dumps({"ev": "start", "i": "1"}),  # not an index
            json.dumps({"ev": "start", "i": 1}),
            '{"ev": "done", "i": 1, "sta',  # cut where the child died
        ]
    )
    transcript = parse_events(stdout)
    assert transcript.hello == {"ev": "hello", "python": "3.11.7"}
    assert transcript.started == (0, 1)
    assert list(transcript.done) == [0]


def test_split_output_by_markers() -> None:
    nonce = "envcheck-abc"
    stderr = f"site noise\n{nonce} 0\nfirst\nsecond\n{nonce} -\n\n{nonce} 1\npartial crash report"
    assert split_output(stderr, nonce) == {0: "first\nsecond", 1: "partial crash report"}
    assert split_output(f"{nonce} 0\n", nonce) == {0: ""}
    assert split_output("no markers at all", nonce) == {}


@pytest.mark.parametrize(
    ("run", "outcome", "phrase"),
    [
        (_run(-9, timed_out=True), Outcome.TIMEOUT, "no answer within 2.5 s"),
        (_run(-9, cut=True), Outcome.OUTPUT_LIMIT, "printed more than 100 bytes; stopped there"),
        (_run(-11), Outcome.CRASHED, "the interpreter crashed (signal 11, SIGSEGV)"),
        (_run(-6), Outcome.CRASHED, "the interpreter crashed (signal 6, SIGABRT)"),
        (_run(-200), Outcome.CRASHED, "the interpreter crashed (signal 200)"),
        (_run(0), Outcome.CRASHED, "the interpreter exited with status 0"),
        (_run(120), Outcome.CRASHED, "the interpreter exited with status 120"),
    ],
    ids=["timeout", "output", "segv", "abort", "unknown-signal", "exit-0", "exit-120"],
)
def test_death(run: ChildRun, outcome: Outcome, phrase: str) -> None:
    assert death(run, 2.5, 100) == (outcome, phrase)


def test_attempt_from_event_cleans_everything() -> None:
    event = {
        "status": "error",
        "type": "RuntimeError",
        "message": f"token={TOKEN} \x1b[2J",
        "ms": True,  # not a number
        "warnings": [f"UserWarning: {TOKEN}"] * 9,
        "version": "1.0\n::error::forged",
        "location": None,
    }
    attempt = attempt_from_event(event, f"line one\n\n{TOKEN}\n" + "z" * 5000)
    assert attempt.outcome is Outcome.ERROR
    assert attempt.error == "RuntimeError: token=<redacted> \\x1b[2J"
    assert attempt.elapsed_ms is None
    assert attempt.warnings == ("UserWarning: <redacted>",)  # distinct ones only
    assert attempt.details == {"version": "1.0\\n::error::forged"}
    assert attempt.output == ("line one", "<redacted>", "z" * 2000)


def test_output_lines_keeps_the_last_lines() -> None:
    text = "\n".join(f"line {i}" for i in range(100))
    assert output_lines(text) == tuple(f"line {i}" for i in range(70, 100))


def test_ok_and_skipped_events() -> None:
    ok = attempt_from_event({"status": "ok", "ms": 12.5, "version": "2.0", "loaded_type": "x.Y"}, "")
    assert (ok.outcome, ok.error, ok.elapsed_ms, ok.details) == (
        Outcome.OK,
        None,
        12.5,
        {"version": "2.0", "loaded_type": "x.Y"},
    )
    skipped = attempt_from_event({"status": "skipped", "message": "no loader"}, "")
    assert (skipped.outcome, skipped.error) == (Outcome.SKIPPED, "no loader")


class _Scripted:
    """A runner whose child answers as ``answer(items, nonce)`` says."""

    def __init__(self, answer: Callable[[list[str], str], ChildRun]) -> None:
        self.answer = answer
        self.calls = 0

    def run(self, source: str, args: Sequence[str], timeout: float, max_output: int) -> ChildRun:
        self.calls += 1
        job = json.loads(args[0])
        return self.answer(job["items"], job["nonce"])


def test_a_child_that_never_starts_is_a_runner_error() -> None:
    runner = _Scripted(lambda items, nonce: _run(1, stderr=f"Fatal Python error: init failed {TOKEN}\n"))
    with pytest.raises(RunnerError) as caught:
        run_items(runner, "import", ["a"], doing=str, timeout=1, max_output=100)
    assert str(caught.value) == (
        "the candidate's interpreter did not start the check (the interpreter exited with status 1): "
        "Fatal Python error: init failed <redacted>"
    )


def test_a_child_that_says_hello_and_nothing_else_does_not_loop() -> None:
    runner = _Scripted(lambda items, nonce: _run(0, stdout=json.dumps({"ev": "hello"}) + "\n"))
    attempts, session = run_items(
        runner, "import", ["a", "b"], doing=lambda m: f"importing {m}", timeout=1, max_output=100
    )
    assert runner.calls == 1 and session.runs == 1
    assert [a.error for a in attempts] == [
        "the interpreter exited with status 0 before importing a",
        "the interpreter exited with status 0 before importing b",
    ]
