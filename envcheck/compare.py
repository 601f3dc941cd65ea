"""Pure comparison: expected fingerprint vs actual -> a ``Report`` of classified, explained findings.

Component comparators (``envcheck.rules.*``) say what changed; this module skips what one side could not show,
applies the policy (ignored rules and packages, tolerances, overrides) and renders each change with its rule.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, FrozenSet, Iterable, List, Optional, Tuple

from envcheck.causes import attribute, root_changes
from envcheck.findings import (
    AVAILABILITY,
    INFERRED,
    OBSERVED,
    OBSERVED_EQUIVALENT,
    OBSERVED_IMPORTS,
    Finding,
    Report,
    Severity,
)
from envcheck.model import NONE_FOUND, OK, Fingerprint
from envcheck.modelscope import ModelScope, model_scope, shift
from envcheck.numerics.compare import all_equal
from envcheck.numerics.findings import numerics_changes, observed_equivalent
from envcheck.observed import Observed, imported, observed_changes
from envcheck.policy import Policy
from envcheck.rules.environment import compare_env
from envcheck.rules.hardware import compare_cpu, compare_gpu, compare_memory, compare_native
from envcheck.rules.interface import Change, Comparator
from envcheck.rules.models import compare_models, superseded
from envcheck.rules.nvidia_require import compare_nvidia_require
from envcheck.rules.packages import compare_packages
from envcheck.rules.platform import compare_os, compare_python
from envcheck.rules.rulebook import BY_ID
from envcheck.rules.runtime import compare_runtime_gpu, compare_runtime_native
from envcheck.rules.selfcheck import self_check
from envcheck.show import summary

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


#: What a weighed finding's message adds, by the levels it moved.
_WEIGHED = {
    1: " (the model uses it: raised one level)",
    -1: " (the model neither references nor needs it: lowered one level)",
}


def weight(change: Change, scope: ModelScope, policy: Policy) -> int:
    """Levels the model moves a finding: +1 for a package the model references (or the policy calls
    model-critical), -1 for one the recorded model neither references nor needs, 0 otherwise. The policy's own
    numbers for a rule win: a rule it overrides is not moved."""
    if not change.package or change.rule in policy.rules or BY_ID[change.rule].component == "models":
        return 0
    if change.package in policy.model_critical:
        return 1
    return scope.weight(change.package)


#: Rules about a package that guess it may fail to import, which an import seen to work answers.
_NOT_IMPORT_GUESSES = (
    "package.missing",
    "package.missing.critical",
    "evidence.import.failed",
    "package.files.modified",
)


def render(
    change: Change, policy: Policy, levels: int = 0, imports: bool = False, equivalent: bool = False
) -> Finding:
    """A change, through its rule and the policy's overrides, as a finding; ``levels`` moves it up or down the
    matrix (``weight``); ``imports``: the import check saw the change's package import in the candidate, which
    answers the rule's availability guess (a guess of both risks keeps the prediction risk; an availability-only
    guess drops to low); ``equivalent``: the numerics battery came out equivalent (bitwise, or within rounding)
    in the candidate, which answers this guess about numbers: it is lowered one level ("observed equivalent").

    The finding's ``evidence`` says what it rests on: ``observed`` for a rule that reports what a check saw,
    else ``observed-equivalent`` or ``observed-imports`` for a guess a check answered, else ``inferred``.

    A change that measured its own impact (``numerics.changed``: from the error the battery saw) carries it in
    its ``impact`` field; the policy's number for the rule still wins."""
    rule = BY_ID[change.rule]
    override = policy.rules.get(rule.id)
    probability = override.probability if override and override.probability else rule.probability
    impact = override.impact if override and override.impact else int(change.fields.get("impact", rule.impact))
    risks = rule.risks
    note = ""
    evidence = INFERRED
    # an import seen to work answers a guess that a package may fail to import, nothing more: a model file's
    # writer story (it loads but predicts wrongly, or fails at predict) stays as the rule says
    if imports and AVAILABILITY in risks and rule.component == "packages" and rule.id not in _NOT_IMPORT_GUESSES:
        if len(risks) > 1:
            risks = tuple(r for r in risks if r != AVAILABILITY)
            note = " (observed: it imports in the candidate; the prediction risk remains)"
        else:
            levels = -3
            note = " (observed: it imports in the candidate)"
        evidence = OBSERVED_IMPORTS
    if equivalent:
        levels -= 1
        evidence = OBSERVED_EQUIVALENT
        note += " (observed equivalent: the numerics battery gives the same numbers here; lowered one level)"
    moved = shift(probability, impact, levels)
    values: Dict[str, str] = {
        "subject": change.subject,
        "expected": change.expected or "-",
        "actual": change.actual or "-",
        **change.fields,
    }
    message = rule.message.format_map(values)
    if note:
        message += note
    elif moved != (probability, impact):
        message += _WEIGHED[1 if levels > 0 else -1]
    return Finding(
        id=rule.id,
        component=rule.component,
        subject=change.subject,
        expected=change.expected,
        actual=change.actual,
        risks=risks,
        probability=moved[0],
        impact=moved[1],
        message=message,
        remedy=rule.remedy.format_map(values),
        evidence=OBSERVED if rule.observed else evidence,
    )


