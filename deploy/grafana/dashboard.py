"""Build the Grafana dashboard for a fleet of envcheck sidecars and write it as ``envcheck-fleet.json``.

Built with Grafana's own generator, the grafana-foundation-sdk (pinned in pyproject.toml's ``test`` extra; it needs
CPython >= 3.11), so that the JSON follows Grafana's dashboard schema rather than a hand-kept copy of it. The JSON
is committed beside this file and tests/deploy/test_grafana.py regenerates it and fails when the two differ: edit
this file, then run

    python deploy/grafana/dashboard.py            # rewrites deploy/grafana/envcheck-fleet.json

The queries read the sidecar's metrics (envcheck/sidecar/metrics.py) and the target labels the scrape adds
(namespace, pod, instance, job). Every selector carries the ``$namespace`` and ``$pod`` template variables.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

#: Where the committed dashboard lives.
OUTPUT = Path(__file__).resolve().parent / "envcheck-fleet.json"
UID = "envcheck-fleet"
DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
#: The label matchers every query carries: the dashboard's namespace and pod variables.
SEL = 'namespace=~"$namespace", pod=~"$pod"'


def m(name: str, extra: str = "") -> str:
    """A selector for ``name`` restricted to the chosen namespaces and pods (and ``extra`` matchers)."""
    return f"{name}{{{SEL}{', ' + extra if extra else ''}}}"


def _zero_when_none(expr: str) -> str:
    """``expr`` (an aggregate with no labels), or 0 where it has no samples: a count of nothing reads 0, not
    "no data"."""
    return f"{expr} or vector(0)"


# --- the queries, by panel -----------------------------------------------------------------------------------

PODS = f"count({m('envcheck_build_info')})"
READY = f"sum({m('envcheck_ready')})"
DRIFTED = _zero_when_none(f"count({m('envcheck_drift_ok')} == 0)")
TARGET_LOST = _zero_when_none(f"count({m('envcheck_target_up')} == 0)")
DIGESTS = f"count(count by (digest) ({m('envcheck_lockfile_info')}))"
OLDEST_CHECK = f"max(time() - ({m('envcheck_last_check_timestamp_seconds')} > 0))"

#: Distinct current findings per severity, from ``envcheck_finding`` (one series per finding: a finding with two
#: risks is one series, where ``envcheck_findings`` counts it under each risk). The second arm gives each
#: severity a 0 when it has no finding. At most 200 series a pod, most severe first: a pod past that undercounts
#: its least severe findings.
FINDINGS_BY_SEVERITY = (
    f"count by (severity) ({m('envcheck_finding')} == 1) or (sum by (severity) ({m('envcheck_findings')}) * 0)"
)
#: Per risk a finding is counted once for each risk it carries: the two lines do not add up to the findings.
FINDINGS_BY_RISK = f"sum by (risk) ({m('envcheck_findings')})"

#: Not ready because of drift: the target could be inspected (a lost target is its own line), and the gate
#: holds the pod out (--gate always, or startup before a check passed).
NOT_READY_DRIFT = _zero_when_none(
    f"count(({m('envcheck_ready')} == 0) and ignoring (__name__) ({m('envcheck_target_up')} == 1))"
)
#: Drifted while ready: --gate startup (once opened) or never keep a drifted pod in its Service.
DRIFT_WHILE_READY = _zero_when_none(
    f"count(({m('envcheck_drift_ok')} == 0) and ignoring (__name__) ({m('envcheck_ready')} == 1)"
    f" and ignoring (__name__) ({m('envcheck_target_up')} == 1))"
)
#: The drifted pods now, valued by their readiness (0: out of the Service, 1: still serving).
DRIFTED_PODS = f"{m('envcheck_ready')} and ignoring (__name__) ({m('envcheck_drift_ok')} == 0)"
CURRENT_FINDINGS = f"{m('envcheck_finding')} == 1"


def _canary_count(condition: str, family: str) -> str:
    """Pods whose canary meets ``condition``: 0 when none does but some pod runs --canary, no data when none
    does (so the panel says there is no canary rather than a reassuring 0)."""
    return f"count({condition}) or (count({m(family)}) * 0)"


CANARY_DIFFERS = _canary_count(
    f"({m('envcheck_canary_ok')} == 0) and ignoring (__name__) ({m('envcheck_canary_up')} == 1)",
    "envcheck_canary_ok",
)
CANARY_DOWN = _canary_count(f"{m('envcheck_canary_up')} == 0", "envcheck_canary_up")
CANARY_OK = _canary_count(f"{m('envcheck_canary_ok')} == 1", "envcheck_canary_ok")
CANARY_MAX_ABS_ERROR = m("envcheck_canary_max_abs_error")
CANARY_RUNS = f"sum(rate({m('envcheck_canary_runs_total')}[$__rate_interval]))"

CHECK_P50 = f"quantile(0.5, {m('envcheck_last_check_duration_seconds')})"
CHECK_MAX = f"max({m('envcheck_last_check_duration_seconds')})"
CANARY_DURATION_MAX = f"max({m('envcheck_canary_duration_seconds')})"
CHECKS_RATE = f"sum(rate({m('envcheck_checks_total')}[$__rate_interval]))"
ERRORS_RATE = f"sum(rate({m('envcheck_check_errors_total')}[$__rate_interval]))"
TIMEOUTS_RATE = f"sum(rate({m('envcheck_check_timeouts_total')}[$__rate_interval]))"
#: More than one digest is a rollout in progress, or pods left behind on an old lockfile.
DIGESTS_IN_USE = f"count by (digest) ({m('envcheck_lockfile_info')})"

NO_CANARY = "no pod runs --canary"


# --- builders --------------------------------------------------------------------------------------------------


def _query(
    expr: str, ref: str, legend: Optional[str] = None, *, instant: bool = False, rows: bool = False
) -> prometheus.Dataquery:
    """A Prometheus query; ``instant`` for the value now (stats, tables), ``rows`` for one table row a series."""
    q = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    if legend is not None:
        q = q.legend_format(legend)
    if instant:
        q = q.instant()
    if rows:
        q = q.format(pm.PromQueryFormat.TABLE)
    return q


def _thresholds(*steps: Tuple[Optional[float], str]) -> db.ThresholdsConfig:
    return (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode.ABSOLUTE)
        .steps([dm.Threshold(value=v, color=c) for v, c in steps])
    )


def _stat(
    pid: int, title: str, description: str, expr: str, *, red_from: Optional[float] = None, unit: str = "none"
) -> stat.Panel:
    steps: List[Tuple[Optional[float], str]] = [(None, "green")]
    if red_from is not None:
        steps.append((red_from, "red"))
    return (
        stat.Panel()
        .id(pid)
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(_query(expr, "A", instant=True))
        .unit(unit)
        .thresholds(_thresholds(*steps))
        .color_mode(cm.BigValueColorMode.VALUE if red_from is None else cm.BigValueColorMode.BACKGROUND)
        .graph_mode(cm.BigValueGraphMode.NONE)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]))
        .height(4)
        .span(4)
    )


def _series(
    pid: int,
    title: str,
    description: str,
    queries: Sequence[Tuple[str, str]],
    *,
    unit: str = "none",
    stacked: bool = False,
    no_value: Optional[str] = None,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .id(pid)
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .min(0)
        .legend(
            cb.VizLegendOptions()
            .show_legend(True)
            .display_mode(cm.LegendDisplayMode.LIST)
            .placement(cm.LegendPlacement.BOTTOM)
        )
        .height(8)
        .span(12)
    )
    for i, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_query(expr, "ABCDEFGH"[i], legend))
    if stacked:
        panel = panel.stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL)).fill_opacity(60)
    if no_value is not None:
        panel = panel.no_value(no_value)
    return panel


def _table(
    pid: int,
    title: str,
    description: str,
    expr: str,
    *,
    hide: Sequence[str] = (),
    rename: Optional[Dict[str, str]] = None,
    mappings: Sequence[dm.ValueMap] = (),
) -> table.Panel:
    organize: Dict[str, object] = {"excludeByName": {name: True for name in ("Time", "__name__", *hide)}}
    if rename:
        organize["renameByName"] = rename
    panel = (
        table.Panel()
        .id(pid)
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .with_target(_query(expr, "A", instant=True, rows=True))
        .with_transformation(dm.DataTransformerConfig(id_val="organize", options=organize))
        .no_value("none")
        .height(8)
        .span(12)
    )
    if mappings:
        panel = panel.mappings(list(mappings))
    return panel


#: envcheck_ready's value in the drifted pods' table.
READY_TEXT = dm.ValueMap(
    options={
        "0": dm.ValueMappingResult(text="out of the Service", color="red", index=0),
        "1": dm.ValueMappingResult(text="still serving", color="orange", index=1),
    }
)


def _variables() -> List[db.DatasourceVariable | db.QueryVariable]:
    namespace = (
        db.QueryVariable("namespace")
        .label("Namespace")
        .datasource(DATASOURCE)
        .query("label_values(envcheck_build_info, namespace)")
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )
    pod = (
        db.QueryVariable("pod")
        .label("Pod")
        .datasource(DATASOURCE)
        .query('label_values(envcheck_build_info{namespace=~"$namespace"}, pod)')
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )
    return [db.DatasourceVariable("datasource").label("Prometheus").type("prometheus"), namespace, pod]


def build() -> db.Dashboard:
    """The dashboard, panel by panel (README.md beside this file says what each shows)."""
    dash = (
        db.Dashboard("envcheck sidecar fleet")
        .uid(UID)
        .description(
            "Environment drift, readiness and canaries of the model servers watched by envcheck sidecars."
        )
        .tags(["envcheck"])
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("browser")
        .editable()
    )
    for variable in _variables():
        dash = dash.with_variable(variable)
    panels: List[stat.Panel | timeseries.Panel | table.Panel] = [
        _stat(1, "Pods", "Sidecars scraped (envcheck_build_info).", PODS),
        _stat(2, "Ready", "Pods whose sidecar answers /readyz 200 (envcheck_ready).", READY),
        _stat(
            3,
            "Drifted",
            "Pods whose last check did not pass, whatever the gate (envcheck_drift_ok == 0).",
            DRIFTED,
            red_from=1,
        ),
        _stat(
            4,
            "Target lost",
            "Pods whose sidecar cannot inspect the model server (envcheck_target_up == 0).",
            TARGET_LOST,
            red_from=1,
        ),
        _stat(
            5,
            "Lockfile digests",
            "Distinct lockfiles in use: more than one is a rollout in progress or pods left on an old lockfile.",
            DIGESTS,
            red_from=2,
        ),
        _stat(6, "Oldest check", "Age of the oldest last completed check among the pods.", OLDEST_CHECK, unit="s"),
        _series(
            7,
            "Findings by severity",
            "Distinct current findings per severity, all chosen pods together "
            "(envcheck_finding: at most 200 a pod, most severe first).",
            [(FINDINGS_BY_SEVERITY, "{{severity}}")],
            stacked=True,
        ),
        _series(
            8,
            "Findings by risk",
            "Current findings per risk; a finding with both risks counts in each, so "
            "the lines do not add up to the findings.",
            [(FINDINGS_BY_RISK, "{{risk}}")],
        ),
        _series(
            9,
            "Pods not ready because of drift",
            "Held out of the Service by drift (target inspected), "
            "drifted but still serving (--gate startup once opened, or never), and target lost.",
            [
                (NOT_READY_DRIFT, "not ready: drift"),
                (DRIFT_WHILE_READY, "drifted, still ready"),
                (TARGET_LOST, "target lost"),
            ],
        ),
        _table(
            10,
            "Drifted pods",
            "Pods whose last check did not pass, and whether they still serve (envcheck_ready).",
            DRIFTED_PODS,
            rename={"Value": "ready"},
            mappings=[READY_TEXT],
        ),
        _table(
            11,
            "Current findings",
            "One row per current finding (envcheck_finding == 1); sort by a column's header. /report on the "
            "sidecar says more.",
            CURRENT_FINDINGS,
            hide=("Value",),
        ),
        _series(
            12,
            "Canary",
            "Pods by the last canary run: answers as recorded, answers differing, model "
            "server not reached. No data when no pod runs --canary.",
            [(CANARY_OK, "ok"), (CANARY_DIFFERS, "answers differ"), (CANARY_DOWN, "server not reached")],
            no_value=NO_CANARY,
        ),
        _series(
            13,
            "Canary max abs error",
            "Largest absolute error between the model server's answers and "
            "the golden outputs in each pod's last canary run (a gap: nothing compared).",
            [(CANARY_MAX_ABS_ERROR, "{{namespace}}/{{pod}}")],
            no_value=NO_CANARY,
        ),
        _series(
            14,
            "Check duration",
            "Wall time of the last completed check across the pods (median and "
            "slowest), and of the slowest last canary run.",
            [(CHECK_P50, "check p50"), (CHECK_MAX, "check max"), (CANARY_DURATION_MAX, "canary max")],
            unit="s",
        ),
        _series(
            15,
            "Checks, errors and timeouts",
            "Per second, all chosen pods: completed checks, checks that "
            "could not inspect the target or failed, checks that ran past their budget, canary runs.",
            [
                (CHECKS_RATE, "checks"),
                (ERRORS_RATE, "errors"),
                (TIMEOUTS_RATE, "timeouts"),
                (CANARY_RUNS, "canary runs"),
            ],
            unit="ops",
        ),
        _series(
            16,
            "Lockfile digests in use",
            "Pods per lockfile digest: more than one line is a mixed rollout.",
            [(DIGESTS_IN_USE, "{{digest}}")],
            stacked=True,
        ),
    ]
    for panel in panels:
        dash = dash.with_panel(panel)
    return dash


def render() -> str:
    """The dashboard's JSON, as committed: sorted keys, two-space indents, a final newline."""
    return json.dumps(build().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def main(argv: Sequence[str]) -> int:
    out = Path(argv[0]) if argv else OUTPUT
    out.write_text(render(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
