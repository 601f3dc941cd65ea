"""The text report's risk matrix: below the findings in files and pipes (the golden files pin it), a compact grid
of counts and band letters above them at a terminal, none with ``--no-matrix``; and the CLI choosing among them
when its stdout is a real pseudo-terminal."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from envcheck import lockfile
from envcheck.findings import Finding, Report, Severity
from envcheck.report import MatrixPlace, TextReporter, reporter_for
from tests.report.drift import H200_LOCK, drifted, drifted_report
from tests.report.test_reporters import SAMPLE

GRID_TITLE = "risk matrix: probability x impact; L low, M medium, H high, C critical"
BELOW_TITLE = "risk matrix (rows: probability, columns: impact)"
LETTERS = {Severity.LOW: "L", Severity.MEDIUM: "M", Severity.HIGH: "H", Severity.CRITICAL: "C"}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def drift() -> Report:
    return drifted_report()


def _grid(text: str) -> Tuple[int, Dict[Tuple[int, int], Tuple[str, str]]]:
    """Where the grid starts (line index) and each cell's ``(count, letter)``, read back from the text."""
    lines = ANSI.sub("", text).split("\n")
    start = lines.index(GRID_TITLE)
    assert lines[start + 1].split() == ["p\\i", "1", "2", "3", "4", "5"]
    cells = {}
    for line in lines[start + 2 : start + 7]:
        probability, *rest = line.split()
        assert len(rest) == 5, line
        for impact, cell in enumerate(rest, start=1):
            cells[int(probability), impact] = (cell[:-1], cell[-1])
    return start, cells


def _without(text: str, title: str, length: int) -> str:
    """``text`` without the matrix block that starts at ``title`` (its lines and the blank line before it)."""
    lines = text.split("\n")
    start = lines.index(title)
    assert lines[start - 1] == ""
    return "\n".join(lines[: start - 1] + lines[start + length :])


@pytest.mark.parametrize("which", ["sample", "drift"])
def test_grid_counts_and_letters(which: str, drift: Report) -> None:
    report = SAMPLE if which == "sample" else drift
    text = TextReporter(matrix=MatrixPlace.ABOVE).render(report)
    start, cells = _grid(text)
    counts = Counter((f.probability, f.impact) for f in report.findings)
    for (p, i), (count, letter) in cells.items():
        assert count == (str(counts[p, i]) if counts[p, i] else "."), (p, i)
        assert letter == LETTERS[Severity.from_score(p * i)], (p, i)
    lines = text.split("\n")
    # Above the findings: right after the heading, before the table's header; aligned columns.
    assert start == 2 and lines[start + 8].split() == ["severity", "component", "subject", "risks", "score"]
    assert len({len(line) for line in lines[start + 1 : start + 7]}) == 1
    assert BELOW_TITLE not in text


@pytest.mark.parametrize("which", ["sample", "drift"])
def test_only_the_matrix_moves(which: str, drift: Report) -> None:
    report = SAMPLE if which == "sample" else drift
    below = TextReporter().render(report)
    assert TextReporter(matrix=MatrixPlace.BELOW).render(report) == below  # the default, which goldens pin
    above = TextReporter(matrix=MatrixPlace.ABOVE).render(report)
    none = TextReporter(matrix=MatrixPlace.NONE).render(report)
    assert "risk matrix" not in none
    assert _without(below, BELOW_TITLE, 7) == none
    assert _without(above, GRID_TITLE, 7) == none


def test_grid_colours_only_the_cells_that_hold_findings() -> None:
    plain = TextReporter(matrix=MatrixPlace.ABOVE).render(SAMPLE)
    assert "\x1b" not in plain
    coloured = TextReporter(color=True, matrix=MatrixPlace.ABOVE).render(SAMPLE)
    grid = coloured.split("\n")[3:9]
    assert "\x1b[1;31m1C\x1b[0m" in grid[1] and grid[1].count("\x1b[0m") == 1  # probability 5: one critical
    assert ANSI.sub("", coloured) == plain


def test_no_drift_stays_one_line_wherever_the_matrix_goes() -> None:
    empty = Report(expected_name="a.lock", actual_name="local")
    assert {TextReporter(matrix=place).render(empty) for place in MatrixPlace} == {
        "no drift: local matches a.lock"
    }


@pytest.mark.parametrize("place", list(MatrixPlace), ids=lambda p: p.value)
def test_every_place_renders(place: MatrixPlace) -> None:
    text = reporter_for("text", matrix=place).render(SAMPLE)
    assert (GRID_TITLE in text, BELOW_TITLE in text) == {
        MatrixPlace.ABOVE: (True, False),
        MatrixPlace.BELOW: (False, True),
        MatrixPlace.NONE: (False, False),
    }[place]


def test_wide_counts_keep_the_grid_aligned() -> None:
    findings = tuple(
        Finding("package.build", "packages", f"p{k:03d}", "a", "b", ("availability",), 3, 3, "m", "r")
        for k in range(120)
    )
    text = TextReporter(matrix=MatrixPlace.ABOVE).render(Report(findings=findings))
    _, cells = _grid(text)
    assert cells[3, 3] == ("120", "M") and cells[5, 5] == (".", "C")
    lines = text.split("\n")
    assert len({len(line) for line in lines[3:9]}) == 1


# --- the CLI at a real terminal ------------------------------------------------------------------------------


def _at_terminal(args: List[str], cwd: Path) -> Tuple[int, str]:
    """Run ``python -m envcheck ARGS`` with its stdout on a pseudo-terminal; its exit code and what it wrote."""
    leader, follower = pty.openpty()
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    errors = cwd / "stderr.txt"
    with errors.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "envcheck", *args], stdout=follower, stderr=stderr, cwd=cwd, env=env
        )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    code = proc.wait(timeout=300)
    assert code in (0, 1), errors.read_text(encoding="utf-8", errors="replace")
    return code, b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


@pytest.fixture(scope="module")
def candidate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("matrix") / "candidate.lock"
    lockfile.write(drifted(lockfile.read(H200_LOCK)), path)
    return path


@pytest.mark.slow
def test_cli_draws_the_grid_at_a_terminal_and_not_elsewhere(candidate: Path, tmp_path: Path) -> None:
    args = ["diff", str(H200_LOCK), str(candidate), "--fail-on", "never"]
    code, tty = _at_terminal(args, tmp_path)
    assert code == 0
    _, cells = _grid(tty)
    assert cells[3, 3][0] != "." and BELOW_TITLE not in tty
    # --no-matrix at a terminal: no matrix at all.
    code, bare = _at_terminal([*args, "--no-matrix"], tmp_path)
    assert code == 0 and "risk matrix" not in bare
    # Piped: the matrix below, as the golden files have it; the same bytes as the reporter's default.
    piped = subprocess.run([sys.executable, "-m", "envcheck", *args], capture_output=True, text=True, timeout=300)
    assert BELOW_TITLE in piped.stdout and GRID_TITLE not in piped.stdout
    assert _without(piped.stdout, BELOW_TITLE, 7) == bare
    # -o FILE at a terminal: the file gets what a pipe gets.
    out = tmp_path / "report.txt"
    code, said = _at_terminal([*args, "-o", str(out)], tmp_path)
    assert code == 0 and said == ""
    assert out.read_text(encoding="utf-8") == piped.stdout
