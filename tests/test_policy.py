"""Policy files: found beside the lockfile, strict about keys and values."""

from __future__ import annotations

import os
import subprocess
import sys
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


# --- hostile or broken policy files ------------------------------------------------------------------------------


def test_a_broken_pyproject_beside_the_lockfile_is_an_error(tmp_path: Path) -> None:
    """It may hold [tool.envcheck]: ignoring it silently would drop the user's policy."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.envcheck\nfail_on = "low"\n')
    with pytest.raises(PolicyError, match=r"pyproject\.toml: not valid TOML"):
        find_policy(tmp_path / "envcheck.lock", BY_ID)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('tool = "envcheck"\n', "tool must be a table, not a str"),
        ("[tool]\nenvcheck = 3\n", "tool.envcheck must be a table, not a int"),
        ("[tool]\nenvcheck = [1]\n", "tool.envcheck must be a table, not an array"),
        ("[tool.envcheck]\nfail_on = 3\n", "fail_on must be one of"),
        ("[tool.envcheck]\ntolerance = [1]\n", "tolerance must be a table"),
        ("[tool.envcheck]\ntolerance = {numpy = {a = 1}}\n", "tolerance.numpy must be one of"),
        ("[tool.envcheck]\nrules = {'os.kernel' = 3}\n", r"rules\.os\.kernel must be a table"),
        ("[tool.envcheck]\nrules = {'os.kernel' = {impact = '3'}}\n", "impact must be an integer from 1 to 5"),
        ("[tool.envcheck]\nextra_env = [1, 2]\n", "extra_env must be a list of strings"),
        ("[tool.envcheck]\nignore_rules = {a = 1}\n", "ignore_rules must be a list of strings"),
        ("[tool.envcheck]\nshow_extra = 1\n", "show_extra must be true or false"),
    ],
    ids=[
        "tool-string",
        "envcheck-int",
        "envcheck-array",
        "fail-on-int",
        "tolerance-array",
        "tolerance-table",
        "rule-int",
        "impact-string",
        "extra-env-ints",
        "ignore-rules-table",
        "show-extra-int",
    ],
)
def test_wrong_types_under_tool_envcheck_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(text)
    for load in (
        lambda: find_policy(tmp_path / "envcheck.lock", BY_ID),
        lambda: load_policy(tmp_path / "pyproject.toml"),
    ):
        with pytest.raises(PolicyError, match=message) as caught:
            load()
        assert "\n" not in str(caught.value)


def test_a_pyproject_without_tool_envcheck_is_no_policy(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.black]\nline-length = 100\n")
    assert find_policy(tmp_path / "envcheck.lock", BY_ID) == Policy()


def test_a_policy_that_is_not_a_table() -> None:
    with pytest.raises(PolicyError, match="must be a table of settings, not an array"):
        parse_policy([1, 2], "x.toml")  # type: ignore[arg-type]


def test_long_lists_are_refused() -> None:
    with pytest.raises(PolicyError, match="ignore_packages has 1001 entries"):
        parse_policy({"ignore_packages": [f"p{i}" for i in range(1001)]}, "x.toml")
    with pytest.raises(PolicyError, match="tolerance has 1001 entries"):
        parse_policy({"tolerance": {f"p{i}": "patch" for i in range(1001)}}, "x.toml")


@pytest.mark.parametrize("name", ["envcheck.toml", "pyproject.toml", "given.toml"])
def test_a_fifo_policy_is_refused_without_blocking(tmp_path: Path, name: str) -> None:
    """Beside the lockfile or given with --policy: opened non-blocking and refused, never waited on."""
    from tests.conftest import H200

    lock = tmp_path / "envcheck.lock"
    lock.write_bytes((H200 / "envcheck.lock").read_bytes())
    os.mkfifo(tmp_path / name)
    args = ["diff", str(lock), str(lock)] + (["--policy", str(tmp_path / name)] if name == "given.toml" else [])
    done = subprocess.run([sys.executable, "-m", "envcheck", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == f"envcheck: error: {tmp_path / name}: is a FIFO, not a policy file"


def test_policy_size_and_nesting_are_bounded(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    with open(big, "wb") as f:
        f.truncate(1 << 30)
    with pytest.raises(PolicyError, match="too large for a policy file"):
        load_policy(big)
    deep = tmp_path / "deep.toml"
    deep.write_text("extra_env = " + "[" * 3000 + "]" * 3000 + "\n")
    with pytest.raises(PolicyError, match="nested too deeply"):
        load_policy(deep)
    huge = tmp_path / "huge.toml"
    huge.write_text("[rules.'os.kernel']\nimpact = 99999999999999999999999\n")
    with pytest.raises(PolicyError, match="integer out of range"):
        load_policy(huge)


def test_a_folder_named_like_the_policy_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "envcheck.toml").mkdir()
    with pytest.raises(PolicyError, match="is a directory, not a policy file"):
        find_policy(tmp_path / "envcheck.lock", BY_ID)
