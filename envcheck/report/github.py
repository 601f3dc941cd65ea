"""GitHub Actions workflow commands: one annotation per finding, most severe first.

Findings at or above the threshold are ``::error``, the others ``::warning``. GitHub shows only the first ten
of each kind per step, so when more exist the tenth annotation says how many were left out; the job summary
(the markdown report) lists them all. The output ends with a plain summary line that is not an annotation.
A finding a check saw or answered has its evidence in the title (``envcheck high [observed]: numerics.changed``),
and the summary line counts them.
Data is escaped by the workflow-command rules, so no message can end an annotation early or start a command, and
its other control characters are shown escaped (``escape.printable``): the log viewer would act on ANSI codes.
"""

from __future__ import annotations

from typing import List, Sequence

from envcheck.findings import Finding, Report
from envcheck.report.escape import printable
from envcheck.report.interface import (
    SEVERITIES_DOWN,
    Reporter,
    evidence_summary,
    evidence_tag,
    is_failing,
    names,
    ordered,
    plural,
    threshold_label,
)

ANNOTATION_LIMIT = 10
"""Annotations of one kind that GitHub shows per step."""


def escape_data(text: str) -> str:
    """Escape a command's message: ``%``, CR and LF as the runner decodes them; other control characters (and
    every character ``printable`` escapes) as text."""
    text = printable(text, keep="\r\n")
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a property value: as data, plus ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(kind: str, title: str, message: str) -> str:
    """One workflow command line, ``::kind title=...::message``, with both parts escaped."""
    return f"::{kind} title={escape_property(title)}::{escape_data(message)}"


class GithubReporter(Reporter):
    """Renders GitHub Actions annotations, one per line."""

    name = "github"

    def render(self, report: Report) -> str:
        """Return the workflow commands and the closing summary line."""
        expected, actual = names(report)
        if not report.findings:
            message = f"no drift: {actual} matches {expected}"
            if report.skipped:
                message += f" ({_skipped(report)})"
            return command("notice", "envcheck", message)
        findings = ordered(report)
        errors = [f for f in findings if is_failing(report, f)]
        warnings = [f for f in findings if not is_failing(report, f)]
        lines = _annotations("error", errors, report) + _annotations("warning", warnings, report)
        lines.append(_summary(report))
        return "\n".join(lines)


def _annotations(kind: str, findings: Sequence[Finding], report: Report) -> List[str]:
    shown = findings if len(findings) <= ANNOTATION_LIMIT else findings[: ANNOTATION_LIMIT - 1]
    lines = [command(kind, _title(f), f"{f.message} Fix: {f.remedy}") for f in shown]
    hidden = len(findings) - len(shown)
    if hidden:
        where = f"at or above {threshold_label(report)}" if kind == "error" else "below the threshold"
        lines.append(
            command(
                kind,
                f"envcheck: {hidden} more",
                f"{plural(hidden, 'more finding')} {where} not annotated here (GitHub shows "
                f"{ANNOTATION_LIMIT} per kind); the job summary lists them all.",
            )
        )
    return lines


def _title(finding: Finding) -> str:
    """``envcheck high: rule``, with the evidence tag before the colon when a check saw or answered it."""
    tag = evidence_tag(finding)
    return f"envcheck {finding.severity.label}{' ' + tag if tag else ''}: {finding.id}"


def _skipped(report: Report) -> str:
    return "not compared: " + "; ".join(f"{c} — {why}" for c, why in report.skipped.items())


def _summary(report: Report) -> str:
    counts = report.counts()
    parts = ", ".join(f"{s.label} {counts[s.label]}" for s in SEVERITIES_DOWN)
    threshold = threshold_label(report)
    failing = len(report.failing())
    verdict = "fail-on never" if report.fail_on is None else f"{failing} at or above {threshold}"
    line = f"envcheck: {plural(len(report.findings), 'finding')} ({parts}); {verdict}"
    basis = evidence_summary(report)
    if basis:
        line += f"; {basis}"
    if report.skipped:
        line += f"; {_skipped(report)}"
    # A plain line, but still data: escaping keeps a newline in a reason from starting a workflow command.
    return escape_data(line)
