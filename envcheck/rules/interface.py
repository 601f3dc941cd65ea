"""What a comparison rule module produces: ``Change`` records that the rulebook turns into findings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from envcheck.model import Fingerprint
from envcheck.policy import Policy


@dataclass(frozen=True)
class Change:
    """A difference a rule fired on, before policy and rendering."""

    rule: str
    """Id of the rule in ``envcheck.rules.rulebook.RULES``."""
    subject: str
    expected: str = ""
    actual: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)
    """Extra values the rule's message and remedy templates use."""
    package: str = ""
    """The distribution concerned, so that ``ignore_packages`` can drop it."""
    instance: str = ""
    """What tells apart two findings of one rule on one subject (each unmet requirement of a package is its own
    finding); empty for rules that fire once per subject."""


#: A comparator looks at one component of two fingerprints and yields what changed.
Comparator = Callable[[Fingerprint, Fingerprint, Policy], Iterable[Change]]
