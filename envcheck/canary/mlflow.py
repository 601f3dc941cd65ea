"""MLflow's scoring server (``mlflow models serve``): ``POST /invocations``, response ``{"predictions": ...}``.

Inputs recorded in one of the server's request shapes (``dataframe_split``, ``dataframe_records``, ``inputs``,
``instances``, as ``serving_input_example.json`` holds them) are sent as recorded; anything else is sent as
``{"inputs": INPUTS}``.
"""

from __future__ import annotations

from typing import Any

from envcheck.canary.interface import TargetLost
from envcheck.golden.case import GoldenCase

REQUEST_KEYS = ("dataframe_split", "dataframe_records", "inputs", "instances")


class MlflowProtocol:
    name = "mlflow"

    def path(self, model: str) -> str:
        return "/invocations"

    def request(self, case: GoldenCase) -> Any:
        inputs = case.inputs
        if isinstance(inputs, dict) and any(key in inputs for key in REQUEST_KEYS):
            return inputs
        return {"inputs": inputs}

    def outputs(self, answer: Any, case: GoldenCase) -> Any:
        if not isinstance(answer, dict) or "predictions" not in answer:
            raise TargetLost('the server\'s answer has no "predictions" (is it an MLflow scoring server?)')
        return answer["predictions"]
