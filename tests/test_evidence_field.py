"""Every finding says what it rests on: ``observed`` when a check saw it in the candidate (an import, a load, the
numerics battery, a golden case), ``observed-equivalent`` / ``observed-imports`` when a check answered part of a
guess, ``inferred`` when only metadata speaks. Built through the real paths: ``compare`` with an ``Observed`` and
with numerics batteries, and the canary's ``report_for``."""

from __future__ import annotations

import dataclasses
import json
from typing import Dict

import pytest

from envcheck.canary.run import CanaryRun, report_for
from envcheck.compare import compare
from envcheck.findings import (
    AVAILABILITY,
    EVIDENCE_KINDS,
    INFERRED,
    OBSERVED,
    OBSERVED_EQUIVALENT,
    OBSERVED_IMPORTS,
    PREDICTION,
    Finding,
    Report,
)
from envcheck.golden.case import DEFAULT_TOLERANCE
from envcheck.golden.compare import compare_outputs
from envcheck.observed import Observed, Seen
from envcheck.policy import Policy
from envcheck.report.json import JsonReporter
from envcheck.rules.rulebook import RULES
from envcheck.show import render_rules
from tests.numerics.test_findings import NUMERICS, _fp, _moved
from tests.test_observed import DTYPE, LOCK, moved

#: Rules whose findings are what a check saw (at least these); every other rule guesses from metadata.
OBSERVED_RULES = {
    "evidence.import.failed",
    "evidence.load.failed",
    "numerics.changed",
    "canary.failed",
    "package.files.modified",
}
#: The checks' own rule families: the import and load checks, the numerics battery, the canary; and the file
#: check's one rule (``--files``), named for what it is about, as the issue that asked for it named it.
CHECK_FAMILIES = ("evidence.", "numerics.", "canary.", "package.files.")


def _by_id(report: Report) -> Dict[str, Finding]:
    return {f.id: f for f in report.findings}


# --- the field ------------------------------------------------------------------------------------------------


def _finding(**kw: str) -> Finding:
    return Finding(
        "package.version.major", "packages", "numpy", "1.0", "2.0", (AVAILABILITY,), 3, 4, "m", "r", **kw
    )


def test_a_finding_is_inferred_unless_told_otherwise() -> None:
    assert _finding().evidence == INFERRED
    assert EVIDENCE_KINDS == ("observed", "observed-equivalent", "observed-imports", "inferred")
    assert [_finding(evidence=kind).evidence for kind in EVIDENCE_KINDS] == list(EVIDENCE_KINDS)


@pytest.mark.parametrize("value", ["", "seen", "Observed", "observed_imports"])
def test_an_unknown_evidence_value_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match=r"package.version.major: evidence .* is not one of observed, "):
        _finding(evidence=value)


def test_evidence_does_not_change_the_order() -> None:
    assert _finding(evidence=OBSERVED).sort_key() == _finding().sort_key()
    with pytest.raises(dataclasses.FrozenInstanceError):
        _finding().evidence = OBSERVED  # type: ignore[misc]


def test_the_rulebook_marks_exactly_the_rules_that_report_what_a_check_saw() -> None:
    assert {rule.id for rule in RULES if rule.observed} >= OBSERVED_RULES
    for rule in RULES:
        assert rule.observed == rule.id.startswith(CHECK_FAMILIES), rule.id


def test_the_rules_table_has_a_basis_column() -> None:
    lines = render_rules().split("\n")
    assert lines[0].split()[-1] == "basis"
    basis = {line.split()[0]: line.split()[-1] for line in lines[1:] if line}
    assert {rule for rule, kind in basis.items() if kind == OBSERVED} == {r.id for r in RULES if r.observed}
    assert set(basis.values()) == {OBSERVED, INFERRED}
    markdown = render_rules("markdown").split("\n")
    assert markdown[0] == "| rule | component | risks | P | I | severity | basis |"
    assert "| `canary.failed` | models | prediction | 4 | 4 | high | observed |" in markdown


# --- through compare --------------------------------------------------------------------------------------------


def test_a_version_drift_is_inferred() -> None:
    (finding,) = compare(LOCK, moved(LOCK, "filelock", "4.0.0")).findings
    assert finding.id == "package.version.major" and finding.evidence == INFERRED


