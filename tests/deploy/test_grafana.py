"""deploy/grafana/: the fleet dashboard is what its generator (Grafana's foundation SDK) writes, every query parses
with ``promtool`` and means what its panel says on sample series, and every metric it reads is one the sidecar
exports (from a real scrape of ``make_registry``, so a renamed metric fails here)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Set, Tuple

import pytest
import yaml

from tests.conftest import require_promtool

ROOT = Path(__file__).resolve().parent.parent.parent
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "envcheck-fleet.json"
SDK = "grafana_foundation_sdk"
#: What the dashboard's selectors carry, and the values the tests give its template variables.
SEL = 'namespace=~"$namespace", pod=~"$pod"'
VARIABLES = {"$namespace": "prod", "$pod": ".*", "$__rate_interval": "5m"}
METRIC = re.compile(r"\benvcheck_[a-z0-9_]+\b")


def _dashboard() -> Dict[str, Any]:
    data: Dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def _panels() -> List[Dict[str, Any]]:
    return list(_dashboard()["panels"])


def _targets() -> List[Tuple[str, str, str]]:
    """(panel title, refId, expr) for every query of every panel."""
    return [(p["title"], t["refId"], t["expr"]) for p in _panels() for t in p.get("targets", [])]


def _by_title(title: str) -> Dict[str, Any]:
    found = [p for p in _panels() if p["title"] == title]
    assert len(found) == 1, f"no single panel titled {title!r}"
    return found[0]


def _expr(title: str, legend: str = "") -> str:
    """The expression of the panel's query with that legend (or its only query)."""
    targets = _by_title(title)["targets"]
    found = [t["expr"] for t in targets if not legend or t.get("legendFormat") == legend]
    assert len(found) == 1, (title, legend, targets)
    return str(found[0])


def _concrete(expr: str) -> str:
    """``expr`` with the template variables replaced by values, as Grafana sends it; any other ``$`` left is a
    variable the dashboard does not define."""
    for name, value in VARIABLES.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"an undefined template variable in {expr!r}"
    return expr


def _variable_selectors() -> List[str]:
    """The series selectors inside the query variables' ``label_values(SELECTOR, label)``."""
    out = []
    for var in _dashboard()["templating"]["list"]:
        if var["type"] == "query":
            found = re.fullmatch(r"label_values\((.+), (\w+)\)", var["query"])
            assert found, var["query"]
            out.append(found.group(1))
    return out


# --- the generator ---------------------------------------------------------------------------------------------


def _generator_python() -> str:
    """An interpreter that runs the generator: this one when it has the SDK (CPython >= 3.11 with the test extra),
    else the repository's 3.11+ .venv, as CI's 3.9 run finds it."""
    candidates = [sys.executable, str(ROOT / ".venv" / "bin" / "python")]
    candidates += [p for p in (shutil.which(f"python3.{minor}") for minor in (13, 12, 11)) if p]
    for candidate in candidates:
        if not Path(candidate).exists():
            continue
        done = subprocess.run([candidate, "-c", f"import {SDK}"], capture_output=True, timeout=60, check=False)
        if done.returncode == 0:
            return candidate
    pytest.fail(
        f"no interpreter here has {SDK} (it needs CPython >= 3.11): pip install -e '.[test]' in a 3.11+ "
        "virtual environment (.venv) to regenerate and check deploy/grafana/envcheck-fleet.json",
        pytrace=False,
    )


