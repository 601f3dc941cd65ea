"""What every canary protocol shares: how a golden case becomes a request and a response becomes outputs, and
the errors.

A protocol is pure: ``request`` builds the JSON body sent for a case (never more than its recorded inputs) and
``outputs`` finds, in the parsed response, what compares with the recorded outputs. The HTTP exchange is
``envcheck.canary.http``'s.
"""

from __future__ import annotations

from typing import Any, Protocol

from envcheck.errors import EnvcheckError
from envcheck.golden.case import GoldenCase


class CanaryError(EnvcheckError):
    """The canary could not be run as asked (a bad URL, protocol or option)."""


class TargetLost(CanaryError):
    """The model server could not be asked: down, timed out, an HTTP error, a redirect elsewhere, an answer too
    large, not JSON or not the protocol's shape. Not "predictions changed": nothing was compared."""


class CanaryProtocol(Protocol):
    name: str

    def path(self, model: str) -> str:
        """The URL path requests go to (``/invocations``), for the served model named ``model``."""
        ...

    def request(self, case: GoldenCase) -> Any:
        """The JSON body sent for ``case``."""
        ...

    def outputs(self, answer: Any, case: GoldenCase) -> Any:
        """What in ``answer`` (the parsed response) compares with ``case.outputs``; ``TargetLost`` when the answer
        is not the protocol's shape."""
        ...
