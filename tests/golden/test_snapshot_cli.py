"""``envcheck snapshot --golden``: files recorded beside the lockfile and bound to it; what is refused."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from envcheck import cli, lockfile


def run(*args: str) -> Result:
    try:
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # click < 8.2 (Python 3.9)
    except TypeError:
        runner = CliRunner()
    return runner.invoke(cli.cli, list(args), catch_exceptions=False)


def test_golden_json_is_recorded_and_bound(tmp_path: Path) -> None:
    given = tmp_path / "case one.json"
    given.write_text(json.dumps({"inputs": [[1.0, 2.0]], "outputs": [0.5], "tolerance": {"abs": 0.01}}))
    lock = tmp_path / "out" / "envcheck.lock"
    result = run("snapshot", "-o", str(lock), "--golden", str(given))
    assert result.exit_code == 0, result.stderr
    fp = lockfile.read(lock)
    assert fp.golden is not None and [(c.name, c.file) for c in fp.golden.cases] == [
        ("case-one", "envcheck.golden/case-one.json")
    ]
    stored = json.loads((lock.parent / "envcheck.golden" / "case-one.json").read_text())
    assert stored["tolerance"] == {"abs": 0.01, "rel": 1e-06} and stored["outputs"] == [0.5]


def test_refusals_are_one_line_exit_2(tmp_path: Path) -> None:
    given = tmp_path / "c.json"
    given.write_text('{"inputs": 1, "outputs": 2}')
    result = run("snapshot", "-o", "-", "--golden", str(given))
    assert result.exit_code == 2 and "give -o PATH, not -" in result.stderr
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"inputs": [0.5] * 300_000, "outputs": [1]}))
    result = run("snapshot", "-o", str(tmp_path / "envcheck.lock"), "--golden", str(big))
    assert result.exit_code == 2 and "more than the golden limit of 1048576 bytes" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "envcheck.lock").exists()
    model = tmp_path / "model"
    model.mkdir()
    (model / "MLmodel").write_text("flavors: {}\n")
    result = run("snapshot", "-o", str(tmp_path / "envcheck.lock"), "--golden", str(model))
    assert result.exit_code == 2 and "without serving_input_example.json" in result.stderr
    (model / "serving_input_example.json").write_text('{"inputs": [[1]]}')
    out = str(tmp_path / "envcheck.lock")
    result = run("snapshot", "-o", out, "--root", str(tmp_path), "--golden", str(model))
    assert result.exit_code == 2 and "this target cannot run it" in result.stderr
