"""An MLflow model folder as a golden case: how the child's answer is read (a fake runner stands in for the
interpreter; tests/canary/test_mlflow_e2e.py runs the real one)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Sequence

import pytest

from envcheck.evidence.interface import ChildRun, Network
from envcheck.golden.case import GoldenError
from envcheck.golden.mlflow_model import MARKER, case_from_model

EXAMPLE = {"dataframe_split": {"columns": ["a"], "data": [[1.0]]}}


class FakeRunner:
    def __init__(self, stdout: str = "", stderr: str = "", returncode: int = 0, timed_out: bool = False) -> None:
        self.done = ChildRun(returncode, stdout, stderr, timed_out, False, Network.NAMESPACE, None)
        self.args: List[Sequence[str]] = []

    def run(self, source: str, args: Sequence[str], timeout: float, max_output: int) -> ChildRun:
        self.args.append(args)
        return self.done


@pytest.fixture
def model(tmp_path: Path) -> Path:
    folder = tmp_path / "my model"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors: {}\n")
    (folder / "serving_input_example.json").write_text(json.dumps(EXAMPLE))
    return folder


def test_the_example_is_the_input_and_the_predictions_the_output(model: Path) -> None:
    runner = FakeRunner(stdout="some log line\n" + MARKER + json.dumps({"predictions": [[0.1, 0.9]]}) + "\n")
    case = case_from_model(str(model), runner, 1 << 20)
    assert (case.name, case.inputs, case.outputs) == ("my-model", EXAMPLE, [[0.1, 0.9]])
    assert runner.args == [[str(model), str(1 << 20)]]


@pytest.mark.parametrize(
    ("runner", "message"),
    [
        (FakeRunner(timed_out=True, returncode=-9), "did not give its outputs within"),
        (FakeRunner(stderr="ModuleNotFoundError: No module named 'mlflow'\n", returncode=1), "No module named"),
        (FakeRunner(stdout=MARKER + "{oops\n"), "outputs are not JSON"),
        (FakeRunner(stdout=MARKER + '{"result": 1}\n'), "has no predictions"),
        (FakeRunner(stdout="no marker\n"), "could not run the model"),
    ],
    ids=["timeout", "error", "not-json", "no-predictions", "no-marker"],
)
def test_failures_are_one_line(model: Path, runner: FakeRunner, message: str) -> None:
    with pytest.raises(GoldenError, match=message) as e:
        case_from_model(str(model), runner, 1 << 20)
    assert "\n" not in str(e.value)


def test_an_oversized_or_broken_example_is_refused_before_running_anything(model: Path) -> None:
    runner = FakeRunner()
    (model / "serving_input_example.json").write_text(json.dumps({"inputs": [0.5] * 1000}))
    with pytest.raises(GoldenError, match="more than the golden limit of 100 bytes"):
        case_from_model(str(model), runner, 100)
    (model / "serving_input_example.json").write_text("{")
    with pytest.raises(GoldenError, match="not JSON"):
        case_from_model(str(model), runner, 1 << 20)
    assert runner.args == []
