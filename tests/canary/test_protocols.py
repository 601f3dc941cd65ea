"""The protocols, pure: what is sent for a case and what in the answer is compared."""

from __future__ import annotations

from typing import Any

import pytest

from envcheck.canary import PROTOCOLS, CanaryError, TargetLost, protocol_for
from envcheck.canary.kserve import KServeV2Protocol
from envcheck.canary.mlflow import MlflowProtocol
from envcheck.canary.plainjson import JsonProtocol
from envcheck.golden.case import make_case


def test_every_protocol_name_gives_its_protocol() -> None:
    for name in PROTOCOLS:
        assert protocol_for(name).name == name
    with pytest.raises(CanaryError, match="unknown canary protocol 'grpc'"):
        protocol_for("grpc")


@pytest.mark.parametrize(
    ("inputs", "sent"),
    [
        (
            {"dataframe_split": {"columns": ["a"], "data": [[1]]}},
            {"dataframe_split": {"columns": ["a"], "data": [[1]]}},
        ),
        ({"dataframe_records": [{"a": 1}]}, {"dataframe_records": [{"a": 1}]}),
        ({"instances": [[1, 2]]}, {"instances": [[1, 2]]}),
        ({"inputs": {"a": [1]}}, {"inputs": {"a": [1]}}),
        ([[1.0, 2.0]], {"inputs": [[1.0, 2.0]]}),
        ({"a": [1]}, {"inputs": {"a": [1]}}),
    ],
    ids=["split", "records", "instances", "inputs", "array", "dict"],
)
def test_mlflow_requests(inputs: Any, sent: Any) -> None:
    protocol = MlflowProtocol()
    case = make_case("c", inputs, [0])
    assert protocol.path("") == "/invocations"
    assert protocol.request(case) == sent
    assert protocol.outputs({"predictions": [1, 2]}, case) == [1, 2]
    with pytest.raises(TargetLost, match='no "predictions"'):
        protocol.outputs({"outputs": [1]}, case)


def test_kserve_v2_builds_a_tensor_from_an_array_and_reshapes_the_answer() -> None:
    protocol = KServeV2Protocol()
    case = make_case("c", [[1.0, 2.0], [3.0, 4.0]], [[0.1], [0.9]])
    assert protocol.path("iris model") == "/v2/models/iris%20model/infer"
    assert protocol.request(case) == {
        "inputs": [{"name": "input-0", "shape": [2, 2], "datatype": "FP64", "data": [1.0, 2.0, 3.0, 4.0]}]
    }
    answer = {"outputs": [{"name": "p", "shape": [2, 1], "datatype": "FP64", "data": [0.1, 0.9]}]}
    assert protocol.outputs(answer, case) == [[0.1], [0.9]]
    labels = make_case("l", [[1, 2]], {"label": ["a"], "p": [0.5]})
    assert protocol.request(labels)["inputs"][0]["datatype"] == "INT64"
    two = {"outputs": [{"name": "label", "shape": [1], "data": ["a"]}, {"name": "p", "shape": [1], "data": [0.5]}]}
    assert protocol.outputs(two, labels) == {"label": ["a"], "p": [0.5]}
    assert protocol.request(make_case("s", [["x"]], [1]))["inputs"][0]["datatype"] == "BYTES"
    assert protocol.request(make_case("b", [True], [1]))["inputs"][0]["datatype"] == "BOOL"


def test_kserve_v2_recorded_requests_are_sent_as_recorded_and_bad_answers_lose_the_target() -> None:
    protocol = KServeV2Protocol()
    request = {"inputs": [{"name": "x", "shape": [1, 1], "datatype": "FP32", "data": [1.0]}]}
    case = make_case("c", request, [1.0])
    assert protocol.request(case) == request
    with pytest.raises(CanaryError, match="needs --model-name"):
        protocol.path("")
    with pytest.raises(CanaryError, match="ragged"):
        protocol.request(make_case("r", [[1.0], [1.0, 2.0]], [1]))
    for bad in ({"predictions": [1]}, {"outputs": []}, {"outputs": [{"name": "p"}]}, [1]):
        with pytest.raises(TargetLost):
            protocol.outputs(bad, case)
    # a shape that does not fit the data is compared as it came: another shape, not an error
    assert protocol.outputs({"outputs": [{"shape": [5], "data": [1.0]}]}, case) == [1.0]


def test_plain_json_sends_the_inputs_and_compares_the_whole_body() -> None:
    protocol = JsonProtocol()
    case = make_case("c", {"text": "hi"}, {"label": "greeting"})
    assert (protocol.path("x"), protocol.request(case)) == ("", {"text": "hi"})
    assert protocol.outputs({"label": "greeting"}, case) == {"label": "greeting"}
