"""``envcheck canary`` end to end against scripted servers: exit codes 0, 1 and 2, the report formats of
``check``, findings that name the case, the worst element and the error."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest
from click.testing import CliRunner, Result

from envcheck import cli
from envcheck.api import canary
from envcheck.findings import Severity
from envcheck.golden import GoldenError
from tests.canary.conftest import Answer, ScriptedServer, by_case

Serve = Callable[[Answer], ScriptedServer]


def run(*args: str) -> Result:
    try:
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # click < 8.2 (Python 3.9)
    except TypeError:
        runner = CliRunner()
    return runner.invoke(cli.cli, list(args), catch_exceptions=False)


def test_passes_when_the_server_answers_as_recorded(serve: Serve, golden_lock: Path) -> None:
    server = serve(by_case([0.25, 0.75 + 1e-9], ["cat", "dog"]))
    result = run("canary", str(golden_lock), "--endpoint", server.url, "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["findings"] == []
    assert "2 golden cases sent" in " ".join(data["evidence"])
    # exactly the recorded inputs, once each, nothing else
    assert sorted(json.dumps(b, sort_keys=True) for _, _, b in server.requests) == sorted(
        [
            json.dumps({"dataframe_split": {"columns": ["a"], "data": [[1.0], [2.0]]}}, sort_keys=True),
            json.dumps({"inputs": [[1.0], [2.0]]}, sort_keys=True),
        ]
    )


@pytest.mark.parametrize(
    ("rows", "labels", "case", "severity", "detail"),
    [
        ([0.25, 0.75001], ["cat", "dog"], "rows", "high", "worst at [1]: recorded 0.75, served 0.75001"),
        ([0.25, 0.9], ["cat", "dog"], "rows", "critical", "rel error 0.2"),
        ([0.25, 0.75], ["cat", "cow"], "labels", "critical", "label: recorded 'dog', served 'cow'"),
        ([0.25, math.nan], ["cat", "dog"], "rows", "critical", "not a finite number: recorded 0.75, served nan"),
        ([[0.25], [0.75]], ["cat", "dog"], "rows", "critical", "another type"),
        ([0.25], ["cat", "dog"], "rows", "critical", "another shape: recorded '2 items', served '1 items'"),
    ],
    ids=["small-number", "large-number", "label", "nan", "nesting", "length"],
)
def test_a_changed_answer_fails_naming_case_element_and_error(
    serve: Serve, golden_lock: Path, rows: Any, labels: Any, case: str, severity: str, detail: str
) -> None:
    server = serve(by_case(rows, labels))
    result = run("canary", str(golden_lock), "--endpoint", server.url, "--format", "json")
    assert result.exit_code == 1, result.stderr
    (finding,) = json.loads(result.stdout)["findings"]
    assert (finding["id"], finding["subject"], finding["severity"]) == ("canary.failed", case, severity)
    assert finding["risks"] == ["prediction"]
    assert detail in finding["message"], finding["message"]


def test_fail_on_and_every_report_format(serve: Serve, golden_lock: Path, tmp_path: Path) -> None:
    server = serve(by_case([0.25, 0.75001], ["cat", "dog"]))  # high
    assert run("canary", str(golden_lock), "--endpoint", server.url, "--fail-on", "critical").exit_code == 0
    for fmt in ("text", "json", "junit", "github", "markdown"):
        out = tmp_path / f"report.{fmt}"
        result = run("canary", str(golden_lock), "--endpoint", server.url, "--format", fmt, "-o", str(out))
        assert result.exit_code == 1, (fmt, result.stderr)
        assert "canary.failed" in out.read_text() or "rows" in out.read_text(), fmt


def test_only_the_cases_asked_for_are_sent(serve: Serve, golden_lock: Path) -> None:
    server = serve(by_case([0.25, 0.75], ["cat", "dog"]))
    assert run("canary", str(golden_lock), "--endpoint", server.url, "--case", "labels").exit_code == 0
    assert [b for _, _, b in server.requests] == [{"inputs": [[1.0], [2.0]]}]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda h: h.send_raw(b"", status=502), "HTTP 502"),
        (lambda h: h.send_raw(b"{not json"), "not JSON"),
        (lambda h: h.send_json({"result": 1}), 'no "predictions"'),
    ],
    ids=["502", "not-json", "not-mlflow"],
)
def test_a_server_that_cannot_be_asked_is_exit_2_one_line(
    serve: Serve, golden_lock: Path, answer: Answer, message: str
) -> None:
    server = serve(answer)
    url = server.url.replace("http://", "http://user:tok3n@")
    result = run("canary", str(golden_lock), "--endpoint", url)
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("envcheck: error: ") and message in line and "tok3n" not in line


def test_target_down_is_exit_2(golden_lock: Path) -> None:
    result = run("canary", str(golden_lock), "--endpoint", "http://127.0.0.1:9", "--timeout", "2")
    assert result.exit_code == 2 and "cannot reach the server" in result.stderr


def test_lockfile_problems(serve: Serve, tmp_path: Path, golden_lock: Path) -> None:
    import envcheck

    plain = tmp_path / "plain" / "envcheck.lock"
    plain.parent.mkdir()
    envcheck.snapshot(plain, loaded=False)
    result = run("canary", str(plain), "--endpoint", "http://127.0.0.1:9")
    assert result.exit_code == 2 and "binds no golden cases (take the snapshot with --golden)" in result.stderr
    (golden_lock.parent / "envcheck.golden" / "rows.json").write_text("{}")
    result = run("canary", str(golden_lock), "--endpoint", "http://127.0.0.1:9")
    assert result.exit_code == 2 and "changed since the snapshot" in result.stderr
    result = run("canary", str(golden_lock), "--endpoint", "http://127.0.0.1:9", "--protocol", "kserve-v2")
    assert result.exit_code == 2


def test_kserve_v2_and_plain_json_through_the_api(serve: Serve, tmp_path: Path) -> None:
    import envcheck
    from envcheck.golden import record

    lock = tmp_path / "envcheck.lock"
    record("tensor", [[1.0, 2.0]], [[0.5, 0.5]], lock=lock)
    envcheck.snapshot(lock, golden=True, loaded=False)
    seen: List[Dict[str, Any]] = []

    def v2(h: Any) -> None:
        seen.append(h.server.requests[-1][0])
        h.send_json(
            {
                "model_name": "m",
                "outputs": [{"name": "p", "shape": [1, 2], "datatype": "FP64", "data": [0.5, 0.5]}],
            }
        )

    server = serve(v2)
    report = canary(lock, server.url, "kserve-v2", model="m")
    assert report.findings == () and seen == ["/v2/models/m/infer"]
    plain = serve(lambda h: h.send_json([[0.5, 0.6]]))
    report = canary(lock, plain.url + "/predict", "json")
    (finding,) = report.findings
    assert finding.severity == Severity.CRITICAL and "worst at [0][1]" in finding.message
    assert plain.requests[0][0] == "/predict" and plain.requests[0][2] == [[1.0, 2.0]]


def test_api_needs_a_folder_for_a_fingerprint(golden_lock: Path) -> None:
    from envcheck import lockfile

    fp = lockfile.read(golden_lock)
    with pytest.raises(GoldenError, match="needs golden_base"):
        canary(fp, "http://127.0.0.1:9")
    with pytest.raises(Exception, match="cannot reach"):
        canary(fp, "http://127.0.0.1:9", golden_base=golden_lock.parent, timeout=2)
    _: Optional[int] = None


def test_the_protocol_choices_are_the_protocols_the_canary_speaks() -> None:
    # the CLI names them without importing the canary (envcheck.choices); they must not drift apart
    from envcheck.canary.run import PROTOCOLS
    from envcheck.choices import CANARY_PROTOCOLS

    assert tuple(PROTOCOLS) == CANARY_PROTOCOLS
    for command in ("canary", "sidecar"):
        options = {p.name: p for p in cli.cli.commands[command].params}
        name = "protocol" if command == "canary" else "canary_protocol"
        assert tuple(options[name].type.choices) == tuple(PROTOCOLS)  # type: ignore[attr-defined]
