"""An MLflow model folder as a golden case: its ``serving_input_example.json`` as the inputs, and what the model
gives for them at snapshot time as the outputs.

Getting the outputs runs the model (``mlflow.pyfunc.load_model`` unpickles it), so it happens only when
``--golden`` names the folder, and in a child of the target's interpreter through an evidence ``Runner``
(isolated, no network, bounded), never in envcheck's process. The child parses the example as MLflow's scoring
server does and prints the ``{"predictions": ...}`` the server would answer.
"""

from __future__ import annotations

import json
import os
from typing import Optional

from envcheck.evidence.interface import Runner
from envcheck.golden.case import GoldenCase, GoldenError, make_case

EXAMPLE = "serving_input_example.json"
MARKER = "envcheck-golden-outputs "
#: Seconds the child may take: importing mlflow takes a few, loading a model a few more.
DEFAULT_TIMEOUT = 180.0

# Stdlib-only up to the imports of mlflow (Python 3.8 syntax): it runs in the target's interpreter.
SOURCE = (
    """
import io, json, sys
path, limit = sys.argv[1], int(sys.argv[2])
with open(path + '/serving_input_example.json', 'rb') as f:
    text = f.read(limit + 1)
if len(text) > limit:
    sys.stderr.write('GoldenError: serving_input_example.json is larger than the golden limit\\n'); sys.exit(1)
try:
    import mlflow.pyfunc
    from mlflow.pyfunc import scoring_server
    model = mlflow.pyfunc.load_model(path)
    schema = model.metadata.get_input_schema()
    parsed = scoring_server._parse_json_data(text.decode('utf-8'), model.metadata, schema)
    data, params = parsed[0], parsed[1]
    raw = model.predict(data, params=params) if params else model.predict(data)
    out = io.StringIO()
    scoring_server.predictions_to_json(raw, out)
except Exception as e:
    last = (str(e).strip().splitlines() or [''])[-1]
    sys.stderr.write('%s: %s\\n' % (type(e).__name__, last[:300])); sys.exit(1)
sys.stdout.write('\\n"""
    + MARKER
    + """' + out.getvalue().replace('\\n', ' ') + '\\n')
"""
)


def is_mlflow_model(path: str) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "MLmodel"))


def case_from_model(path: str, runner: Optional[Runner], limit: int, name: str = "") -> GoldenCase:
    """The golden case of the MLflow model folder ``path``; ``runner`` runs it (None: refused, one line)."""
    example = os.path.join(path, EXAMPLE)
    if not os.path.isfile(example):
        raise GoldenError(f"{path}: an MLflow model without {EXAMPLE} (log it with an input_example)")
    if runner is None:
        raise GoldenError(f"{path}: recording an MLflow model's outputs runs the model; this target cannot run it")
    with open(example, "rb") as f:
        raw = f.read(limit + 1)
    if len(raw) > limit:
        raise GoldenError(f"{example}: more than the golden limit of {limit} bytes")
    try:
        inputs = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise GoldenError(f"{example}: not JSON") from e
    done = runner.run(SOURCE, [os.path.abspath(path), str(limit)], DEFAULT_TIMEOUT, 2 * limit + (64 << 10))
    if done.timed_out:
        raise GoldenError(f"{path}: the model did not give its outputs within {DEFAULT_TIMEOUT:g} s")
    if done.output_limited:
        raise GoldenError(f"{path}: the model's outputs are larger than the golden limit")
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
    if done.returncode != 0 or not lines:
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1][:300]
        raise GoldenError(f"{path}: could not run the model for its golden outputs: {last}")
    try:
        answer = json.loads(lines[-1][len(MARKER) :])
    except ValueError as e:
        raise GoldenError(f"{path}: the model's outputs are not JSON") from e
    if not isinstance(answer, dict) or "predictions" not in answer:
        raise GoldenError(f"{path}: the model's answer has no predictions")
    return make_case(name or _name(path), inputs, answer["predictions"], where=path)


def _name(path: str) -> str:
    base = os.path.basename(os.path.normpath(os.path.abspath(path)))
    cleaned = "".join(c if c.isalnum() or c in "._-" else "-" for c in base).lstrip(".-")
    return (cleaned or "model")[:64]
