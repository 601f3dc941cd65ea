"""User tolerances and overrides: ``envcheck.toml`` or ``[tool.envcheck]`` in pyproject.toml.

Parsing is pure (``parse_policy``); ``load_policy`` and ``find_policy`` are the thin readers. An unknown key or a
bad value (a wrong type anywhere, ``[tool.envcheck]`` itself included) is a ``PolicyError`` naming the key, never
silently ignored; so is a ``pyproject.toml`` beside the lockfile that cannot be parsed. Files are read within
bounds (``envcheck.tomlfile``: a regular file of at most ``MAX_BYTES``), lists and tables hold at most
``MAX_ENTRIES`` entries.

    fail_on = "high"                      # low | medium | high | critical | never
    model_critical = ["torch", "numpy"]   # raised one level; a missing one is critical
    weigh_by_model = true                 # weigh package findings by what the model files reference
    ignore_packages = ["boto3"]
    ignore_rules = ["os.kernel", "cpu.*"] # rule ids, shell-style patterns allowed
    extra_env = ["MY_FEATURE_FLAG"]       # compared as env.other
    show_extra = false                    # report packages the lockfile does not have
    [tolerance]                           # exact | patch | minor | major: changes up to this level are accepted
    scikit-learn = "patch"
    [rules."package.version.minor"]       # probability and/or impact override, 1..5
    impact = 3
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterable, Mapping, Optional, Tuple, Union

from envcheck import tomlfile
from envcheck.errors import EnvcheckError
from envcheck.probe import canonicalize_name

TOLERANCES = ("exact", "patch", "minor", "major")
FAIL_ON = ("low", "medium", "high", "critical", "never")
POLICY_FILE = "envcheck.toml"
#: The largest policy file (or pyproject.toml) read: policies are a few hundred bytes, pyproject.toml files
#: rarely reach 100 KB.
MAX_BYTES = 1 << 20
#: The most entries in one list or table of a policy (there are about a hundred rules).
MAX_ENTRIES = 1000


class PolicyError(EnvcheckError):
    """A policy file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class RuleOverride:
    probability: Optional[int] = None
    impact: Optional[int] = None


@dataclass(frozen=True)
class Policy:
    fail_on: Optional[str] = None
    """None: not set here (the CLI's default applies)."""
    model_critical: FrozenSet[str] = frozenset()
    tolerance: Mapping[str, str] = field(default_factory=dict)
    ignore_packages: FrozenSet[str] = frozenset()
    ignore_rules: Tuple[str, ...] = ()
    rules: Mapping[str, RuleOverride] = field(default_factory=dict)
    extra_env: Tuple[str, ...] = ()
    show_extra: bool = False
    weigh_by_model: bool = True
    """Weigh package findings by what the recorded model files reference (``envcheck.modelscope``)."""
    source: str = "defaults"
    """Where the policy came from, for messages."""

    def ignores_rule(self, rule_id: str) -> bool:
        return any(fnmatch.fnmatchcase(rule_id, pattern) for pattern in self.ignore_rules)

    def tolerance_for(self, package: str) -> str:
        return self.tolerance.get(package, "exact")


_KEYS = {
    "fail_on",
    "model_critical",
    "tolerance",
    "ignore_packages",
    "ignore_rules",
    "rules",
    "extra_env",
    "show_extra",
    "weigh_by_model",
}


def _strings(value: Any, key: str, where: str) -> Tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{where}: {key} must be a list of strings")
    _bounded(value, key, where)
    return tuple(value)


def _bounded(value: Any, key: str, where: str) -> None:
    if len(value) > MAX_ENTRIES:
        raise PolicyError(f"{where}: {key} has {len(value)} entries (at most {MAX_ENTRIES})")


