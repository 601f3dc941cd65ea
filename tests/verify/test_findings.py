"""A verification as findings: the rule, its place on the matrix, the message and the remedy."""

from __future__ import annotations

from envcheck.compare import findings_from
from envcheck.findings import OBSERVED, Severity
from envcheck.model import Fingerprint
from envcheck.observed import Observed, observed_changes
from envcheck.policy import Policy
from envcheck.rules.rulebook import BY_ID
from envcheck.verify.findings import file_changes
from envcheck.verify.result import DistFiles, Verification

SITE = "/srv/venv/lib/python3.11/site-packages"


def verification(*dists: DistFiles) -> Verification:
    return Verification(target="local", sites=(SITE,), verified=10, changed=dists, files_hashed=100)


def test_a_changed_distribution_is_a_high_observed_finding() -> None:
    modified = tuple(f"numpy/m{i}.py" for i in range(5))
    dist = DistFiles(
        "numpy", "2.4.6", SITE, modified=modified, missing=("numpy/gone.so",), unexpected=("numpy/x",)
    )
    (finding,) = findings_from(file_changes(verification(dist)), Policy())
    assert finding.id == "package.files.modified" and finding.subject == "numpy"
    assert finding.severity is Severity.HIGH and finding.evidence == OBSERVED
    assert set(finding.risks) == {"availability", "prediction"}
    assert "5 modified (numpy/m0.py, numpy/m1.py, numpy/m2.py and 2 more)" in finding.message
    assert "1 missing (numpy/gone.so)" in finding.message and "1 unexpected (numpy/x)" in finding.message
    assert "numpy 2.4.6" in finding.message and SITE in finding.message
    assert finding.remedy == "reinstall it: pip install --force-reinstall --no-deps 'numpy==2.4.6'"


def test_a_clean_verification_finds_nothing() -> None:
    assert list(file_changes(verification())) == []


def test_the_policy_can_ignore_the_package_or_the_rule() -> None:
    dist = DistFiles("six", "1.17.0", SITE, modified=("six.py",))
    assert findings_from(file_changes(verification(dist)), Policy(ignore_packages=frozenset(["six"]))) == ()


def test_observed_carries_the_verification() -> None:
    dist = DistFiles("six", "1.17.0", SITE, missing=("six.py",))
    changes = list(observed_changes(Observed(files=verification(dist)), Fingerprint()))
    assert [c.rule for c in changes] == ["package.files.modified"]


def test_the_rule_is_in_the_rulebook_as_observed() -> None:
    rule = BY_ID["package.files.modified"]
    assert rule.observed and Severity.from_score(rule.probability * rule.impact) is Severity.HIGH


def test_summary_line() -> None:
    line = verification().summary()
    assert line.startswith("file check: 10 distributions verified against their RECORD (100 files hashed")
