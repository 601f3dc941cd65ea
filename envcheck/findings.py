"""Findings: what a comparison reports, placed on the 5x5 risk matrix, and the report that carries them.

Pure data. A finding's severity follows from probability x impact: low 1-4, medium 5-9, high 10-16,
critical 20-25.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Dict, Tuple

REPORT_SCHEMA = 1

AVAILABILITY = "availability"
"""The model may fail to import, load or run."""
PREDICTION = "prediction"
"""The model may run and return silently different numbers."""
RISKS = (AVAILABILITY, PREDICTION)

COMPONENTS = ("os", "python", "packages", "native", "cpu", "memory", "gpu", "env", "models")

# What a finding rests on. Evidence outranks a guess: a check that ran the candidate's code either is the finding
# or has answered part of the guess, and the report says which (``Finding.evidence``).
OBSERVED = "observed"
"""A check saw it in the candidate: a module that failed to import, a model file that failed to load, numerics
kernels that gave other numbers, a golden case the served model answered otherwise."""
OBSERVED_EQUIVALENT = "observed-equivalent"
"""A guess about numbers that the numerics battery answered: its kernels gave the same numbers in the candidate
(bitwise or within rounding), so the guess was lowered one level."""
OBSERVED_IMPORTS = "observed-imports"
"""A guess that a package may fail to import, answered by the import check: it was seen to import in the
candidate, so the availability part was dropped (what remains is still a guess)."""
INFERRED = "inferred"
"""Guessed from metadata only (versions, builds, variables, files): nothing ran to confirm or answer it."""
EVIDENCE_KINDS = (OBSERVED, OBSERVED_EQUIVALENT, OBSERVED_IMPORTS, INFERRED)
"""Every value ``Finding.evidence`` may take, in the order reports count them."""


class Severity(enum.IntEnum):
    """Ordered: a threshold compares with ``>=``."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_score(cls, score: int) -> Severity:
        """Place a probability x impact product (1..25) on the matrix."""
        if not 1 <= score <= 25:
            raise ValueError(f"risk score {score} is outside 1..25")
        if score >= 20:
            return cls.CRITICAL
        if score >= 10:
            return cls.HIGH
        if score >= 5:
            return cls.MEDIUM
        return cls.LOW

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (one of {names})") from None


@dataclass(frozen=True)
class Finding:
    """One difference that matters, explained."""

    id: str
    """The rule that fired, stable across releases: ``package.version.major``."""
    component: str
    """One of ``COMPONENTS``."""
    subject: str
    """What changed: a package name, a variable, a device, or the component itself."""
    expected: str
    """What the lockfile recorded (empty when it recorded nothing)."""
    actual: str
    """What the candidate has (empty when it has nothing)."""
    risks: Tuple[str, ...]
    probability: int
    """1..5: how likely the change is to hurt this model."""
    impact: int
    """1..5: how badly, when it does."""
    message: str
    """What changed and why it matters: "then X, now Y — why"."""
    remedy: str
    """What to do about it."""
    cause: str = ""
    """The id of the root-cause finding this one follows from (``python.version.minor`` for a wheel rebuilt for
    the new Python), empty when it stands on its own. Text and Markdown reports file it under that finding."""
    evidence: str = INFERRED
    """What the finding rests on, one of ``EVIDENCE_KINDS``: ``observed`` (a check saw it), ``observed-equivalent``
    or ``observed-imports`` (a guess a check answered in part, and lowered), ``inferred`` (metadata only)."""

    def __post_init__(self) -> None:
        if not (1 <= self.probability <= 5 and 1 <= self.impact <= 5):
            raise ValueError(f"{self.id}: probability and impact must be 1..5")
        if not self.risks or any(r not in RISKS for r in self.risks):
            raise ValueError(f"{self.id}: risks must be a non-empty subset of {RISKS}")
        if self.evidence not in EVIDENCE_KINDS:
            raise ValueError(f"{self.id}: evidence {self.evidence!r} is not one of {', '.join(EVIDENCE_KINDS)}")

    @property
    def score(self) -> int:
        return self.probability * self.impact

    @property
    def severity(self) -> Severity:
        return Severity.from_score(self.score)

    def sort_key(self) -> Tuple[int, int, str, str, str, str]:
        """Most severe first, then by component, rule, subject and message (one rule may find several things on
        one subject: each unmet requirement of a package): a stable order for every report."""
        return (-self.severity, -self.score, self.component, self.id, self.subject, self.message)


@dataclass(frozen=True)
class Report:
    """The outcome of one comparison: findings in report order, and what could not be compared."""

    findings: Tuple[Finding, ...] = ()
    skipped: Dict[str, str] = field(default_factory=dict)
    """Component -> why it was not compared (not inspected on one side, unavailable)."""
    expected_name: str = ""
    """The lockfile (or first lockfile) compared."""
    actual_name: str = ""
    """The candidate: ``local``, ``python:PATH``, the second lockfile..."""
    fail_on: Severity | None = Severity.HIGH
    """The threshold; None is ``--fail-on never``."""
    sides: Tuple[Tuple[str, ...], Tuple[str, ...]] = field(default=((), ()), compare=False)
    """A short summary of each side (OS, Python, packages, CPU, GPU, ...: ``envcheck.show.summary``), lockfile
    first, for the reports that show both environments (HTML); empty where the report compares no fingerprints.
    Presentation, not verdict: two reports with the same findings are equal whatever their summaries."""
    evidence: Tuple[str, ...] = ()
    """One line per opt-in check that ran the candidate's code (``--import``, ``--load-model``): what it
    checked, what it saw, and how it ran."""

    def counts(self) -> Dict[str, int]:
        out = {s.label: 0 for s in Severity}
        for f in self.findings:
            out[f.severity.label] += 1
        return out

    def evidence_counts(self) -> Dict[str, int]:
        """Findings by what they rest on, every kind of ``EVIDENCE_KINDS`` present (zero when none)."""
        out = {kind: 0 for kind in EVIDENCE_KINDS}
        for f in self.findings:
            out[f.evidence] += 1
        return out

    @property
    def all_inferred(self) -> bool:
        """True when no check saw or answered any finding: reports then keep their plain look."""
        return all(f.evidence == INFERRED for f in self.findings)

    @property
    def highest(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)

    def failing(self) -> Tuple[Finding, ...]:
        """Findings at or above the threshold."""
        if self.fail_on is None:
            return ()
        return tuple(f for f in self.findings if f.severity >= self.fail_on)

    @property
    def return_code(self) -> int:
        """0 when nothing reaches the threshold, 1 when something does."""
        return 1 if self.failing() else 0
