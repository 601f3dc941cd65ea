"""The JUnit XML report, for the test-report views of GitLab, Jenkins and GitHub.

One ``<testsuite name="envcheck">`` inside ``<testsuites>``. Every finding is a testcase (``classname`` the
component, ``name`` "id: subject"): a ``<failure type="severity">`` when it reaches the threshold, a passing case
whose ``<system-out>`` explains it otherwise. Components with no finding pass as "component: no drift"; components
that could not be compared are ``<skipped>``. A finding a check saw or answered carries
``<properties><property name="evidence" value="observed"/></properties>`` (or ``observed-equivalent``,
``observed-imports``); an inferred one carries none. Data is written as one line each: characters XML 1.0 cannot
hold, newlines and the other characters ``escape.printable`` escapes appear as their escapes (``\\n``, ``\\x1b``,
``\\udcff``), so the document is valid and no line of it comes from the inspected environment.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Dict, List

from envcheck.findings import COMPONENTS, INFERRED, Finding, Report
from envcheck.report.escape import printable
from envcheck.report.interface import Reporter, is_failing, ordered

_NOT_XML = re.compile("[\ufffe\uffff]")  # printable leaves these two noncharacters
SUITE = "envcheck"


def _x(text: str) -> str:
    """Data made legal in XML 1.0 and printable on one line; ElementTree escapes ``<``, ``&`` and quotes."""
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", printable(text))


def _details(finding: Finding) -> str:
    return "\n".join(
        [
            f"expected: {_x(finding.expected or '(none)')}",
            f"actual: {_x(finding.actual or '(none)')}",
            f"risks: {', '.join(finding.risks)}",
            f"score: {finding.score} (probability {finding.probability} x impact {finding.impact}, "
            f"{finding.severity.label})",
            f"remedy: {_x(finding.remedy)}",
        ]
    )


class JunitReporter(Reporter):
    """Renders the report as JUnit XML."""

    name = "junit"

    def render(self, report: Report) -> str:
        """Return the XML document, with its declaration."""
        cases: List[ET.Element] = []
        failures = 0
        for finding in ordered(report):
            case = _case(finding.component, f"{finding.id}: {finding.subject}")
            if finding.evidence != INFERRED:
                # Properties come first in a testcase (as pytest writes them); a guess carries none.
                properties = ET.SubElement(case, "properties")
                ET.SubElement(properties, "property", {"name": "evidence", "value": finding.evidence})
            if is_failing(report, finding):
                failures += 1
                failure = ET.SubElement(
                    case, "failure", {"type": finding.severity.label, "message": _x(finding.message)}
                )
                failure.text = _details(finding)
            else:
                out = ET.SubElement(case, "system-out")
                out.text = f"{_x(finding.message)}\nfix: {_x(finding.remedy)}"
            cases.append(case)
        with_findings = {f.component for f in report.findings}
        for component in COMPONENTS:
            if component not in with_findings and component not in report.skipped:
                cases.append(_case(component, f"{component}: no drift"))
        for component, why in report.skipped.items():
            case = _case(component, f"{component}: not compared")
            ET.SubElement(case, "skipped", {"message": _x(why)})
            cases.append(case)

        counts = _counts(len(cases), failures, len(report.skipped))
        root = ET.Element("testsuites", {"name": SUITE, **counts})
        suite = ET.SubElement(root, "testsuite", {"name": SUITE, **counts})
        suite.extend(cases)
        ET.indent(root)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def _case(classname: str, name: str) -> ET.Element:
    return ET.Element("testcase", {"classname": _x(classname), "name": _x(name), "time": "0"})


def _counts(tests: int, failures: int, skipped: int) -> Dict[str, str]:
    return {"tests": str(tests), "failures": str(failures), "errors": "0", "skipped": str(skipped), "time": "0"}
