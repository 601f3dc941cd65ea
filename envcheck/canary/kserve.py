"""KServe's V2 (Open Inference) protocol: ``POST /v2/models/{name}/infer``.

Inputs recorded as a V2 request (``{"inputs": [{"name", "shape", "datatype", "data"}, ...]}``) are sent as
recorded; a plain nested list becomes one tensor ``input-0`` (shape from the nesting, ``FP64``, ``INT64``,
``BOOL`` or ``BYTES`` from the values, data flattened). The answer's ``outputs`` are reshaped from their flat
``data``: one output tensor compares with the recorded outputs as a nested list, several as ``{name: list}``.
"""

from __future__ import annotations

import math
import urllib.parse
from typing import Any, Dict, List, Sequence, Tuple

from envcheck.canary.interface import CanaryError, TargetLost
from envcheck.golden.case import GoldenCase


class KServeV2Protocol:
    name = "kserve-v2"

    def path(self, model: str) -> str:
        if not model:
            raise CanaryError("--protocol kserve-v2 needs --model-name (the served model's name)")
        return f"/v2/models/{urllib.parse.quote(model, safe='')}/infer"

    def request(self, case: GoldenCase) -> Any:
        inputs = case.inputs
        if isinstance(inputs, dict) and isinstance(inputs.get("inputs"), list):
            return inputs
        shape, flat = _flatten(inputs)
        return {"inputs": [{"name": "input-0", "shape": list(shape), "datatype": _datatype(flat), "data": flat}]}

    def outputs(self, answer: Any, case: GoldenCase) -> Any:
        outputs = answer.get("outputs") if isinstance(answer, dict) else None
        if not isinstance(outputs, list) or not outputs:
            raise TargetLost('the server\'s answer has no V2 "outputs" (is it a KServe V2 endpoint?)')
        tensors: Dict[str, Any] = {}
        for i, tensor in enumerate(outputs):
            if not isinstance(tensor, dict) or not isinstance(tensor.get("data"), list):
                raise TargetLost(f"the server's output {i} is not a V2 tensor (name, shape, datatype, data)")
            tensors[str(tensor.get("name", f"output-{i}"))] = _reshape(tensor.get("shape"), tensor["data"])
        if len(tensors) == 1 and not (isinstance(case.outputs, dict) and set(case.outputs) == set(tensors)):
            return next(iter(tensors.values()))
        return tensors


def _flatten(value: Any) -> Tuple[Sequence[int], List[Any]]:
    if not isinstance(value, list):
        return (), [value]
    if not value:
        return (0,), []
    parts = [_flatten(v) for v in value]
    inner = parts[0][0]
    if any(tuple(p[0]) != tuple(inner) for p in parts):
        raise CanaryError("a golden case's inputs are ragged: they cannot be one KServe V2 tensor")
    return (len(value), *inner), [x for p in parts for x in p[1]]


def _datatype(flat: Sequence[Any]) -> str:
    if flat and all(isinstance(x, bool) for x in flat):
        return "BOOL"
    if all(isinstance(x, int) and not isinstance(x, bool) for x in flat):
        return "INT64"
    if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in flat):
        return "FP64"
    return "BYTES"


def _reshape(shape: Any, data: List[Any]) -> Any:
    """V2's flat ``data`` nested by ``shape``; the flat list when the shape is missing or does not fit (another
    shape then shows as a difference, not an error)."""
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape):
        return data
    if math.prod(shape) != len(data) or len(shape) > 32:
        return data
    if not shape:
        return data[0] if data else data
    return _nest(data, shape)


def _nest(flat: List[Any], shape: Sequence[int]) -> Any:
    if len(shape) == 1:
        return flat
    step = math.prod(shape[1:])
    return [_nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]
