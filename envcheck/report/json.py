"""The JSON report: the whole comparison as data, for scripts and dashboards.

Keys come out in a fixed order and findings most severe first, so two runs over the same environments give the
same bytes. Every finding says what it rests on (``evidence``) and the summary counts findings by it, every kind
present. Non-ASCII text is escaped, so the output survives any stream encoding.
"""

from __future__ import annotations

import json
from typing import Any, Dict

from envcheck.findings import REPORT_SCHEMA, Finding, Report
from envcheck.report.interface import Reporter, ordered


def finding_to_dict(finding: Finding) -> Dict[str, Any]:
    """One finding as a JSON object, with its derived score and severity label, and ``evidence``: what it rests
    on (``observed``, ``observed-equivalent``, ``observed-imports`` or ``inferred``)."""
    return {
        "id": finding.id,
        "component": finding.component,
        "subject": finding.subject,
        "expected": finding.expected,
        "actual": finding.actual,
        "risks": list(finding.risks),
        "probability": finding.probability,
        "impact": finding.impact,
        "score": finding.score,
        "severity": finding.severity.label,
        "message": finding.message,
        "remedy": finding.remedy,
        "cause": finding.cause,
        "evidence": finding.evidence,
    }


def report_to_dict(report: Report) -> Dict[str, Any]:
    """The report as the JSON object that ``JsonReporter`` serialises."""
    highest = report.highest
    return {
        "schema": REPORT_SCHEMA,
        "expected": report.expected_name,
        "actual": report.actual_name,
        "fail_on": None if report.fail_on is None else report.fail_on.label,
        "summary": {
            "counts": report.counts(),
            "highest": None if highest is None else highest.label,
            "total": len(report.findings),
            "failing": len(report.failing()),
            "evidence": report.evidence_counts(),
        },
        "skipped": dict(report.skipped),
        "evidence": list(report.evidence),
        "findings": [finding_to_dict(f) for f in ordered(report)],
    }


class JsonReporter(Reporter):
    """Renders the report as an indented JSON object (see ``report_to_dict``)."""

    name = "json"

    def render(self, report: Report) -> str:
        """Return the JSON text, indented by two spaces."""
        return json.dumps(report_to_dict(report), indent=2)