def _kept(change: Change, policy: Policy) -> bool:
    if policy.ignores_rule(change.rule):
        return False
    return not (change.package and change.package in policy.ignore_packages)


def findings_from(
    changes: Iterable[Change],
    policy: Policy,
    scope: Optional[ModelScope] = None,
    imports: FrozenSet[str] = frozenset(),
    equivalent: Callable[[Change], bool] = lambda change: False,
) -> Tuple[Finding, ...]:
    """Render the changes the policy keeps, weighed by the model's ``scope``, by the distributions seen to
    import (``imports``) and by what the numerics battery answers (``equivalent``), most severe first; one
    finding per (rule, subject, instance)."""
    scope = scope or ModelScope()
    seen = set()
    out: List[Finding] = []
    for change in changes:
        key = (change.rule, change.subject, change.instance)
        if key in seen or not _kept(change, policy):
            continue
        seen.add(key)
        levels = weight(change, scope, policy)
        out.append(render(change, policy, levels, change.package in imports, equivalent(change)))
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
    observed: Optional[Observed] = None,
) -> Report:
    """Compare two fingerprints. ``self_checks`` adds the candidate's own problems (``envcheck check``);
    ``observed``, what the opt-in checks saw the candidate do (``envcheck.observed``)."""
    policy = policy or Policy()
    scope = model_scope(expected) if policy.weigh_by_model else ModelScope()
    # what the model references is model-critical: its absence is critical
    policy = dataclasses.replace(policy, model_critical=policy.model_critical | scope.referenced)
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
    if observed is not None:
        changes.extend(observed_changes(observed, actual, expected))
    changes.extend(numerics_changes(expected, actual))
    changes.extend(root_changes(expected, changes))
    equal = all_equal(expected.numerics, actual.numerics)

    def equivalent(change: Change) -> bool:
        return change.rule not in policy.rules and observed_equivalent(change, expected, actual, equal)

    findings = findings_from(superseded(changes), policy, scope, imported(observed, actual), equivalent)
    return Report(
        findings=attribute(findings, expected, actual),
        skipped=skipped,
        sides=(tuple(summary(expected)), tuple(summary(actual))),
        expected_name=expected_name,
        actual_name=actual_name,
        fail_on=fail_on,
    )


def resolve_fail_on(cli: Optional[str], policy: Policy, default: str = "high") -> Optional[Severity]:
    """The threshold: the command line's, else the policy's, else ``high``; ``never`` is None."""
    text = cli or policy.fail_on or default
    return None if text == "never" else Severity.parse(text)