def test_a_module_that_fails_to_import_and_a_model_that_fails_to_load_are_observed() -> None:
    seen = Observed(
        imports={"sklearn": Seen(False, DTYPE)},
        loads={"model.pkl": Seen(False, "ModuleNotFoundError: No module named 'numpy._core'")},
        how="python3.12, no network",
    )
    findings = _by_id(compare(LOCK, LOCK, observed=seen))
    assert set(findings) == {"evidence.import.failed", "evidence.load.failed"}
    assert {f.evidence for f in findings.values()} == {OBSERVED}


def test_a_package_seen_to_import_marks_its_guess_observed_imports() -> None:
    candidate = moved(LOCK, "filelock", "4.0.0")  # a major move: availability and prediction
    (guess,) = compare(LOCK, candidate).findings
    (answered,) = compare(LOCK, candidate, observed=Observed(imports={"filelock": Seen(True)})).findings
    assert (guess.evidence, answered.evidence) == (INFERRED, OBSERVED_IMPORTS)
    assert answered.risks == (PREDICTION,) and "observed: it imports" in answered.message
    # a package the check did not import keeps its guess
    (other,) = compare(LOCK, candidate, observed=Observed(imports={"numpy": Seen(True)})).findings
    assert other.evidence == INFERRED


def test_a_changed_kernel_is_observed() -> None:
    (found,) = [f for f in compare(_fp(NUMERICS), _fp(_moved(1e-5))).findings if f.id == "numerics.changed"]
    assert found.evidence == OBSERVED


def test_an_equivalent_battery_marks_the_guesses_it_answered_observed_equivalent() -> None:
    expected, actual = _fp(NUMERICS, "2.3.5"), _fp(NUMERICS, "2.4.6", OPENBLAS_NUM_THREADS="1")
    without = _by_id(compare(_fp(None, "2.3.5"), _fp(None, "2.4.6", OPENBLAS_NUM_THREADS="1")))
    answered = _by_id(compare(expected, actual))
    assert set(answered) == set(without) == {"package.version.minor.numeric", "env.threads"}
    assert {f.evidence for f in without.values()} == {INFERRED}
    assert {f.evidence for f in answered.values()} == {OBSERVED_EQUIVALENT}
    # a battery that changed answers nothing: the guesses stay inferred, beside the observed change
    changed = _by_id(compare(expected, _fp(_moved(1e-5), "2.4.6", OPENBLAS_NUM_THREADS="1")))
    assert {rule: f.evidence for rule, f in changed.items()} == {
        "package.version.minor.numeric": INFERRED,
        "env.threads": INFERRED,
        "numerics.changed": OBSERVED,
    }


def test_a_policy_override_of_an_observed_rule_keeps_it_observed() -> None:
    from envcheck.policy import RuleOverride

    policy = Policy(rules={"numerics.changed": RuleOverride(probability=2, impact=2)})
    (found,) = [
        f for f in compare(_fp(NUMERICS), _fp(_moved(1e-5)), policy).findings if f.id == "numerics.changed"
    ]
    assert (found.score, found.evidence) == (4, OBSERVED)


def test_a_golden_case_answered_otherwise_is_observed() -> None:
    results = (
        compare_outputs("case1", [1.0, 2.0], [1.0, 2.5], DEFAULT_TOLERANCE),
        compare_outputs("case2", [1.0], [1.0], DEFAULT_TOLERANCE),
    )
    report = report_for(CanaryRun(results, "http://127.0.0.1:5000", "mlflow", 0.1))
    (finding,) = report.findings
    assert (finding.id, finding.subject, finding.evidence) == ("canary.failed", "case1", OBSERVED)


def test_json_carries_the_evidence_of_every_finding() -> None:
    seen = Observed(imports={"sklearn": Seen(False, DTYPE), "filelock": Seen(True)}, how="python3.12")
    report = compare(LOCK, moved(moved(LOCK, "filelock", "4.0.0"), "requests", "3.0.0"), observed=seen)
    data = json.loads(JsonReporter().render(report))
    assert {(f["id"], f["subject"]): f["evidence"] for f in data["findings"]} == {
        ("evidence.import.failed", "sklearn"): OBSERVED,
        ("package.version.major", "requests"): INFERRED,
        ("package.version.major", "filelock"): OBSERVED_IMPORTS,
    }
    assert data["summary"]["evidence"] == {
        OBSERVED: 1,
        OBSERVED_EQUIVALENT: 0,
        OBSERVED_IMPORTS: 1,
        INFERRED: 1,
    }
