"""Every rule id the comparison code can emit is a rule of the rulebook (a typo would otherwise only show as a
KeyError on the one environment that triggers it)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from envcheck.rules.interface import Change
from envcheck.rules.rulebook import BY_ID

PACKAGE = Path(__file__).resolve().parent.parent.parent / "envcheck"
#: The modules that emit Changes.
EMITTERS = [*sorted((PACKAGE / "rules").glob("*.py")), PACKAGE / "causes.py"]
_RULE_ID = re.compile(r"^(os|python|package|native|cpu|memory|gpu|env|model)\.[a-z0-9_]+(\.[a-z0-9_]+)*$")


def _rule_like_strings(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _RULE_ID.match(node.value)
    }


def test_every_rule_id_in_the_comparison_code_exists() -> None:
    emitted: dict[str, str] = {}
    for path in EMITTERS:
        if path.name == "rulebook.py":
            continue
        for rule in _rule_like_strings(path):
            emitted.setdefault(rule, path.name)
    unknown = {rule: where for rule, where in emitted.items() if rule not in BY_ID}
    assert not unknown, f"rule ids used but not in the rulebook: {unknown}"
    assert len(emitted) > 40  # the scan finds the ids (it would pass vacuously otherwise)


def test_every_first_argument_of_change_is_a_rule_or_a_name() -> None:
    """A Change built with a literal id names a rule; one built from a variable is covered by the scan above."""
    for path in EMITTERS:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == Change.__name__ and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant):
                    assert first.value in BY_ID, f"{path.name}:{node.lineno}: {first.value!r}"