def test_the_committed_dashboard_is_what_the_generator_writes(tmp_path: Path) -> None:
    out = tmp_path / "envcheck-fleet.json"
    done = subprocess.run(
        [_generator_python(), str(GRAFANA / "dashboard.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == DASHBOARD.read_bytes(), (
        "deploy/grafana/envcheck-fleet.json is stale: run python deploy/grafana/dashboard.py"
    )


# --- the dashboard's shape -------------------------------------------------------------------------------------


def test_the_template_variables_are_the_datasource_namespace_and_pod() -> None:
    variables = {v["name"]: v for v in _dashboard()["templating"]["list"]}
    assert list(variables) == ["datasource", "namespace", "pod"]
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for name in ("namespace", "pod"):
        var = variables[name]
        assert var["type"] == "query" and var["multi"] and var["includeAll"]
        # "All" must match a series without the label too (a scrape config that adds no namespace).
        assert var["allValue"] == ".*"
        assert var["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    assert 'namespace=~"$namespace"' in variables["pod"]["query"]


def test_every_panel_reads_the_chosen_datasource_and_has_a_unique_id() -> None:
    panels = _panels()
    assert len({p["id"] for p in panels}) == len(panels)
    for p in panels:
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["datasource"] == p["datasource"], p["title"]
        assert p.get("description"), f"{p['title']} says nothing of what it shows"


def test_the_panels_tile_the_grid_without_overlap() -> None:
    cells: Dict[Tuple[int, int], str] = {}
    for p in _panels():
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps {cells[x, y]}"
                cells[x, y] = p["title"]


def test_every_selector_is_restricted_to_the_chosen_namespace_and_pod() -> None:
    for title, ref, expr in _targets():
        for found in METRIC.finditer(expr):
            after = expr[found.end() :]
            assert after.startswith("{" + SEL), f"{title}/{ref}: {found.group()} is not filtered by namespace/pod"


def test_the_canary_panels_say_no_data_rather_than_zero_without_a_canary() -> None:
    """Without --canary the canary metrics are not exported: a panel that padded them with vector(0) would show a
    reassuring 0 for a fleet that runs no canary."""
    canary = [p for p in _panels() if any("envcheck_canary_" in t["expr"] for t in p["targets"])]
    assert {p["title"] for p in canary} >= {"Canary", "Canary max abs error"}
    for p in canary:
        for t in p["targets"]:
            if "envcheck_canary_" in t["expr"]:
                assert "vector(" not in t["expr"], p["title"]
    for title in ("Canary", "Canary max abs error"):
        assert "canary" in _by_title(title)["fieldConfig"]["defaults"]["noValue"]


# --- the metrics exist ----------------------------------------------------------------------------------------


def _exported() -> Set[str]:
    """Every metric name a sidecar with --canary exports: family names (envcheck_finding has no sample before a
    finding) and sample names (``_total``, ``_info``), from a real scrape."""
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from envcheck.sidecar import State, make_registry

    text = generate_latest(make_registry(State("model.lock", "sha256:0", canary=True))).decode()
    names: Set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(s.name for s in family.samples)
    return names


def test_every_metric_on_the_dashboard_is_one_the_sidecar_exports() -> None:
    exported = _exported()
    assert "envcheck_canary_max_abs_error" in exported and "envcheck_checks_total" in exported
    used = {m for _, _, expr in _targets() for m in METRIC.findall(expr)}
    used |= {m for s in _variable_selectors() for m in METRIC.findall(s)}
    assert used - exported == set()
    # The panels: these families at least are on the dashboard.
    assert used >= {
        "envcheck_findings",
        "envcheck_finding",
        "envcheck_ready",
        "envcheck_drift_ok",
        "envcheck_target_up",
        "envcheck_last_check_duration_seconds",
        "envcheck_check_errors_total",
        "envcheck_check_timeouts_total",
        "envcheck_lockfile_info",
        "envcheck_canary_ok",
        "envcheck_canary_max_abs_error",
    }


# --- promtool -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_promtool()


def _check_rules(promtool: str, folder: Path, exprs: List[str]) -> subprocess.CompletedProcess[str]:
    rules = [{"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)]
    path = folder / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    return subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.promtool
def test_every_query_parses_with_promtool(promtool: str, tmp_path: Path) -> None:
    exprs = [_concrete(expr) for _, _, expr in _targets()] + [_concrete(s) for s in _variable_selectors()]
    done = _check_rules(promtool, tmp_path, exprs)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in done.stdout


@pytest.mark.promtool
def test_promtool_rejects_a_broken_query(promtool: str, tmp_path: Path) -> None:
    """The check above can fail: the first query with its last parenthesis dropped does not parse."""
    broken = _concrete(_expr("Pods"))
    assert broken.endswith(")")
    done = _check_rules(promtool, tmp_path, [broken[:-1]])
    assert done.returncode != 0


#: Sample series for three pods in namespace prod and one elsewhere. a: drifted and out of the Service (gate
#: always), one critical finding with both risks and one high availability finding, canary answers differing.
#: b: drifted but still serving (gate startup), one medium prediction finding, canary fine. c: clean, target
#: lost, no canary. other: another namespace, drifted (must not be counted).
SERIES = [
    ('envcheck_build_info{namespace="prod", pod="a"}', "1x10"),
    ('envcheck_build_info{namespace="prod", pod="b"}', "1x10"),
    ('envcheck_build_info{namespace="prod", pod="c"}', "1x10"),
    ('envcheck_build_info{namespace="other", pod="z"}', "1x10"),
    ('envcheck_ready{namespace="prod", pod="a"}', "0x10"),
    ('envcheck_ready{namespace="prod", pod="b"}', "1x10"),
    ('envcheck_ready{namespace="prod", pod="c"}', "0x10"),
    ('envcheck_ready{namespace="other", pod="z"}', "0x10"),
    ('envcheck_drift_ok{namespace="prod", pod="a"}', "0x10"),
    ('envcheck_drift_ok{namespace="prod", pod="b"}', "0x10"),
    ('envcheck_drift_ok{namespace="prod", pod="c"}', "0x10"),
    ('envcheck_drift_ok{namespace="other", pod="z"}', "0x10"),
    ('envcheck_target_up{namespace="prod", pod="a"}', "1x10"),
    ('envcheck_target_up{namespace="prod", pod="b"}', "1x10"),
    ('envcheck_target_up{namespace="prod", pod="c"}', "0x10"),
    ('envcheck_target_up{namespace="other", pod="z"}', "1x10"),
    ('envcheck_findings{namespace="prod", pod="a", severity="critical", risk="availability"}', "1x10"),
    ('envcheck_findings{namespace="prod", pod="a", severity="critical", risk="prediction"}', "1x10"),
    ('envcheck_findings{namespace="prod", pod="a", severity="high", risk="availability"}', "1x10"),
    ('envcheck_findings{namespace="prod", pod="a", severity="high", risk="prediction"}', "0x10"),
    ('envcheck_findings{namespace="prod", pod="b", severity="medium", risk="prediction"}', "1x10"),
    ('envcheck_findings{namespace="prod", pod="b", severity="critical", risk="prediction"}', "0x10"),
    ('envcheck_findings{namespace="prod", pod="b", severity="low", risk="availability"}', "0x10"),
    ('envcheck_findings{namespace="prod", pod="c", severity="critical", risk="prediction"}', "0x10"),
    ('envcheck_findings{namespace="other", pod="z", severity="critical", risk="prediction"}', "5x10"),
    (
        'envcheck_finding{namespace="prod", pod="a", rule="r1", component="c", subject="s1", severity="critical"}',
        "1x10",
    ),
    (
        'envcheck_finding{namespace="prod", pod="a", rule="r2", component="c", subject="s2", severity="high"}',
        "1x10",
    ),
    (
        'envcheck_finding{namespace="prod", pod="a", rule="r3", component="c", subject="s3", severity="high"}',
        "0x10",
    ),
    (
        'envcheck_finding{namespace="prod", pod="b", rule="r4", component="c", subject="s4", severity="medium"}',
        "1x10",
    ),
    (
        'envcheck_finding{namespace="other", pod="z", rule="r1", subject="s1", severity="critical"}',
        "1x10",
    ),
    ('envcheck_canary_ok{namespace="prod", pod="a"}', "0x10"),
    ('envcheck_canary_up{namespace="prod", pod="a"}', "1x10"),
    ('envcheck_canary_ok{namespace="prod", pod="b"}', "1x10"),
    ('envcheck_canary_up{namespace="prod", pod="b"}', "1x10"),
    (
        'envcheck_lockfile_info{namespace="prod", pod="a", digest="sha256:1", lockfile="m.lock", target="t"}',
        "1x10",
    ),
    (
        'envcheck_lockfile_info{namespace="prod", pod="b", digest="sha256:1", lockfile="m.lock", target="t"}',
        "1x10",
    ),
    (
        'envcheck_lockfile_info{namespace="prod", pod="c", digest="sha256:2", lockfile="m.lock", target="t"}',
        "1x10",
    ),
    ('envcheck_last_check_duration_seconds{namespace="prod", pod="a"}', "1x10"),
    ('envcheck_last_check_duration_seconds{namespace="prod", pod="b"}', "2x10"),
    ('envcheck_last_check_duration_seconds{namespace="prod", pod="c"}', "9x10"),
    ('envcheck_check_errors_total{namespace="prod", pod="c"}', "0+60x10"),
    # At 5m (time() = 300): checks ended at 250 and 100; c has had none (0), which must not read as 300 s old.
    ('envcheck_last_check_timestamp_seconds{namespace="prod", pod="a"}', "250x10"),
    ('envcheck_last_check_timestamp_seconds{namespace="prod", pod="b"}', "100x10"),
    ('envcheck_last_check_timestamp_seconds{namespace="prod", pod="c"}', "0x10"),
]

#: (panel, legend, expected samples at 5m: labels as promtool writes them, and value). The expected values are
#: what each panel's description promises.
EXPECTED: List[Tuple[str, str, List[Tuple[str, float]]]] = [
    ("Pods", "", [("{}", 3)]),
    ("Ready", "", [("{}", 1)]),
    ("Drifted", "", [("{}", 3)]),
    ("Target lost", "", [("{}", 1)]),
    ("Lockfile digests", "", [("{}", 2)]),
    ("Oldest check", "", [("{}", 200)]),
    # Distinct findings: a's critical finding has both risks and counts once; a's cleared one not at all.
    (
        "Findings by severity",
        "{{severity}}",
        [
            ('{severity="critical"}', 1),
            ('{severity="high"}', 1),
            ('{severity="medium"}', 1),
            ('{severity="low"}', 0),
        ],
    ),
    ("Findings by risk", "{{risk}}", [('{risk="availability"}', 2), ('{risk="prediction"}', 2)]),
    ("Pods not ready because of drift", "not ready: drift", [("{}", 1)]),
    ("Pods not ready because of drift", "drifted, still ready", [("{}", 1)]),
    ("Pods not ready because of drift", "target lost", [("{}", 1)]),
    ("Canary", "ok", [("{}", 1)]),
    ("Canary", "answers differ", [("{}", 1)]),
    ("Canary", "server not reached", [("{}", 0)]),
    ("Check duration", "check p50", [("{}", 2)]),
    ("Check duration", "check max", [("{}", 9)]),
    ("Checks, errors and timeouts", "errors", [("{}", 1)]),
    ("Lockfile digests in use", "{{digest}}", [('{digest="sha256:1"}', 2), ('{digest="sha256:2"}', 1)]),
]


@pytest.mark.promtool
def test_the_queries_count_what_their_panels_say(promtool: str, tmp_path: Path) -> None:
    tests = []
    for title, legend, samples in EXPECTED:
        tests.append(
            {
                "expr": _concrete(_expr(title, legend)),
                "eval_time": "5m",
                "exp_samples": [{"labels": labels, "value": value} for labels, value in samples],
            }
        )
    spec = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in SERIES],
                "promql_expr_test": tests,
            }
        ],
    }
    path = tmp_path / "dashboard.test.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    done = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.promtool
def test_the_canary_queries_have_no_data_without_a_canary(promtool: str, tmp_path: Path) -> None:
    """A fleet with no --canary: the canary queries return nothing (the panels say so), not 0."""
    plain = [(s, v) for s, v in SERIES if "envcheck_canary_" not in s]
    tests = [
        {"expr": _concrete(_expr("Canary", legend)), "eval_time": "5m", "exp_samples": []}
        for legend in ("ok", "answers differ", "server not reached")
    ]
    tests.append({"expr": _concrete(_expr("Canary max abs error")), "eval_time": "5m", "exp_samples": []})
    spec = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in plain],
                "promql_expr_test": tests,
            }
        ],
    }
    path = tmp_path / "no-canary.test.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    done = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
