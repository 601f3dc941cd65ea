"""The load check (``--load-model``): does each model file load in the candidate's interpreter, and if not, why?

``load_check`` loads each file in a child of the candidate's interpreter with the safest loader its format has:
``torch.load(weights_only=True)``, ``onnxruntime.InferenceSession``, ``xgboost.Booster().load_model``,
``lightgbm.Booster(model_file=...)``, and for pickles ``joblib.load`` (or ``pickle.load`` where joblib is not
installed). The format is told by the file's extension and first bytes (``envcheck.evidence.child.sniff``), or
given.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass
from typing import Iterable, Optional, Tuple, Union

from envcheck.evidence.batch import Attempt, Session, run_items
from envcheck.evidence.child import FORMATS
from envcheck.evidence.interface import EvidenceError, Network, Outcome, Runner

#: Seconds each child may take: a large model takes a while to read.
DEFAULT_TIMEOUT = 300.0
DEFAULT_MAX_OUTPUT = 1 << 20


class ModelFormat(enum.Enum):
    """The model formats the load check has a loader for."""

    JOBLIB = "joblib"
    PICKLE = "pickle"
    TORCH = "torch"
    ONNX = "onnx"
    XGBOOST = "xgboost"
    LIGHTGBM = "lightgbm"


assert tuple(f.value for f in ModelFormat) == FORMATS, "child.FORMATS and ModelFormat must list the same formats"


@dataclass(frozen=True)
class LoadResult:
    """How loading one model file went."""

    path: str
    outcome: Outcome
    format: Optional[str] = None
    """The format it was loaded as (given, or told by its name and first bytes); None when unknown."""
    loader: Optional[str] = None
    """The loader used (``joblib.load``, ``torch.load(weights_only=True)``...)."""
    error: Optional[str] = None
    """One line: ``Type: last line of the message``, what killed the interpreter, or why it was skipped."""
    error_type: Optional[str] = None
    elapsed_ms: Optional[float] = None
    loaded_type: Optional[str] = None
    """The type of what the loader returned (``sklearn.linear_model._logistic.LogisticRegression``)."""
    output: Tuple[str, ...] = ()
    warnings: Tuple[str, ...] = ()
    """The warnings loading raised (scikit-learn's ``InconsistentVersionWarning`` among them)."""

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


@dataclass(frozen=True)
class LoadReport:
    """What the load check found, file by file, and how it ran."""

    results: Tuple[LoadResult, ...]
    python: Optional[str]
    executable: Optional[str]
    network: Optional[Network]
    memory_limit: Optional[int]
    runs: int
    elapsed_s: float

    @property
    def failures(self) -> Tuple[LoadResult, ...]:
        return tuple(r for r in self.results if not r.ok)

    @property
    def ok(self) -> bool:
        return not self.failures


def _result(path: str, attempt: Attempt) -> LoadResult:
    return LoadResult(
        path=path,
        outcome=attempt.outcome,
        format=attempt.details.get("format"),
        loader=attempt.details.get("loader"),
        error=attempt.error,
        error_type=attempt.error_type,
        elapsed_ms=attempt.elapsed_ms,
        loaded_type=attempt.details.get("loaded_type"),
        output=attempt.output,
        warnings=attempt.warnings,
    )


def load_check(
    runner: Runner,
    model_paths: Iterable[Union[str, os.PathLike[str]]],
    kind: Optional[ModelFormat] = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_output: int = DEFAULT_MAX_OUTPUT,
) -> LoadReport:
    """Load each model file in a child of the runner's interpreter and report how each went. ``kind`` loads
        every file as that format; None tells each file's format by its name and first bytes (a file of no known
        format is ``SKIPPED``). The paths are as the child sees them; a relative one is taken from this process's
    working directory (the child starts in an empty folder of its own); results name them as given.

        Opt-in only: this runs the candidate's code, and for pickles (joblib, ``.pkl``) the model file's own code:
        unpickling executes whatever the file says. Call it only when the user asked to load the model
        (``--load-model``) and trusts the file; it still runs in the runner's child, never in envcheck's process,
        with its time, output, memory and network bounds. Raises ``RunnerError`` when the interpreter cannot run
        the check at all."""
    paths = list(dict.fromkeys(os.fspath(p) for p in model_paths))
    if any(not p or "\0" in p for p in paths):
        raise EvidenceError("a model path is empty or holds a NUL character")
    attempts, session = run_items(
        runner,
        "load",
        [os.path.abspath(p) for p in paths],  # the child starts in a folder of its own
        doing=lambda p: f"loading {os.path.basename(p)}",
        timeout=timeout,
        max_output=max_output,
        fmt=None if kind is None else kind.value,
    )
    return _report(tuple(_result(p, a) for p, a in zip(paths, attempts)), session)


def _report(results: Tuple[LoadResult, ...], session: Session) -> LoadReport:
    return LoadReport(
        results=results,
        python=session.python,
        executable=session.executable,
        network=session.network,
        memory_limit=session.memory_limit,
        runs=session.runs,
        elapsed_s=session.elapsed_s,
    )
