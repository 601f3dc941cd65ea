"""The import check: does each module the model needs import in the candidate's interpreter, and if not, why?

``import_check`` imports the modules in a child of the candidate's interpreter (never in envcheck's process: it
runs the candidate's code, hence opt-in), each in a ``try``; what it gives is evidence, not a guess from version
numbers: "imports, numpy 2.1.3 from .../numpy/__init__.py", or the real error's last line ("ImportError:
numpy.core.multiarray failed to import", "ValueError: numpy.dtype size changed, may indicate binary
incompatibility. Expected 96 from C header, got 88 from PyObject"), or "the interpreter crashed (signal 11,
SIGSEGV) importing X". A module that kills the interpreter costs only its own result: the modules after it are
imported in a new child.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional, Tuple

from envcheck.evidence.batch import Attempt, Session, run_items
from envcheck.evidence.interface import EvidenceError, Network, Outcome, Runner

#: Seconds each child may take; the check takes at most one timeout per module that hangs, plus one.
DEFAULT_TIMEOUT = 60.0
#: Bytes of output (stdout and stderr together) a child may print before it is killed.
DEFAULT_MAX_OUTPUT = 1 << 20


@dataclass(frozen=True)
class ModuleResult:
    """How importing one module went."""

    module: str
    outcome: Outcome
    error: Optional[str] = None
    """One line: ``Type: last line of the message``, or what killed the interpreter (``the interpreter crashed
    (signal 11, SIGSEGV) importing x``), or the time or output bound it ran into. None when it imported."""
    error_type: Optional[str] = None
    elapsed_ms: Optional[float] = None
    version: Optional[str] = None
    """The module's ``__version__``, when it imported and has one."""
    location: Optional[str] = None
    """Where it was imported from (its ``__file__``, or a namespace package's first folder)."""
    output: Tuple[str, ...] = ()
    """The last lines it printed while importing (scrubbed); after a crash, the traceback of where."""
    warnings: Tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


@dataclass(frozen=True)
class ImportReport:
    """What the import check found, module by module, and how it ran."""

    results: Tuple[ModuleResult, ...]
    python: Optional[str]
    """The candidate's Python version as the child reported it; None when there was nothing to import."""
    executable: Optional[str]
    network: Optional[Network]
    memory_limit: Optional[int]
    runs: int
    """Children started: one, plus one after each module that killed its child."""
    elapsed_s: float

    @property
    def failures(self) -> Tuple[ModuleResult, ...]:
        return tuple(r for r in self.results if not r.ok)

    @property
    def ok(self) -> bool:
        return not self.failures


def _valid_module(name: str) -> bool:
    return bool(name) and all(part.isidentifier() for part in name.split("."))


def _result(module: str, attempt: Attempt) -> ModuleResult:
    return ModuleResult(
        module=module,
        outcome=attempt.outcome,
        error=attempt.error,
        error_type=attempt.error_type,
        elapsed_ms=attempt.elapsed_ms,
        version=attempt.details.get("version"),
        location=attempt.details.get("location"),
        output=attempt.output,
        warnings=attempt.warnings,
    )


def import_check(
    runner: Runner,
    modules: Iterable[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_output: int = DEFAULT_MAX_OUTPUT,
) -> ImportReport:
    """Import each of ``modules`` (dotted names; duplicates once, in the order given) in a child of the runner's
    interpreter and report how each went. Runs the candidate's code: call it only when the user opted in.
    Raises ``EvidenceError`` for a name that is not a module name, ``RunnerError`` when the interpreter cannot
    run the check at all."""
    names = list(dict.fromkeys(modules))
    bad = [n for n in names if not _valid_module(n)]
    if bad:
        raise EvidenceError(f"not a module name: {bad[0]!r}")
    attempts, session = run_items(
        runner, "import", names, doing=lambda m: f"importing {m}", timeout=timeout, max_output=max_output
    )
    return _report(tuple(_result(n, a) for n, a in zip(names, attempts)), session)


def _report(results: Tuple[ModuleResult, ...], session: Session) -> ImportReport:
    return ImportReport(
        results=results,
        python=session.python,
        executable=session.executable,
        network=session.network,
        memory_limit=session.memory_limit,
        runs=session.runs,
        elapsed_s=session.elapsed_s,
    )
