"""Root causes first: one change that explains many findings leads the report, and its consequences are filed
under it (JSON keeps them all, with ``cause``; exit codes do not change)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import Optional, Tuple

import pytest

from envcheck import lockfile
from envcheck.compare import compare
from envcheck.findings import Report
from envcheck.model import Fingerprint, Package
from envcheck.policy import Policy
from envcheck.report.json import JsonReporter
from envcheck.report.markdown import MarkdownReporter
from envcheck.report.text import TextReporter
from tests.conftest import H200

BASE = lockfile.read(H200 / "envcheck.lock")


def _python_upgrade(fp: Fingerprint) -> Fingerprint:
    """Python 3.12 -> 3.13 with every compiled wheel rebuilt for it, versions unchanged."""

    def retag(pkg: Package) -> Package:
        tags = tuple(t.replace("cp312", "cp313") for t in pkg.wheel_tags)
        return dataclasses.replace(pkg, wheel_tags=tags) if tags != pkg.wheel_tags else pkg

    python = dataclasses.replace(fp.python, version="3.13.1", interpreter_tag="cp313", abi_tag="cp313")
    return dataclasses.replace(fp, python=python, packages=tuple(retag(p) for p in fp.packages))


def test_a_python_upgrade_files_the_rebuilt_wheels_under_it() -> None:
    report = compare(BASE, _python_upgrade(BASE))
    rebuilt = [f for f in report.findings if f.id == "package.build"]
    assert len(rebuilt) > 10 and all(f.cause == "python.version.minor" for f in rebuilt)
    (python,) = [f for f in report.findings if f.id == "python.version.minor"]
    assert python.cause == ""
    text = TextReporter().render(report)
    assert "package.build" not in text.split("findings follow from this")[0].splitlines()[-1]
    assert f"{len(rebuilt)} findings follow from this (package.build)" in text
    assert sum(1 for line in text.splitlines() if line.startswith("  medium    packages")) == 0
    data = json.loads(JsonReporter().render(report))
    assert len(data["findings"]) == len(report.findings)  # JSON keeps every one
    assert {f["cause"] for f in data["findings"] if f["id"] == "package.build"} == {"python.version.minor"}


def test_exit_codes_do_not_change() -> None:
    report = compare(BASE, _python_upgrade(BASE), fail_on=None)
    for threshold in ("low", "medium", "high", "critical"):
        from envcheck.findings import Severity

        plain = Report(findings=tuple(dataclasses.replace(f, cause="") for f in report.findings))
        level = Severity.parse(threshold)
        assert (
            dataclasses.replace(report, fail_on=level).return_code
            == dataclasses.replace(plain, fail_on=level).return_code
        )


def test_ignoring_the_root_cause_shows_its_consequences_again() -> None:
    report = compare(BASE, _python_upgrade(BASE), Policy(ignore_rules=frozenset(["python.version.minor"])))
    assert [f for f in report.findings if f.id == "package.build"]
    assert all(not f.cause for f in report.findings)


def test_a_lockfile_from_another_machine_leads_with_what_matters() -> None:
    """The issue's own case: the H200 reference lockfile checked on this machine (no GPU, another Python, most of
    its packages absent) names those three first, not at position 183 of 208."""
    done = subprocess.run(
        [sys.executable, "-m", "envcheck", "check", str(H200 / "envcheck.lock"), "--fail-on", "low"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    head = "\n".join(lines[:20])
    assert "of the lockfile's 198 packages are not installed" in head
    assert "GPU: then 1 x NVIDIA H200, now none" in head
    assert "Python: then 3.12.3, now 3." in head
    # the missing packages are counted under their headline, not listed one by one (the rest of the report
    # depends on what this machine has installed)
    assert not [line for line in lines if "now not installed" in line]
    markdown = MarkdownReporter().render(
        compare(BASE, dataclasses.replace(BASE, packages=BASE.packages[:20]), fail_on=None)
    )
    assert "findings follow from this (package.missing)" in markdown
    assert markdown.count("| packages |") == 1


def test_numpy_2_dependents_are_filed_under_the_numpy_move() -> None:
    def versions(fp: Fingerprint, **pins: str) -> Fingerprint:
        pkgs = tuple(dataclasses.replace(p, version=pins.get(p.name, p.version)) for p in fp.packages)
        return dataclasses.replace(fp, packages=pkgs)

    lock = versions(BASE, numpy="1.26.4", pandas="2.1.4")
    found = compare(lock, versions(BASE, pandas="2.1.4")).findings
    (numpy,) = [f for f in found if f.id == "package.version.numpy2"]
    (pandas,) = [f for f in found if f.id == "package.numpy2.dependent"]
    assert numpy.cause == "" and pandas.cause == "package.version.numpy2" and pandas.subject == "pandas"


def _sklearn_model_lock(narwhals_requirers: Tuple[str, ...]) -> Fingerprint:
    """The H200 lockfile with a model written by its scikit-learn 1.9.1 (which requires narwhals), narwhals
    installed as a dependency only, and required by ``narwhals_requirers`` among the other packages."""
    from envcheck.model import ModelFile, ModelWriter, Source

    def fix(pkg: Package) -> Package:
        if pkg.name == "narwhals":
            return dataclasses.replace(pkg, requested=False)
        if pkg.name != "scikit-learn" and any(r.startswith("narwhals") for r in pkg.requires):
            kept = pkg.requires if pkg.name in narwhals_requirers else ()
            return dataclasses.replace(pkg, requires=tuple(r for r in kept))
        return pkg

    model = ModelFile(
        "model.pkl",
        1,
        "ab" * 32,
        format="pickle",
        references=("sklearn.linear_model._logistic:LogisticRegression",),
        modules=("sklearn",),
        written_by=ModelWriter("scikit-learn", "1.9.1"),
    )
    packages = tuple(fix(p) for p in BASE.packages)
    return dataclasses.replace(
        BASE, packages=packages, models=(model,), sources={**BASE.sources, "models": Source("ok", "")}
    )


def _older_sklearn(lock: Fingerprint, narwhals: Optional[str]) -> Fingerprint:
    """scikit-learn 1.5.2, whose requirements have no narwhals; narwhals absent (None) or at that version."""
    old = ("numpy>=1.19.5", "scipy>=1.6.0", "joblib>=1.2.0", "threadpoolctl>=3.1.0")
    out = []
    for pkg in lock.packages:
        if pkg.name == "scikit-learn":
            pkg = dataclasses.replace(pkg, version="1.5.2", requires=old)
        elif pkg.name == "narwhals":
            if narwhals is None:
                continue
            pkg = dataclasses.replace(pkg, version=narwhals)
        out.append(pkg)
    return dataclasses.replace(lock, packages=tuple(out))


@pytest.mark.parametrize(("narwhals", "rule"), [(None, "package.missing"), ("1.9.0", "package.version.major")])
def test_a_dependency_only_the_changed_package_brought_in_is_filed_under_it(
    narwhals: Optional[str], rule: str
) -> None:
    lock = _sklearn_model_lock(narwhals_requirers=())
    report = compare(lock, _older_sklearn(lock, narwhals))
    by_subject = {f.subject: f for f in report.findings}
    assert by_subject["scikit-learn"].id == "model.writer.version" and by_subject["scikit-learn"].cause == ""
    assert by_subject["narwhals"].id == rule
    assert by_subject["narwhals"].cause == "model.writer.version"
    text = TextReporter().render(report)
    assert "1 finding follows from this (package." in text  # not "1 finding follow"
    assert "narwhals" in text.split(" from this (")[1].splitlines()[0]  # named under scikit-learn only


def test_a_dependency_an_unchanged_package_still_requires_stands_on_its_own() -> None:
    lock = _sklearn_model_lock(narwhals_requirers=("formulaic",))
    by_subject = {f.subject: f for f in compare(lock, _older_sklearn(lock, None)).findings}
    assert by_subject["narwhals"].id == "package.missing" and by_subject["narwhals"].cause == ""


def test_a_dependency_the_user_asked_for_stands_on_its_own() -> None:
    lock = _sklearn_model_lock(narwhals_requirers=())
    asked = dataclasses.replace(
        lock,
        packages=tuple(
            dataclasses.replace(p, requested=True) if p.name == "narwhals" else p for p in lock.packages
        ),
    )
    by_subject = {f.subject: f for f in compare(asked, _older_sklearn(asked, None)).findings}
    assert by_subject["narwhals"].cause == ""
