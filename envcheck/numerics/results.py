"""The battery's output, parsed: one line of JSON from a child that ran the candidate's code, so read as hostile.

``parse_output(stdout)`` is pure: it finds the battery's line (after ``MARKER``; whatever else the candidate's
``.pth`` files printed is ignored), checks every key and type against what the battery writes, bounds sizes, and
returns the model's ``NumericsInfo``. Anything else is a ``NumericsError`` with one line saying what was wrong.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Dict, List, Mapping, Optional, Tuple

from envcheck.evidence.interface import EvidenceError
from envcheck.model import NumericsInfo, NumericsKernel, OpenBlasRuntime
from envcheck.numerics.battery import MARKER

#: The most kernels a result may hold (the battery has fewer than 60).
MAX_KERNELS = 200
#: The longest string kept from the child's output (names, errors, versions, configs).
MAX_TEXT = 300
#: The most values in a kernel's sample (the battery writes 12).
MAX_SAMPLE = 32
#: The largest line parsed: the battery's is about 20 KB.
MAX_LINE = 1 << 20

_DIGEST = re.compile(r"^[0-9a-f]{16}$")


class NumericsError(EvidenceError):
    """The numerics battery could not be run, or its output is not what the battery writes."""


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise NumericsError(f"the numerics battery's output: {where} is not a string")
    return value[:MAX_TEXT]


def _float_text(value: Any, where: str) -> str:
    text = _text(value, where)
    try:
        float(text)
    except ValueError:
        raise NumericsError(f"the numerics battery's output: {where} is not a number ({text[:40]!r})") from None
    return text


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 40:
        raise NumericsError(f"the numerics battery's output: {where} is not a small non-negative integer")
    return value


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise NumericsError(f"the numerics battery's output: {where} is not an object")
    return value


def _list(value: Any, where: str, limit: int) -> List[Any]:
    if not isinstance(value, list):
        raise NumericsError(f"the numerics battery's output: {where} is not a list")
    if len(value) > limit:
        raise NumericsError(f"the numerics battery's output: {where} has {len(value)} items (at most {limit})")
    return value


def _kernel(raw: Any, i: int) -> NumericsKernel:
    where = f"kernels[{i}]"
    data = _table(raw, where)
    name = _text(data.get("name"), f"{where}.name")
    if "error" in data:
        return NumericsKernel(name=name, error=_text(data["error"], f"{where}.error"))
    digest = _text(data.get("digest"), f"{where}.digest")
    if not _DIGEST.match(digest):
        raise NumericsError(f"the numerics battery's output: {where}.digest is not 16 hex digits")
    shape = tuple(_int(n, f"{where}.shape") for n in _list(data.get("shape"), f"{where}.shape", 8))
    sample = tuple(
        _float_text(v, f"{where}.sample") for v in _list(data.get("sample", []), f"{where}.sample", MAX_SAMPLE)
    )
    return NumericsKernel(
        name=name,
        dtype=_text(data.get("dtype"), f"{where}.dtype"),
        shape=shape,
        digest=digest,
        total=_float_text(data["sum"], f"{where}.sum") if "sum" in data else "",
        max_abs=_float_text(data["max_abs"], f"{where}.max_abs") if "max_abs" in data else "",
        sample=sample,
    )


def _openblas(raw: Any, i: int) -> OpenBlasRuntime:
    data = _table(raw, f"openblas[{i}]")
    texts = {k: _text(data.get(k, ""), f"openblas[{i}].{k}") for k in ("path", "core", "config", "threads")}
    return OpenBlasRuntime(**texts)


def parse_result(data: Any, how: str = "") -> NumericsInfo:
    """The battery's JSON object as ``NumericsInfo``; raises ``NumericsError`` naming what is wrong."""
    top = _table(data, "the result")
    if "error" in top:
        raise NumericsError(f"the numerics battery could not run: {_text(top['error'], 'error')}")
    kernels = tuple(_kernel(k, i) for i, k in enumerate(_list(top.get("kernels"), "kernels", MAX_KERNELS)))
    if not kernels:
        raise NumericsError("the numerics battery's output holds no kernel")
    versions = _table(top.get("versions", {}), "versions")
    return NumericsInfo(
        battery=_int(top.get("battery"), "battery"),
        python=_text(top.get("python", ""), "python"),
        versions={_text(k, "versions")[:40]: _text(v, f"versions.{k}") for k, v in list(versions.items())[:8]},
        openblas=tuple(_openblas(o, i) for i, o in enumerate(_list(top.get("openblas", []), "openblas", 8))),
        kernels=kernels,
        elapsed_ms=_int(top.get("elapsed_ms", 0), "elapsed_ms"),
        how=how,
    )


def find_line(stdout: str) -> Optional[str]:
    """The battery's JSON text: the last line that starts with ``MARKER``, or None."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            return line[len(MARKER) :]
    return None


def parse_output(stdout: str, how: str = "") -> NumericsInfo:
    """The child's stdout as ``NumericsInfo``; raises ``NumericsError`` for output that is not the battery's."""
    line = find_line(stdout)
    if line is None:
        raise NumericsError("the numerics battery printed no result")
    if len(line) > MAX_LINE:
        raise NumericsError(f"the numerics battery's output is {len(line)} bytes (at most {MAX_LINE})")
    try:
        data = json.loads(line, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:
        raise NumericsError(f"the numerics battery's output is not JSON ({str(e)[:80]})") from None
    return parse_result(data, how)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def as_float(text: str) -> float:
    """A recorded magnitude as a float (``nan`` for an empty one)."""
    try:
        return float(text) if text else math.nan
    except ValueError:
        return math.nan


def by_name(info: Optional[NumericsInfo]) -> Dict[str, NumericsKernel]:
    """Kernels by name (the first of a repeated name wins)."""
    out: Dict[str, NumericsKernel] = {}
    for k in info.kernels if info else ():
        out.setdefault(k.name, k)
    return out


def cores(info: Optional[NumericsInfo]) -> Tuple[str, ...]:
    """The OpenBLAS kernel sets the battery's child had (``SkylakeX``), in path order, each once."""
    return tuple(dict.fromkeys(o.core for o in info.openblas if o.core)) if info else ()
