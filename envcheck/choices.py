"""The values some options take, apart from the packages that act on them: the command line names them for every
command at start, and importing ``envcheck.expected`` or ``envcheck.restore`` for them would load every reader."""

from __future__ import annotations

#: What the expected side of ``check``/``diff`` is (``envcheck.expected``); auto detects it from the content.
EXPECTED_FORMATS = ("auto", "envcheck", "requirements", "pylock", "uv", "mlflow")
#: What ``envcheck remedy`` writes (``envcheck.restore``).
REMEDY_FORMATS = ("requirements", "pylock")
#: How ``envcheck canary`` and ``sidecar --canary`` ask a model server (``envcheck.canary.run.PROTOCOLS``).
CANARY_PROTOCOLS = ("mlflow", "kserve-v2", "json")
