"""The text report: a table for people at a terminal, grouped by severity, with the risk-matrix summary.

No findings renders as exactly one "no drift" line, so a clean run stays quiet. A finding a check saw or answered
carries a tag after its score (``[observed]``, ``[observed-equivalent]``, ``[observed-imports]``) and the summary
gains a line counting them; a report of guesses alone shows neither. Colour (ANSI) only when asked: the CLI asks
when the stream is a terminal. The risk matrix goes below the findings (in a file or a pipe) or, at a terminal,
as a compact grid above them with each cell's band letter (``MatrixPlace``). Control characters and newlines in
the data are shown escaped (``escape.printable``), so a hostile package name cannot move the cursor, recolour the
terminal or forge a line.
"""

from __future__ import annotations

from typing import List, Sequence

from envcheck.findings import Finding, Report, Severity
from envcheck.report.escape import printable
from envcheck.report.formats import MatrixPlace
from envcheck.report.interface import (
    SEVERITIES_DOWN,
    Reporter,
    by_severity,
    consequences_line,
    evidence_summary,
    evidence_tag,
    names,
    ordered,
    plural,
    risk_matrix,
    threshold_label,
)

_RESET = "\x1b[0m"
_COLOURS = {
    Severity.CRITICAL: "\x1b[1;31m",
    Severity.HIGH: "\x1b[31m",
    Severity.MEDIUM: "\x1b[33m",
    Severity.LOW: "\x1b[36m",
}
_BOLD = "\x1b[1m"
_GREEN = "\x1b[32m"
_HEADER = ("severity", "component", "subject", "risks", "score")


#: The band letters of the compact grid.
_LETTERS = {Severity.LOW: "L", Severity.MEDIUM: "M", Severity.HIGH: "H", Severity.CRITICAL: "C"}


def _clean(text: str) -> str:
    """Data as one printable line: control characters and newlines escaped."""
    return printable(text)


class TextReporter(Reporter):
    """Renders a plain-text table; ``color=True`` adds ANSI colours, ``matrix`` says where the risk matrix goes."""

    name = "text"

    def __init__(self, color: bool = False, matrix: MatrixPlace = MatrixPlace.BELOW) -> None:
        self.color = color
        self.matrix = MatrixPlace(matrix)

    def _paint(self, text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if self.color else text

    def render(self, report: Report) -> str:
        """Return the table, or a single "no drift" line when there are no findings."""
        expected, actual = names(report)
        if not report.findings:
            line = f"no drift: {_clean(actual)} matches {_clean(expected)}"
            if report.skipped:
                line += f" ({self._skipped(report, sep='; ')})"
            return "\n".join([line, *(_clean(e) for e in report.evidence)])
        lines = [self._paint(f"envcheck: {_clean(actual)} compared with {_clean(expected)}", _BOLD), ""]
        if self.matrix is MatrixPlace.ABOVE:
            lines += [*self._grid(report), ""]
        lines += self._table(report)
        if report.skipped:
            lines += ["", self._skipped(report, sep="\n  ")]
        if report.evidence:
            lines += ["", *(_clean(e) for e in report.evidence)]
        if self.matrix is MatrixPlace.BELOW:
            lines += ["", *self._matrix(report)]
        lines += ["", self._counts(report)]
        basis = evidence_summary(report)
        if basis:
            lines.append(f"findings: {basis}")
        lines.append(self._threshold(report))
        return "\n".join(lines)

    def _table(self, report: Report) -> List[str]:
        rows = [self._cells(f) for f in ordered(report) if not f.cause]
        widths = [max(len(r[i]) for r in [_HEADER, *rows]) for i in range(len(_HEADER))]
        out = ["  " + _row(_HEADER, widths)]
        for severity, findings in by_severity(report, headlines=True).items():
            heading = f"{severity.label.upper()} ({plural(len(findings), 'finding')})"
            out += ["", self._paint(heading, _COLOURS[severity])]
            for finding in findings:
                cells = self._cells(finding)
                # Pad outside the colour codes, so a coloured terminal shows no tinted blanks.
                label = self._paint(cells[0], _COLOURS[severity]) + " " * (widths[0] - len(cells[0]))
                # A tag after the score, for what a check saw or answered; none for a guess, so it stays quiet.
                tag = evidence_tag(finding)
                out.append(f"  {label}  {_row([*cells[1:], tag], [*widths[1:], 0])}")
                out.append("      " + _clean(finding.message))
                out.append("      " + _clean(f"fix: {finding.remedy}"))
                follow = consequences_line(finding, report)
                if follow:
                    out.append("      " + _clean(follow))
        return out

    @staticmethod
    def _cells(finding: Finding) -> Sequence[str]:
        return (
            finding.severity.label,
            _clean(finding.component),
            _clean(finding.subject),
            ", ".join(finding.risks),
            f"{finding.score} = {finding.probability}x{finding.impact}",
        )

    def _skipped(self, report: Report, sep: str) -> str:
        parts = [f"{_clean(c)} — {_clean(why)}" for c, why in report.skipped.items()]
        return "not compared: " + sep.join(parts)

    def _matrix(self, report: Report) -> List[str]:
        out = ["risk matrix (rows: probability, columns: impact)"]
        out.append("      " + "".join(f"{i:>4}" for i in range(1, 6)))
        for probability, counts in risk_matrix(report):
            cells = []
            for impact, n in enumerate(counts, start=1):
                text = f"{n if n else '.':>4}"
                colour = _COLOURS[Severity.from_score(probability * impact)]
                cells.append(self._paint(text, colour) if n else text)
            out.append(f"{probability:>6}" + "".join(cells))
        return out

    def _grid(self, report: Report) -> List[str]:
        """The compact matrix: each cell its count (``.`` for none) and its band letter, probability 5 on top."""
        rows = risk_matrix(report)
        width = max(len(str(n)) for _, counts in rows for n in counts) + 1
        out = ["risk matrix: probability x impact; L low, M medium, H high, C critical"]
        out.append("  p\\i " + "".join(f"  {i:>{width}}" for i in range(1, 6)))
        for probability, counts in rows:
            cells = []
            for impact, n in enumerate(counts, start=1):
                severity = Severity.from_score(probability * impact)
                text = f"{n if n else '.':>{width - 1}}{_LETTERS[severity]}"
                cells.append("  " + (self._paint(text, _COLOURS[severity]) if n else text))
            out.append(f"{probability:>5} " + "".join(cells))
        return out

    def _counts(self, report: Report) -> str:
        counts = report.counts()
        parts = [self._paint(f"{s.label} {counts[s.label]}", _COLOURS[s]) for s in SEVERITIES_DOWN]
        return ", ".join(parts) + f" (total {len(report.findings)})"

    def _threshold(self, report: Report) -> str:
        threshold = threshold_label(report)
        if report.fail_on is None:
            return "fail on never: nothing fails"
        failing = len(report.failing())
        if failing:
            verb = "fails" if failing == 1 else "fail"
            text = f"fail on {threshold}: {plural(failing, 'finding')} at or above {threshold} {verb}"
            return self._paint(text, _COLOURS[Severity.CRITICAL])
        return self._paint(f"fail on {threshold}: no finding at or above {threshold}", _GREEN)


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
