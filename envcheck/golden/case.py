"""A golden case: inputs a model server is sent and the outputs it gave when the model was verified.

The file ``envcheck.golden/NAME.json`` (and what ``snapshot --golden FILE.json`` reads) is one JSON object::

    {"envcheck_golden": 1, "name": "iris-small",
     "inputs": <JSON: sent as the protocol says>,
     "outputs": <JSON: what the server answered at training>,
     "tolerance": {"abs": 1e-6, "rel": 1e-6}}

``name`` (default: the file's stem) and ``tolerance`` (default ``DEFAULT_TOLERANCE``) may be left out of a file
given to ``snapshot --golden``; ``envcheck_golden`` is written by envcheck. Pure: parsing and rendering only.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from envcheck.errors import EnvcheckError

FORMAT = 1
#: Names become file names: letters, digits, ``.``, ``_``, ``-``; no leading dot.
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}\Z")
#: How deep the inputs and outputs may nest: a tensor of rank 32 is deeper than any model's.
MAX_DEPTH = 32


class GoldenError(EnvcheckError):
    """Golden data that cannot be recorded or read: malformed, too large, or not what the lockfile bound."""


@dataclass(frozen=True)
class Tolerance:
    """How far a number may be from the recorded one: ``|actual - expected| <= abs + rel * |expected|``.
    Labels (integers on both sides), strings, booleans and nulls compare exactly."""

    abs: float = 1e-6
    rel: float = 1e-6


DEFAULT_TOLERANCE = Tolerance()


@dataclass(frozen=True)
class GoldenCase:
    name: str
    inputs: Any
    """Plain JSON data (dicts, lists, str, int, float, bool, None)."""
    outputs: Any
    tolerance: Tolerance = DEFAULT_TOLERANCE


def check_name(name: str, where: str = "") -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise GoldenError(
            f"{where + ': ' if where else ''}golden case name {name!r}: use 1-64 letters, digits, '.', '_' or '-' "
            "(it names a file), not starting with '.' or '-'"
        )
    return name


def tolerance_from(data: Any, where: str) -> Tolerance:
    if data is None:
        return DEFAULT_TOLERANCE
    if isinstance(data, Tolerance):
        return data
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        data = {"abs": data, "rel": data}
    if not isinstance(data, Mapping) or set(data) - {"abs", "rel"}:
        raise GoldenError(f'{where}: tolerance must be {{"abs": NUMBER, "rel": NUMBER}}')
    values = {}
    for key in ("abs", "rel"):
        value = data.get(key, getattr(DEFAULT_TOLERANCE, key))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
            raise GoldenError(f"{where}: tolerance {key} must be a finite number >= 0, got {value!r}")
        values[key] = float(value)
    return Tolerance(**values)


def check_value(value: Any, where: str, depth: int = 0) -> Any:
    """``value`` as plain JSON data; refuses other types and deeper nesting than ``MAX_DEPTH``."""
    if depth > MAX_DEPTH:
        raise GoldenError(f"{where}: nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, (list, tuple)):
        return [check_value(v, where, depth + 1) for v in value]
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise GoldenError(f"{where}: object keys must be strings")
        return {k: check_value(v, where, depth + 1) for k, v in value.items()}
    raise GoldenError(
        f"{where}: {type(value).__name__} is not JSON data (use lists, numbers, strings; numpy arrays: .tolist())"
    )


def make_case(name: str, inputs: Any, outputs: Any, tolerance: Any = None, where: str = "") -> GoldenCase:
    name = check_name(name, where)
    where = where or f"golden case {name!r}"
    return GoldenCase(
        name=name,
        inputs=check_value(inputs, f"{where}: inputs"),
        outputs=check_value(outputs, f"{where}: outputs"),
        tolerance=tolerance_from(tolerance, where),
    )


def case_from_data(data: Any, *, default_name: str, where: str) -> GoldenCase:
    """A case from a parsed JSON document (a golden file, or a file given to ``snapshot --golden``)."""
    if not isinstance(data, Mapping):
        raise GoldenError(f'{where}: expected a JSON object with "inputs" and "outputs"')
    unknown = set(data) - {"envcheck_golden", "name", "inputs", "outputs", "tolerance"}
    if unknown:
        raise GoldenError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    for key in ("inputs", "outputs"):
        if key not in data:
            raise GoldenError(f"{where}: missing key {key!r}")
    if data.get("envcheck_golden", FORMAT) != FORMAT:
        raise GoldenError(
            f"{where}: golden format {data['envcheck_golden']!r} is not supported (this reads {FORMAT})"
        )
    return make_case(data.get("name", default_name), data["inputs"], data["outputs"], data.get("tolerance"), where)


def parse_case(text: bytes, *, default_name: str, where: str) -> GoldenCase:
    try:
        data = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise GoldenError(f"{where}: not JSON ({str(e).splitlines()[0][:120]})") from e
    return case_from_data(data, default_name=default_name, where=where)


def render_case(case: GoldenCase) -> bytes:
    """The golden file's bytes: sorted keys, one line per case (stable, so that its digest is)."""
    data = {
        "envcheck_golden": FORMAT,
        "name": case.name,
        "inputs": case.inputs,
        "outputs": case.outputs,
        "tolerance": {"abs": case.tolerance.abs, "rel": case.tolerance.rel},
    }
    return (json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=True) + "\n").encode("utf-8")
