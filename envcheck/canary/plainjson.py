"""Plain JSON: the recorded inputs are POSTed as they are, and the whole response body is the output."""

from __future__ import annotations

from typing import Any

from envcheck.golden.case import GoldenCase


class JsonProtocol:
    name = "json"

    def path(self, model: str) -> str:
        return ""

    def request(self, case: GoldenCase) -> Any:
        return case.inputs

    def outputs(self, answer: Any, case: GoldenCase) -> Any:
        return answer
