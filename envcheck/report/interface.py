"""What every reporter looks like, and the views of a report that several formats share.

A reporter turns a :class:`~envcheck.findings.Report` into text and returns it: it never prints, opens files or
looks at the terminal. The CLI decides where the text goes (and whether the terminal wants colour). Rendered text
carries no trailing newline; the caller adds one when it writes a line-oriented stream.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Dict, List, Tuple

from envcheck.errors import EnvcheckError
from envcheck.findings import INFERRED, OBSERVED, OBSERVED_EQUIVALENT, OBSERVED_IMPORTS, Finding, Report, Severity

SEVERITIES_DOWN: Tuple[Severity, ...] = tuple(sorted(Severity, reverse=True))
"""Critical first: the order every report groups in."""


class ReportError(EnvcheckError):
    """Base error of reporters; raised for misuse (an unknown format), never for a report's content."""


class UnknownFormatError(ReportError, ValueError):
    """The requested output format does not exist."""


class Reporter(ABC):
    """Renders a report in one format."""

    name: ClassVar[str]
    """The ``--format`` value that selects this reporter."""

    @abstractmethod
    def render(self, report: Report) -> str:
        """Return the whole rendering of ``report``, without a trailing newline."""


def ordered(report: Report) -> List[Finding]:
    """The report's findings, most severe first (``Finding.sort_key``)."""
    return sorted(report.findings, key=Finding.sort_key)


def by_severity(report: Report, *, headlines: bool = False) -> Dict[Severity, List[Finding]]:
    """Findings grouped by severity, critical first; severities without findings are left out. ``headlines``:
    only findings that stand on their own (a root cause's consequences are filed under it: ``consequences``)."""
    groups: Dict[Severity, List[Finding]] = {}
    for finding in ordered(report):
        if headlines and finding.cause:
            continue
        groups.setdefault(finding.severity, []).append(finding)
    return {s: groups[s] for s in SEVERITIES_DOWN if s in groups}


#: How many consequences of a root cause the text and Markdown reports name.
FIRST_CONSEQUENCES = 5


def consequences_line(finding: Finding, report: Report) -> str:
    """One line under a root cause: how many findings follow from it, and the first few subjects; empty when
    none do."""
    follow = [f for f in ordered(report) if f.cause == finding.id]
    if not follow:
        return ""
    subjects = ", ".join(f.subject for f in follow[:FIRST_CONSEQUENCES])
    more = f", and {len(follow) - FIRST_CONSEQUENCES} more" if len(follow) > FIRST_CONSEQUENCES else ""
    rules = ", ".join(sorted({f.id for f in follow}))
    verb = "follows" if len(follow) == 1 else "follow"
    return f"{plural(len(follow), 'finding')} {verb} from this ({rules}): {subjects}{more} (all in --format json)"


def evidence_tag(finding: Finding) -> str:
    """``[observed]``, ``[observed-equivalent]`` or ``[observed-imports]`` for a finding a check saw or answered;
    empty for an inferred one, so a report of guesses alone keeps its plain look."""
    return "" if finding.evidence == INFERRED else f"[{finding.evidence}]"


def evidence_summary(report: Report) -> str:
    """How many findings a check saw, how many guesses one answered, how many are inferred from
    metadata; empty when every finding is inferred (nothing ran, or nothing it saw bears on a finding)."""
    if report.all_inferred:
        return ""
    counts = report.evidence_counts()
    answered = counts[OBSERVED_EQUIVALENT] + counts[OBSERVED_IMPORTS]
    parts = [f"{counts[OBSERVED]} observed in the candidate"]
    if answered:
        kinds = ", ".join(f"{counts[k]} {k}" for k in (OBSERVED_EQUIVALENT, OBSERVED_IMPORTS) if counts[k])
        guesses = "guess" if answered == 1 else "guesses"
        parts.append(f"{answered} {guesses} answered by a check ({kinds})")
    parts.append(f"{counts[INFERRED]} inferred from metadata")
    return ", ".join(parts)


def risk_matrix(report: Report) -> List[Tuple[int, List[int]]]:
    """Counts on the 5x5 matrix: rows of ``(probability, counts by impact 1..5)``, probability 5 first."""
    cells = {(p, i): 0 for p in range(1, 6) for i in range(1, 6)}
    for finding in report.findings:
        cells[finding.probability, finding.impact] += 1
    return [(p, [cells[p, i] for i in range(1, 6)]) for p in range(5, 0, -1)]


def is_failing(report: Report, finding: Finding) -> bool:
    """Whether ``finding`` reaches the report's threshold (never, when the threshold is None)."""
    return report.fail_on is not None and finding.severity >= report.fail_on


def threshold_label(report: Report) -> str:
    """The threshold as ``--fail-on`` spells it: a severity label, or ``never``."""
    return "never" if report.fail_on is None else report.fail_on.label


def names(report: Report) -> Tuple[str, str]:
    """``(expected, actual)`` names, with readable stand-ins when the report leaves them empty."""
    return (report.expected_name or "the lockfile", report.actual_name or "the candidate")


def plural(n: int, word: str) -> str:
    """``1 finding``, ``2 findings``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
