"""Model-aware weighting: the distributions a model references raise their findings one level, those it neither
references nor needs lower theirs one level; nothing moves when the lockfile says nothing about the model."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Optional, Tuple

import pytest

from envcheck import lockfile
from envcheck.compare import compare
from envcheck.findings import Severity
from envcheck.model import Fingerprint, ModelFile, ModelWriter, Source
from envcheck.modelscope import model_scope, shift
from envcheck.policy import Policy, RuleOverride
from tests.conftest import H200


@pytest.mark.parametrize(("p", "i"), list(itertools.product(range(1, 6), repeat=2)))
@pytest.mark.parametrize("levels", [-3, -2, -1, 0, 1, 2, 3])
def test_shift_moves_exactly_the_levels_asked_clamped(p: int, i: int, levels: int) -> None:
    start = Severity.from_score(p * i)
    want = Severity(min(max(start + levels, Severity.LOW), Severity.CRITICAL))
    np, ni = shift(p, i, levels)
    assert 1 <= np <= 5 and 1 <= ni <= 5
    assert Severity.from_score(np * ni) == want
    if levels == 0:
        assert (np, ni) == (p, i)


def test_raising_keeps_the_larger_judgement_and_lowering_lowers_probability_first() -> None:
    assert shift(4, 4, 1) == (5, 4)  # high 16 -> critical 20
    assert shift(3, 5, -1) == (1, 5)  # high 15 -> medium 5: impact is what the rule judged, kept
    assert shift(2, 2, 1) == (3, 2)  # low 4 -> medium 6


# --- weighing findings by the model ------------------------------------------------------------------------------


H200_LOCK = lockfile.read(H200 / "envcheck.lock")
PICKLE = ModelFile(
    "model.pkl",
    728,
    "ab" * 32,
    format="pickle",
    references=("numpy:ndarray", "sklearn.linear_model._logistic:LogisticRegression"),
    modules=("numpy", "sklearn"),
    written_by=ModelWriter("scikit-learn", "1.7.2"),
)


def _with(fp: Fingerprint, *models: ModelFile) -> Fingerprint:
    return dataclasses.replace(fp, models=models, sources={**fp.sources, "models": Source("ok", "")})


def _moved(fp: Fingerprint, name: str, to: str) -> Fingerprint:
    pkgs = tuple(dataclasses.replace(p, version=to) if p.name == name else p for p in fp.packages)
    return dataclasses.replace(fp, packages=pkgs)


def _one(expected: Fingerprint, actual: Fingerprint, policy: Optional[Policy] = None) -> Tuple[str, Severity, str]:
    found = compare(expected, actual, policy, fail_on=None).findings
    (f,) = [f for f in found if f.component == "packages"]
    return f.id, f.severity, f.message


def test_the_scope_is_what_the_files_reference_and_their_closure() -> None:
    lock = _with(H200_LOCK, PICKLE)
    scope = model_scope(lock)
    assert {"numpy", "scikit-learn"} <= scope.referenced
    assert {"scipy", "joblib", "threadpoolctl"} <= scope.needed  # scikit-learn's requirements
    assert "torch" not in scope.needed and "fastapi" not in scope.needed
    assert scope.writers == (("scikit-learn", "1.7.2"),)
    assert not model_scope(H200_LOCK).known  # no model files: nothing is weighed


def test_a_referenced_package_is_raised_an_unrelated_one_lowered_a_needed_one_kept() -> None:
    lock = _with(H200_LOCK, PICKLE)
    numpy = lock.package("numpy")
    assert numpy is not None
    bare = _one(H200_LOCK, _moved(H200_LOCK, "numpy", "2.4.0"))
    weighed = _one(lock, _moved(lock, "numpy", "2.4.0"))
    assert weighed[1] == bare[1] + 1 and "raised one level" in weighed[2]
    bare = _one(H200_LOCK, _moved(H200_LOCK, "torch", "2.10.0"))
    weighed = _one(lock, _moved(lock, "torch", "2.10.0"))
    assert weighed[1] == bare[1] - 1 and "lowered one level" in weighed[2]
    assert _one(lock, _moved(lock, "scipy", "1.17.0")) == _one(H200_LOCK, _moved(H200_LOCK, "scipy", "1.17.0"))


def test_the_policy_overrides_the_weighing_both_ways() -> None:
    lock = _with(H200_LOCK, PICKLE)
    torch = _moved(lock, "torch", "2.10.0")
    bare = _one(H200_LOCK, _moved(H200_LOCK, "torch", "2.10.0"))
    assert _one(lock, torch, Policy(weigh_by_model=False)) == bare
    raised = _one(lock, torch, Policy(model_critical=frozenset(["torch"])))
    assert raised[1] == bare[1] + 1
    fixed = Policy(rules={bare[0]: RuleOverride(probability=3, impact=3)})
    assert _one(lock, torch, fixed)[1] == Severity.MEDIUM  # the policy's own numbers are not moved


def test_a_missing_referenced_package_is_critical() -> None:
    lock = _with(H200_LOCK, PICKLE)
    without = dataclasses.replace(lock, packages=tuple(p for p in lock.packages if p.name != "scikit-learn"))
    found = {f.id: f for f in compare(lock, without).findings}
    assert found["package.missing.critical"].severity == Severity.CRITICAL


def test_a_lockfile_without_package_modules_maps_modules_named_like_their_distribution() -> None:
    old = dataclasses.replace(
        H200_LOCK, packages=tuple(dataclasses.replace(p, modules=()) for p in H200_LOCK.packages)
    )
    scope = model_scope(_with(old, PICKLE))
    assert "numpy" in scope.referenced  # named like its module
    assert "scikit-learn" in scope.referenced  # from the writer the file names
