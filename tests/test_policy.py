"""Policy files: found beside the lockfile, strict about keys and values."""

from __future__ import annotations

from pathlib import Path

import pytest

from envcheck.policy import Policy, PolicyError, RuleOverride, find_policy, load_policy, parse_policy
from envcheck.rules.rulebook import BY_ID

GOOD = """
fail_on = "medium"
model_critical = ["Torch", "numpy"]
ignore_packages = ["boto3"]
ignore_rules = ["os.kernel", "cpu.*"]
extra_env = ["MY_FLAG"]
show_extra = true
[tolerance]
Scikit_Learn = "patch"
[rules."package.version.minor"]
impact = 3
"""


def test_full_policy(tmp_path: Path) -> None:
    path = tmp_path / "envcheck.toml"
    path.write_text(GOOD)
    policy = load_policy(path, BY_ID)
    assert policy.fail_on == "medium"
    assert policy.model_critical == frozenset({"torch", "numpy"})
    assert policy.tolerance_for("scikit-learn") == "patch"
    assert policy.tolerance_for("numpy") == "exact"
    assert policy.ignores_rule("cpu.vendor") and policy.ignores_rule("os.kernel")
    assert not policy.ignores_rule("os.architecture")
    assert policy.rules == {"package.version.minor": RuleOverride(None, 3)}
    assert policy.extra_env == ("MY_FLAG",) and policy.show_extra


def test_pyproject_tool_table_is_found_beside_lockfile(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.envcheck]\nfail_on = "critical"\n')
    assert find_policy(tmp_path / "envcheck.lock", BY_ID).fail_on == "critical"


def test_envcheck_toml_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.envcheck]\nfail_on = "critical"\n')
    (tmp_path / "envcheck.toml").write_text('fail_on = "low"\n')
    assert find_policy(tmp_path / "envcheck.lock", BY_ID).fail_on == "low"


def test_no_policy_gives_defaults(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_policy(tmp_path / "envcheck.lock", BY_ID) == Policy()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"fail_on": "sometimes"}, "fail_on must be one of"),
        ({"ignore_package": ["x"]}, "unknown key 'ignore_package'"),
        ({"tolerance": {"numpy": "loose"}}, "tolerance.numpy must be one of exact, patch, minor, major"),
        ({"ignore_rules": ["nope.*"]}, "'nope.*' matches no rule"),
        ({"rules": {"no.such.rule": {"impact": 2}}}, "rules.no.such.rule: no such rule"),
        ({"rules": {"os.kernel": {"impact": 9}}}, "rules.os.kernel.impact must be an integer from 1 to 5"),
        ({"rules": {"os.kernel": {"severity": 2}}}, "unknown key 'severity'"),
        ({"model_critical": "torch"}, "model_critical must be a list of strings"),
        ({"show_extra": "yes"}, "show_extra must be true or false"),
    ],
    ids=[
        "fail-on",
        "unknown-key",
        "tolerance",
        "ignore-pattern",
        "unknown-rule",
        "impact-range",
        "override-key",
        "not-a-list",
        "not-bool",
    ],
)
def test_bad_policies_name_the_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError, match=message.replace(".", r"\.").replace("*", r"\*")):
        parse_policy(data, "envcheck.toml", BY_ID)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="no such policy file"):
        load_policy(tmp_path / "missing.toml")
    bad = tmp_path / "envcheck.toml"
    bad.write_text("fail_on = \n")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(bad)
