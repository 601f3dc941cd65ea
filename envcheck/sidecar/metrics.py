"""The sidecar's Prometheus metrics: one custom collector that reads the ``State`` at scrape time, on a registry of
its own (nothing is registered at import, and the process's default registry is left alone).

``envcheck_ready`` is the readiness answer (what /readyz says, as ``--gate`` makes it), ``envcheck_drift_ok`` how
the last check went whatever the gate, and ``envcheck_gate_info{gate}`` the gate: ready with drift is
``envcheck_ready == 1 and envcheck_drift_ok == 0``.

Names follow Prometheus conventions: ``envcheck_`` prefix, base units, ``_total`` counters, ``_info``
pseudo-metrics valued 1. Label values are only rule ids, components, subjects (package and variable *names*),
severities, risks, the lockfile's path and digest and the target's name (as given, ``--python
/opt/my_venv/bin/python``, escaped by the exposition format): never a recorded or live value, which for an
environment variable could be a secret.

With ``--canary``, ``envcheck_canary_ok``, ``_up``, ``_max_abs_error``, ``_duration_seconds``,
``_last_run_timestamp_seconds`` and ``_runs_total`` say how the last canary run went; without it they are not
exported (a 0 would read as a failed canary).

``envcheck_finding`` has one series per current finding (value 1), at most ``MAX_SERIES`` of them, most severe
first. A finding that clears goes to 0 and stays there for ``CLEARED_KEEP_S`` (so that a scrape sees it clear),
then its series is dropped. While the target is lost the findings of the last report it gave are kept.
"""

from __future__ import annotations

import math
import platform
from typing import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry

from envcheck import __version__
from envcheck.findings import RISKS, Severity
from envcheck.sidecar.state import State, View

#: Longest label value exported; a subject is a name, and a name this long is cut rather than trusted.
MAX_LABEL = 200


def _label(value: str) -> str:
    return value if len(value) <= MAX_LABEL else value[: MAX_LABEL - 3] + "..."


class SidecarCollector:
    """Yields the sidecar's metric families from a ``State`` view, at each scrape."""

    def __init__(self, state: State) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        view = self.state.view()
        last = view.last

        build = InfoMetricFamily("envcheck_build", "envcheck's version and the Python it runs on.")
        build.add_metric([], {"version": __version__, "python": platform.python_version()})
        yield build

        target = last.target if last is not None else ""
        lock = InfoMetricFamily("envcheck_lockfile", "The lockfile the sidecar compares with, and the target.")
        lock.add_metric([], {"lockfile": _label(view.lock_name), "digest": view.digest, "target": _label(target)})
        yield lock

        counts = {(s.label, r): 0 for s in Severity for r in RISKS}
        if view.report is not None:
            for f in view.report.findings:
                for risk in f.risks:
                    counts[f.severity.label, risk] += 1
        findings = GaugeMetricFamily(
            "envcheck_findings",
            "Findings of the last report, per severity and risk (a finding with two risks counts in both).",
            labels=["severity", "risk"],
        )
        for (severity, risk), n in counts.items():
            findings.add_metric([severity, risk], n)
        yield findings

        finding = GaugeMetricFamily(
            "envcheck_finding",
            "1 for each current finding, 0 for a while after it cleared (at most 200 series, most severe first).",
            labels=["rule", "component", "subject", "severity"],
        )
        for (rule, component, subject, severity), value in view.series:
            finding.add_metric([rule, component, _label(subject), severity], value)
        yield finding

        gate = InfoMetricFamily("envcheck_gate", "The --gate mode: how the checks become the readiness answer.")
        gate.add_metric([], {"gate": view.gate.value})
        yield gate

        yield GaugeMetricFamily(
            "envcheck_ready",
            "1 when /readyz answers 200, as --gate makes it: always, while the last check passes; startup, once "
            "a check has passed; never, always.",
            value=int(view.ready),
        )
        yield GaugeMetricFamily(
            "envcheck_drift_ok",
            "1 when the last check passed (inspected the target, found nothing at or above --fail-on), whatever "
            "--gate says.",
            value=int(view.drift_ok),
        )
        yield GaugeMetricFamily(
            "envcheck_target_up", "1 when the last check could inspect the target.", value=int(view.target_up)
        )
        ended = view.ended
        yield GaugeMetricFamily(
            "envcheck_last_check_timestamp_seconds",
            "Unix time at which the last check ended (0 before the first; a check that timed out has not ended).",
            value=0.0 if ended is None else ended.started_at + ended.duration_s,
        )
        yield GaugeMetricFamily(
            "envcheck_last_check_duration_seconds",
            "Wall time of the last check that ended.",
            value=0.0 if ended is None else ended.duration_s,
        )
        yield CounterMetricFamily("envcheck_checks", "Checks that ended.", value=view.checks_total)
        yield CounterMetricFamily(
            "envcheck_check_errors",
            "Checks that could not inspect the target, timed out, or failed.",
            value=view.errors_total,
        )
        yield CounterMetricFamily(
            "envcheck_check_timeouts",
            "Checks abandoned because they ran past their time budget (also counted in envcheck_check_errors).",
            value=view.timeouts_total,
        )
        if view.canary_configured:
            yield from _canary_metrics(view)


def _canary_metrics(view: View) -> Iterator[Metric]:
    """The ``--canary`` families: only exported when a canary is configured (a 0 would read as a failed one)."""
    canary = view.canary
    yield GaugeMetricFamily(
        "envcheck_canary_ok",
        "1 when the last canary run got every golden case answered as recorded (0 before the first run, when "
        "the model server could not be asked, or when an answer differed).",
        value=int(canary is not None and canary.ok),
    )
    yield GaugeMetricFamily(
        "envcheck_canary_up",
        "1 when the last canary run could ask the model server (whatever it answered).",
        value=int(canary is not None and not canary.lost),
    )
    yield GaugeMetricFamily(
        "envcheck_canary_max_abs_error",
        "The largest absolute error between the model server's answers and the recorded outputs in the last "
        "canary run (NaN when nothing was compared).",
        value=math.nan if canary is None else canary.max_abs_error,
    )
    yield GaugeMetricFamily(
        "envcheck_canary_duration_seconds",
        "Wall time of the last canary run.",
        value=0.0 if canary is None else canary.duration_s,
    )
    yield GaugeMetricFamily(
        "envcheck_canary_last_run_timestamp_seconds",
        "Unix time at which the last canary run started (0 before the first).",
        value=0.0 if canary is None else canary.started_at,
    )
    yield CounterMetricFamily("envcheck_canary_runs", "Canary runs.", value=view.canary_runs)


def make_registry(state: State) -> CollectorRegistry:
    """A new registry holding only the sidecar's collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SidecarCollector(state))
    return registry
