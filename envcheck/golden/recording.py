"""Recording golden cases: from Python (``record``) and from files (``snapshot --golden FILE``).

A file is a golden JSON document (``envcheck.golden.case``), an ``.npz`` holding the arrays ``inputs`` and
``outputs`` (and optionally the 0-d ``abs_tolerance`` and ``rel_tolerance``), or an MLflow model folder
(``envcheck.golden.mlflow_model``, which runs the model: opt-in by naming it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from envcheck.evidence.interface import Runner
from envcheck.golden.case import GoldenCase, GoldenError, make_case, parse_case
from envcheck.golden.mlflow_model import case_from_model, is_mlflow_model
from envcheck.golden.npy import parse_npz
from envcheck.golden.store import DEFAULT_LIMIT, folder_for, write_case
from envcheck.model import GoldenInfo

PathLike = Union[str, Path]


def record(
    name: str,
    inputs: Any,
    outputs: Any,
    tolerance: Any = None,
    *,
    lock: PathLike = "envcheck.lock",
    limit: int = DEFAULT_LIMIT,
) -> GoldenCase:
    """Record a golden case at training: ``inputs`` a model server is sent (as the canary's protocol sends them)
    and the ``outputs`` it should answer (plain JSON data: lists, numbers, strings; a numpy array's
    ``.tolist()``), with ``tolerance`` (``{"abs": .., "rel": ..}``, a number for both, or ``Tolerance``).

    Written to ``envcheck.golden/NAME.json`` beside ``lock``; ``envcheck.snapshot(lock, golden=True)`` binds the
    folder's cases to the lockfile. Raises ``GoldenError``."""
    case = make_case(name, inputs, outputs, tolerance)
    write_case(case, folder_for(lock), limit)
    return case


def case_from_file(path: PathLike, runner: Optional[Runner] = None, limit: int = DEFAULT_LIMIT) -> GoldenCase:
    """The golden case in ``path`` (JSON, ``.npz`` or an MLflow model folder); raises ``GoldenError``."""
    text = str(path)
    if is_mlflow_model(text):
        return case_from_model(text, runner, limit)
    stem = Path(text).name.rsplit(".", 1)[0]
    if not os.path.isfile(text):  # never open a FIFO or a device
        raise GoldenError(f"{text}: not a file or an MLflow model folder")
    try:
        with open(text, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise GoldenError(f"{text}: cannot read ({e.strerror or e})") from e
    if len(data) > limit:
        raise GoldenError(f"{text}: more than the golden limit of {limit} bytes")
    if text.endswith(".npz"):
        arrays = parse_npz(data, text, limit)
        missing = {"inputs", "outputs"} - set(arrays)
        if missing:
            raise GoldenError(f"{text}: holds no {sorted(missing)[0]!r} array")
        extra = set(arrays) - {"inputs", "outputs", "abs_tolerance", "rel_tolerance"}
        if extra:
            raise GoldenError(f"{text}: unknown array {sorted(extra)[0]!r}")
        tolerance = {k[:3]: arrays[f"{k}_tolerance"] for k in ("abs", "rel") if f"{k}_tolerance" in arrays}
        return make_case(_clean(stem), arrays["inputs"], arrays["outputs"], tolerance or None, where=text)
    return parse_case(data, default_name=_clean(stem), where=text)


def _clean(stem: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in stem).lstrip(".-")[:64] or "case"


def record_files(
    lock: PathLike, files: Sequence[PathLike], runner: Optional[Runner] = None, limit: int = DEFAULT_LIMIT
) -> None:
    """Write the cases of ``files`` to ``envcheck.golden/`` beside ``lock``."""
    cases = [case_from_file(f, runner, limit) for f in files]
    names = [c.name for c in cases]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise GoldenError(f"two golden files give the case {dupes[0]!r}: rename one")
    for case in cases:
        write_case(case, folder_for(lock), limit)


def recorded(lock: PathLike, files: Sequence[PathLike], runner: Optional[Runner], limit: int) -> GoldenInfo:
    """Record ``files`` beside ``lock`` and bind every case there (``snapshot --golden``); the folder
    ``envcheck.golden`` beside ``lock`` itself among them binds what ``record`` wrote there."""
    from envcheck.golden.store import bind

    folder = os.path.abspath(folder_for(lock))
    record_files(lock, [f for f in files if os.path.abspath(f) != folder], runner, limit)
    return bind(lock, limit)
