"""Runs the items of a check (modules, model files) through children of the candidate's interpreter, and turns what
each child said, printed and died of into one ``Attempt`` per item.

One child takes all the items, one after the other; when it dies at one (a crash, the time, the output bound),
that item is charged with it and a new child takes the items after it, so one bad item never loses the others'
results. Everything a child says is scrubbed of credentials (``envcheck.probe.scrub_value``) and made printable
(``envcheck.report.escape.printable``) here, before it reaches a result.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from envcheck.evidence.interface import ChildRun, Network, Outcome, Runner, RunnerError
from envcheck.probe import scrub_value
from envcheck.report.escape import printable

#: The most characters kept of one text from the child (a message, a version, a path, a line of output).
TEXT_LIMIT = 2000
#: The most lines of an item's output kept (its last ones), and the characters scanned for them.
OUTPUT_LINES = 30
_OUTPUT_SCAN = 65536


@functools.cache
def child_source() -> str:
    """The source of ``envcheck/evidence/child.py``, which runs in the candidate's interpreter."""
    return Path(__file__).with_name("child.py").read_text(encoding="utf-8")


def clean(value: object, limit: int = TEXT_LIMIT) -> str:
    """A text from the child, safe to keep: credentials scrubbed, cut to ``limit``, control characters escaped."""
    return printable(scrub_value(str(value))[:limit])


def _clean_or_none(value: object) -> Optional[str]:
    return None if value is None else clean(value)


def output_lines(text: str) -> Tuple[str, ...]:
    """The last ``OUTPUT_LINES`` lines of what an item printed, scrubbed (over a wider window than is kept, so
    that no credential is cut in two at the edge) and made printable."""
    scrubbed = scrub_value(text[-_OUTPUT_SCAN:])
    lines = [line for line in scrubbed.splitlines() if line.strip()]
    return tuple(printable(line[:TEXT_LIMIT]) for line in lines[-OUTPUT_LINES:])


@dataclass(frozen=True)
class Attempt:
    """How one item ended, and what the child said about it, cleaned."""

    outcome: Outcome
    error: Optional[str] = None
    """One line: ``Type: last line of the message`` for an exception, else what killed or stopped the child."""
    error_type: Optional[str] = None
    """The exception's type (``ImportError``, ``numpy.core._exceptions._UFuncNoLoopError``); None otherwise."""
    elapsed_ms: Optional[float] = None
    """How long it took in the child; None when the child did not finish it."""
    output: Tuple[str, ...] = ()
    """The last lines it printed (stdout and stderr together; on a crash, where it crashed)."""
    warnings: Tuple[str, ...] = ()
    """The warnings it raised, as ``Category: first line``, the first few."""
    details: Mapping[str, str] = field(default_factory=dict)
    """What the child reported besides (``version``, ``location``, ``format``, ``loader``, ``loaded_type``)."""


@dataclass(frozen=True)
class Session:
    """How the children of one check ran."""

    python: Optional[str]
    """The candidate's Python version, as the child saw it; None when no child started."""
    executable: Optional[str]
    network: Optional[Network]
    memory_limit: Optional[int]
    runs: int
    """How many children were started (one, plus one after each item that killed its child)."""
    elapsed_s: float


@dataclass(frozen=True)
class Transcript:
    """What one child said on its event stream, parsed."""

    hello: Optional[Mapping[str, Any]]
    started: Tuple[int, ...]
    done: Mapping[int, Mapping[str, Any]]


def parse_events(stdout: str) -> Transcript:
    """The child's JSON-lines events; lines that are not an event (a cut last line) are dropped."""
    hello: Optional[Mapping[str, Any]] = None
    started: List[int] = []
    done: Dict[int, Mapping[str, Any]] = {}
    for line in stdout.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        kind, index = event.get("ev"), event.get("i")
        if kind == "hello" and hello is None:
            hello = event
        elif kind == "start" and isinstance(index, int):
            started.append(index)
        elif kind == "done" and isinstance(index, int):
            done[index] = event
    return Transcript(hello, tuple(started), done)


def split_output(stderr: str, nonce: str) -> Dict[int, str]:
    """What the child printed during each item, by item index, from the marker lines ``<nonce> <i>`` (start of
    item i) and ``<nonce> -`` (end of an item)."""
    parts = re.split(r"\n" + re.escape(nonce) + r" (\d+|-)\n", "\n" + stderr)
    out: Dict[int, str] = {}
    # parts: [before the first marker, label, text, label, text, ...]
    for label, text in zip(parts[1::2], parts[2::2]):
        if label != "-":
            out[int(label)] = text
    return out


def _signal_name(number: int) -> str:
    try:
        return f"signal {number}, {signal.Signals(number).name}"
    except ValueError:
        return f"signal {number}"