def parse_policy(data: Mapping[str, Any], where: str, known_rules: Iterable[str] = ()) -> Policy:
    """Validate plain data (a TOML table) into a ``Policy``."""
    if not isinstance(data, Mapping):
        raise PolicyError(f"{where}: must be a table of settings, not {_kind(data)}")
    known = set(known_rules)
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise PolicyError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    fail_on = data.get("fail_on")
    if fail_on is not None and fail_on not in FAIL_ON:
        raise PolicyError(f"{where}: fail_on must be one of {', '.join(FAIL_ON)}, not {fail_on!r}")
    tolerance: Dict[str, str] = {}
    raw_tol = data.get("tolerance", {})
    if not isinstance(raw_tol, Mapping):
        raise PolicyError(f"{where}: tolerance must be a table of package = level")
    _bounded(raw_tol, "tolerance", where)
    for name, level in raw_tol.items():
        if level not in TOLERANCES:
            raise PolicyError(f"{where}: tolerance.{name} must be one of {', '.join(TOLERANCES)}, not {level!r}")
        tolerance[canonicalize_name(name)] = level
    ignore_rules = _strings(data.get("ignore_rules", []), "ignore_rules", where)
    for pattern in ignore_rules:
        if known and not any(fnmatch.fnmatchcase(rule, pattern) for rule in known):
            raise PolicyError(f"{where}: ignore_rules: {pattern!r} matches no rule (see `envcheck rules`)")
    overrides: Dict[str, RuleOverride] = {}
    raw_rules = data.get("rules", {})
    if not isinstance(raw_rules, Mapping):
        raise PolicyError(f"{where}: rules must be a table of rule id = {{probability, impact}}")
    _bounded(raw_rules, "rules", where)
    for rule_id, values in raw_rules.items():
        if known and rule_id not in known:
            raise PolicyError(f"{where}: rules.{rule_id}: no such rule (see `envcheck rules`)")
        if not isinstance(values, Mapping):
            raise PolicyError(f"{where}: rules.{rule_id} must be a table")
        bad = sorted(set(values) - {"probability", "impact"})
        if bad:
            raise PolicyError(f"{where}: rules.{rule_id}: unknown key {bad[0]!r} (probability, impact)")
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
                raise PolicyError(f"{where}: rules.{rule_id}.{key} must be an integer from 1 to 5")
        overrides[rule_id] = RuleOverride(values.get("probability"), values.get("impact"))
    show_extra = data.get("show_extra", False)
    if not isinstance(show_extra, bool):
        raise PolicyError(f"{where}: show_extra must be true or false")
    weigh_by_model = data.get("weigh_by_model", True)
    if not isinstance(weigh_by_model, bool):
        raise PolicyError(f"{where}: weigh_by_model must be true or false")
    return Policy(
        fail_on=fail_on,
        model_critical=frozenset(
            canonicalize_name(n) for n in _strings(data.get("model_critical", []), "model_critical", where)
        ),
        tolerance=tolerance,
        ignore_packages=frozenset(
            canonicalize_name(n) for n in _strings(data.get("ignore_packages", []), "ignore_packages", where)
        ),
        ignore_rules=ignore_rules,
        rules=overrides,
        extra_env=_strings(data.get("extra_env", []), "extra_env", where),
        show_extra=show_extra,
        weigh_by_model=weigh_by_model,
        source=where,
    )


def _kind(value: Any) -> str:
    """A TOML value's kind, for messages."""
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return "a boolean" if isinstance(value, bool) else f"a {type(value).__name__}"


def _read(path: Path) -> Dict[str, Any]:
    try:
        return tomlfile.load(path, what="policy file", limit=MAX_BYTES)
    except tomlfile.TomlFileError as e:
        raise PolicyError(str(e)) from e


def _tool_table(data: Mapping[str, Any], path: Path) -> Optional[Mapping[str, Any]]:
    """``[tool.envcheck]`` of a parsed pyproject.toml, None when absent; a wrong type is an error."""
    tool = data.get("tool")
    if tool is None:
        return None
    if not isinstance(tool, Mapping):
        raise PolicyError(f"{path}: tool must be a table, not {_kind(tool)}")
    table = tool.get("envcheck")
    if table is None:
        return None
    if not isinstance(table, Mapping):
        raise PolicyError(f"{path}: tool.envcheck must be a table, not {_kind(table)}")
    return table


def load_policy(path: Union[str, Path], known_rules: Iterable[str] = ()) -> Policy:
    """Read ``envcheck.toml`` (top-level keys) or a pyproject.toml (``[tool.envcheck]``)."""
    path = Path(path)
    data = _read(path)
    if path.name == "pyproject.toml":
        return parse_policy(_tool_table(data, path) or {}, f"{path} [tool.envcheck]", known_rules)
    return parse_policy(data, str(path), known_rules)


def find_policy(lock_path: Union[str, Path], known_rules: Iterable[str] = ()) -> Policy:
    """The policy beside a lockfile: ``envcheck.toml``, else a pyproject.toml with ``[tool.envcheck]``.

    Anything at either name is read (a FIFO or a folder there is an error, not skipped), and a pyproject.toml
    that cannot be read or parsed is an error: it may hold the policy.
    """
    folder = Path(lock_path).resolve().parent
    candidate = folder / POLICY_FILE
    if os.path.lexists(candidate):
        return load_policy(candidate, known_rules)
    pyproject = folder / "pyproject.toml"
    if os.path.lexists(pyproject):
        table = _tool_table(_read(pyproject), pyproject)
        if table is not None:
            return parse_policy(table, f"{pyproject} [tool.envcheck]", known_rules)
    return Policy()
