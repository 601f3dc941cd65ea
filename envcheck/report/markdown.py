"""The Markdown report, for ``$GITHUB_STEP_SUMMARY`` or a pull-request comment.

A heading that says passed or failed, a count table, the risk matrix, then one table per severity. A finding a
check saw or answered leads its "why" with a bold tag (``[observed]``...), and a line under the count table says
how many are observed and how many inferred; a report of guesses alone shows neither. Cell data is
escaped: ``|`` and Markdown punctuation with a backslash, ``<``/``>``/``&`` as entities (GitHub would otherwise
drop them as HTML), newlines as ``<br>``, other control characters as their escapes (``escape.printable``).
"""

from __future__ import annotations

import re
from typing import List

from envcheck.findings import Finding, Report
from envcheck.report.escape import printable
from envcheck.report.interface import (
    SEVERITIES_DOWN,
    Reporter,
    by_severity,
    consequences_line,
    evidence_summary,
    evidence_tag,
    names,
    plural,
    risk_matrix,
    threshold_label,
)

_PUNCTUATION = re.compile(r"([\\|`*_\[\]#~])")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def escape_cell(text: str) -> str:
    """Make ``text`` safe inside a table cell: one line, no column breaks, no accidental formatting, nothing a
    terminal or a renderer acts on."""
    text = "".join(_ENTITIES.get(c, c) for c in printable(text, keep="\r\n"))
    text = _PUNCTUATION.sub(r"\\\1", text)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")


def _table(header: List[str], rows: List[List[str]], align: str = "---") -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([align] * len(header)) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


class MarkdownReporter(Reporter):
    """Renders a GitHub-flavoured Markdown summary."""

    name = "markdown"

    def render(self, report: Report) -> str:
        """Return the Markdown document."""
        expected, actual = names(report)
        compared = f"Compared {escape_cell(actual)} with {escape_cell(expected)}"
        if not report.findings:
            lines = ["## envcheck: no drift", "", f"{compared}: no drift found."]
            return "\n".join(lines + _skipped(report))
        lines = [f"## envcheck: {_status(report)}", "", f"{compared}; fail on {threshold_label(report)}.", ""]
        counts = report.counts()
        rows = [[s.label, str(counts[s.label])] for s in SEVERITIES_DOWN]
        lines += _table(["severity", "findings"], [*rows, ["**total**", str(len(report.findings))]])
        basis = evidence_summary(report)
        if basis:
            lines += ["", f"Findings: {basis}."]
        lines += ["", "### Risk matrix", ""]
        matrix = [[str(p)] + [str(n) if n else "·" for n in counts_] for p, counts_ in risk_matrix(report)]
        lines += _table(["probability \\ impact", "1", "2", "3", "4", "5"], matrix, align=":-:")
        for severity, findings in by_severity(report, headlines=True).items():
            lines += ["", f"### {severity.label.capitalize()} ({len(findings)})", ""]
            rows = [
                [
                    escape_cell(f.component),
                    escape_cell(f.subject),
                    f"{escape_cell(f.expected or '(none)')} → {escape_cell(f.actual or '(none)')}",
                    ", ".join(f.risks),
                    _why(f, report),
                    escape_cell(f.remedy),
                ]
                for f in findings
            ]
            lines += _table(["component", "subject", "then → now", "risks", "why", "fix"], rows)
        return "\n".join(lines + _skipped(report))


def _why(finding: Finding, report: Report) -> str:
    """The "why" cell: the message, led by a bold tag when a check saw or answered the finding, and how many
    findings follow from it."""
    text = escape_cell(" ".join(filter(None, [finding.message, consequences_line(finding, report)])))
    tag = evidence_tag(finding)
    # The tag is envcheck's own text: bold, brackets escaped so that no renderer reads a link.
    return f"**{escape_cell(tag)}** {text}" if tag else text


def _status(report: Report) -> str:
    total = plural(len(report.findings), "finding")
    if report.fail_on is None:
        return f"passed — {total} (fail on never)"
    failing = len(report.failing())
    threshold = report.fail_on.label
    if failing:
        return f"failed — {failing} of {total} at or above {threshold}"
    return f"passed — {total}, none at or above {threshold}"


def _skipped(report: Report) -> List[str]:
    lines = []
    if report.skipped:
        lines += ["", "### Not compared", ""]
        lines += [f"- **{escape_cell(c)}**: {escape_cell(why)}" for c, why in report.skipped.items()]
    if report.evidence:
        lines += ["", "### Evidence", ""]
        lines += [f"- {escape_cell(line)}" for line in report.evidence]
    return lines