def death(run: ChildRun, timeout: float, max_output: int) -> Tuple[Outcome, str]:
    """How a child that stopped in the middle of an item ended, as an outcome and a phrase."""
    if run.timed_out:
        return Outcome.TIMEOUT, f"no answer within {timeout:g} s"
    if run.output_limited:
        return Outcome.OUTPUT_LIMIT, f"printed more than {max_output} bytes; stopped there"
    if run.returncode < 0:
        return Outcome.CRASHED, f"the interpreter crashed ({_signal_name(-run.returncode)})"
    return Outcome.CRASHED, f"the interpreter exited with status {run.returncode}"


def attempt_from_event(event: Mapping[str, Any], output: str) -> Attempt:
    """An item the child finished, from its ``done`` event and what it printed meanwhile."""
    status = event.get("status")
    outcome = {"ok": Outcome.OK, "skipped": Outcome.SKIPPED}.get(str(status), Outcome.ERROR)
    error = error_type = None
    if outcome is Outcome.ERROR:
        error_type = clean(event.get("type") or "error", 200)
        message = clean(event.get("message") or "")
        error = f"{error_type}: {message}" if message else error_type
    elif outcome is Outcome.SKIPPED:
        error = clean(event.get("message") or "skipped")
    ms = event.get("ms")
    raw_warnings = event.get("warnings")
    seen = raw_warnings if isinstance(raw_warnings, list) else []
    details = {
        key: clean(event[key])
        for key in ("version", "location", "format", "loader", "loaded_type")
        if event.get(key) is not None
    }
    return Attempt(
        outcome=outcome,
        error=error,
        error_type=error_type,
        elapsed_ms=float(ms) if isinstance(ms, (int, float)) and not isinstance(ms, bool) else None,
        output=output_lines(output),
        warnings=tuple(dict.fromkeys(clean(w, 500) for w in seen[:5])),
        details=details,
    )


def run_items(
    runner: Runner,
    mode: str,
    items: Sequence[str],
    *,
    doing: Callable[[str], str],
    timeout: float,
    max_output: int,
    fmt: Optional[str] = None,
) -> Tuple[List[Attempt], Session]:
    """Run every item through children of the runner's interpreter; one ``Attempt`` per item, in order.

    ``doing(item)`` names what was being done for a crash's message ("importing numpy"). Each child has
    ``timeout`` seconds, so a check takes at most one ``timeout`` per item that hangs, plus one."""
    started_at = time.monotonic()
    results: Dict[int, Attempt] = {}
    pending = list(range(len(items)))
    runs: List[ChildRun] = []
    hello: Optional[Mapping[str, Any]] = None
    while pending:
        nonce = "envcheck-" + secrets.token_hex(8)
        job = {
            "mode": mode,
            "items": [items[i] for i in pending],
            "nonce": nonce,
            "timeout": timeout,
            "format": fmt,
        }
        run = runner.run(child_source(), [json.dumps(job)], timeout, max_output)
        runs.append(run)
        transcript = parse_events(run.stdout)
        if transcript.hello is None:
            raise RunnerError(_no_start(run, timeout, max_output))
        hello = hello or transcript.hello
        outputs = split_output(run.stderr, nonce)
        for local, event in transcript.done.items():
            if 0 <= local < len(pending):
                results[pending[local]] = attempt_from_event(event, outputs.get(local, ""))
        unfinished = [i for i in transcript.started if i not in transcript.done and 0 <= i < len(pending)]
        if unfinished:
            index = pending[unfinished[-1]]
            outcome, how = death(run, timeout, max_output)
            results[index] = Attempt(
                outcome=outcome,
                error=f"{how} {doing(items[index])}",
                output=output_lines(outputs.get(unfinished[-1], "")),
            )
        left = [i for i in pending if i not in results]
        if len(left) == len(pending):  # the child said hello and did nothing: do not loop
            outcome, how = death(run, timeout, max_output)
            for index in left:
                results[index] = Attempt(outcome=outcome, error=f"{how} before {doing(items[index])}")
            left = []
        pending = left
    session = Session(
        python=_clean_or_none(hello.get("python")) if hello else None,
        executable=_clean_or_none(hello.get("executable")) if hello else None,
        network=runs[0].network if runs else None,
        memory_limit=runs[0].memory_limit if runs else None,
        runs=len(runs),
        elapsed_s=time.monotonic() - started_at,
    )
    return [results[i] for i in range(len(items))], session


def _no_start(run: ChildRun, timeout: float, max_output: int) -> str:
    """Why the candidate's interpreter did not start the check, in one line."""
    _, how = death(run, timeout, max_output)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    said = f": {clean(lines[-1], 300)}" if lines else ""
    return f"the candidate's interpreter did not start the check ({how}){said}"
