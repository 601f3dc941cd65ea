"""Pure comparison: expected fingerprint vs actual -> a ``Report`` of classified, explained findings.

Component comparators (``envcheck.rules.*``) say what changed; this module skips what one side could not show,
applies the policy (ignored rules and packages, tolerances, overrides) and renders each change with its rule.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Tuple

from envcheck.causes import attribute, root_changes
from envcheck.findings import Finding, Report, Severity
from envcheck.model import NONE_FOUND, OK, Fingerprint
from envcheck.policy import Policy
from envcheck.rules.environment import compare_env, compare_models
from envcheck.rules.hardware import compare_cpu, compare_gpu, compare_memory, compare_native
from envcheck.rules.interface import Change, Comparator
from envcheck.rules.nvidia_require import compare_nvidia_require
from envcheck.rules.packages import compare_packages
from envcheck.rules.platform import compare_os, compare_python
from envcheck.rules.rulebook import BY_ID
from envcheck.rules.runtime import compare_runtime_gpu, compare_runtime_native
from envcheck.rules.selfcheck import self_check

#: (component, comparator), in report order before sorting by severity.
COMPARATORS: Tuple[Tuple[str, Comparator], ...] = (
    ("python", compare_python),
    ("os", compare_os),
    ("packages", compare_packages),
    ("native", compare_native),
    ("cpu", compare_cpu),
    ("memory", compare_memory),
    ("gpu", compare_gpu),
    ("gpu", compare_runtime_gpu),
    ("gpu", compare_nvidia_require),
    ("native", compare_runtime_native),
    ("env", compare_env),
    ("models", compare_models),
)


def _skip_reason(component: str, expected: Fingerprint, actual: Fingerprint) -> Optional[str]:
    """Why a component cannot be compared, or None when it can."""
    if component == "models" and not expected.models:
        return None  # nothing recorded: nothing to compare, nothing to say
    for side, fp in (("lockfile", expected), ("candidate", actual)):
        src = fp.source(component)
        if src.status == OK or (component == "gpu" and src.status == NONE_FOUND):
            continue
        return f"{side}: {src.status} ({src.detail})" if src.detail else f"{side}: {src.status}"
    return None


def render(change: Change, policy: Policy) -> Finding:
    """A change, through its rule and the policy's overrides, as a finding."""
    rule = BY_ID[change.rule]
    override = policy.rules.get(rule.id)
    probability = override.probability if override and override.probability else rule.probability
    impact = override.impact if override and override.impact else rule.impact
    values: Dict[str, str] = {
        "subject": change.subject,
        "expected": change.expected or "-",
        "actual": change.actual or "-",
        **change.fields,
    }
    return Finding(
        id=rule.id,
        component=rule.component,
        subject=change.subject,
        expected=change.expected,
        actual=change.actual,
        risks=rule.risks,
        probability=probability,
        impact=impact,
        message=rule.message.format_map(values),
        remedy=rule.remedy.format_map(values),
    )


def _kept(change: Change, policy: Policy) -> bool:
    if policy.ignores_rule(change.rule):
        return False
    return not (change.package and change.package in policy.ignore_packages)


def findings_from(changes: Iterable[Change], policy: Policy) -> Tuple[Finding, ...]:
    """Render the changes the policy keeps, most severe first; one finding per (rule, subject, instance)."""
    seen = set()
    out: List[Finding] = []
    for change in changes:
        key = (change.rule, change.subject, change.instance)
        if key in seen or not _kept(change, policy):
            continue
        seen.add(key)
        out.append(render(change, policy))
    return tuple(sorted(out, key=Finding.sort_key))


def compare(
    expected: Fingerprint,
    actual: Fingerprint,
    policy: Optional[Policy] = None,
    *,
    self_checks: bool = False,
    expected_name: str = "lockfile",
    actual_name: str = "candidate",
    fail_on: Optional[Severity] = Severity.HIGH,
) -> Report:
    """Compare two fingerprints. ``self_checks`` adds the candidate's own problems (``envcheck check``)."""
    policy = policy or Policy()
    changes: List[Change] = []
    skipped: Dict[str, str] = {}
    for component, comparator in COMPARATORS:
        reason = _skip_reason(component, expected, actual)
        if reason is not None:
            skipped[component] = reason
            continue
        changes.extend(comparator(expected, actual, policy))
    if self_checks and actual.source("packages").status == OK:
        changes.extend(self_check(actual))
    changes.extend(root_changes(expected, changes))
    return Report(
        findings=attribute(findings_from(changes, policy)),
        skipped=skipped,
        expected_name=expected_name,
        actual_name=actual_name,
        fail_on=fail_on,
    )


def resolve_fail_on(cli: Optional[str], policy: Policy, default: str = "high") -> Optional[Severity]:
    """The threshold: the command line's, else the policy's, else ``high``; ``never`` is None."""
    text = cli or policy.fail_on or default
    return None if text == "never" else Severity.parse(text)
