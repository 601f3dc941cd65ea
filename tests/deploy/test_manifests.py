"""The deployment files in deploy/: Kubernetes manifests validated offline against the API schemas
(``kubernetes-validate``) with the properties the README promises asserted, and the Prometheus rules checked and
unit-tested by ``promtool`` (``@pytest.mark.promtool``, installed by ``scripts/ensure-promtool``)."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import yaml

from tests.conftest import require_promtool

REPO = Path(__file__).resolve().parents[2]
KUBE = REPO / "deploy" / "kubernetes"
PROM = REPO / "deploy" / "prometheus"
FORMS = ["pod-native-sidecar.yaml", "pod-classic-sidecar.yaml"]
MANIFESTS = sorted(p.name for p in KUBE.glob("*.yaml"))
#: Kinds that come from a CRD: no schema in kubernetes-validate, checked by hand below.
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}
#: Native sidecars are on by default from 1.29 (GA in 1.33); the classic form must also suit old clusters.
VERSIONS = {"pod-native-sidecar.yaml": ["1.29.0", "1.33.0", "latest"]}
DEFAULT_VERSIONS = ["1.25.0", "1.29.0", "latest"]
SIDECAR_PORT = 9717


def _docs(name: str) -> List[Dict[str, Any]]:
    return [d for d in yaml.safe_load_all((KUBE / name).read_text()) if d]


def _pod(name: str) -> Dict[str, Any]:
    (deployment,) = _docs(name)
    assert deployment["kind"] == "Deployment"
    spec: Dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def _containers(name: str) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(model server, sidecar) of a form."""
    pod = _pod(name)
    everything = pod.get("initContainers", []) + pod["containers"]
    by_name = {c["name"]: c for c in everything}
    return by_name["model-server"], by_name["envcheck"]


def _versions() -> Iterator[Any]:
    for name in MANIFESTS:
        for version in VERSIONS.get(name, DEFAULT_VERSIONS):
            yield pytest.param(name, version, id=f"{name}-{version}")


@pytest.mark.parametrize("name, version", list(_versions()))
def test_manifests_validate_against_the_kubernetes_schemas(name: str, version: str) -> None:
    kv = pytest.importorskip("kubernetes_validate")
    if version == "latest":
        version = kv.latest_version()
    docs = _docs(name)
    assert docs, name
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) in CRD_KINDS:
            continue
        kv.validate(doc, version, strict=True)  # strict: an unknown or misplaced field is an error


def test_the_native_form_needs_a_cluster_that_knows_sidecars() -> None:
    """The schemas do catch a misplaced field: before 1.28 a container had no ``restartPolicy``."""
    kv = pytest.importorskip("kubernetes_validate")
    (deployment,) = _docs("pod-native-sidecar.yaml")
    with pytest.raises(kv.ValidationError, match="restartPolicy"):
        kv.validate(deployment, "1.27.0", strict=True)


def test_the_native_sidecar_is_an_init_container_that_always_restarts() -> None:
    pod = _pod("pod-native-sidecar.yaml")
    (sidecar,) = pod["initContainers"]
    assert sidecar["name"] == "envcheck" and sidecar["restartPolicy"] == "Always"
    assert [c["name"] for c in pod["containers"]] == ["model-server"]
    assert sidecar["startupProbe"]["httpGet"] == {"path": "/healthz", "port": SIDECAR_PORT}


def test_the_classic_sidecar_is_a_second_container() -> None:
    pod = _pod("pod-classic-sidecar.yaml")
    assert "initContainers" not in pod
    assert [c["name"] for c in pod["containers"]] == ["model-server", "envcheck"]
    assert all("restartPolicy" not in c for c in pod["containers"])


@pytest.mark.parametrize("name", FORMS)
def test_both_forms_run_the_same_sidecar(name: str) -> None:
    """Apart from where the sidecar sits (and the native form's startup probe) the two files are the same pod."""
    _, native = _containers("pod-native-sidecar.yaml")
    _, sidecar = _containers(name)
    strip = ("restartPolicy", "startupProbe")
    assert {k: v for k, v in sidecar.items() if k not in strip} == {
        k: v for k, v in native.items() if k not in strip
    }
    assert _pod(name)["volumes"] == _pod("pod-native-sidecar.yaml")["volumes"]


@pytest.mark.parametrize("name", FORMS)
def test_the_pod_shares_its_process_namespace(name: str) -> None:
    pod = _pod(name)
    assert pod["shareProcessNamespace"] is True
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("name", FORMS)
def test_the_sidecar_runs_as_the_model_servers_user_with_no_capability(name: str) -> None:
    model, sidecar = _containers(name)
    pod_ctx = _pod(name).get("securityContext", {})

    def effective(container: Dict[str, Any], key: str) -> Any:
        return container["securityContext"].get(key, pod_ctx.get(key))

    for key in ("runAsUser", "runAsGroup"):  # the kernel's ptrace check compares both
        assert effective(sidecar, key) == effective(model, key) is not None, key
    assert effective(sidecar, "runAsUser") != 0
    for container in (model, sidecar):
        ctx = container["securityContext"]
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["readOnlyRootFilesystem"] is True
        assert ctx["capabilities"] == {"drop": ["ALL"]}  # nothing added, CAP_SYS_PTRACE least of all
        assert not ctx.get("privileged", False)


@pytest.mark.parametrize("name", FORMS)
def test_drift_fails_readiness_of_the_model_server_and_never_liveness(name: str) -> None:
    model, sidecar = _containers(name)
    # the model server is ready only when the sidecar is: a numeric port (a named one is looked up in the probed
    # container's own ports)
    assert model["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": SIDECAR_PORT}
    assert sidecar["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": SIDECAR_PORT}
    probes = [
        (c["name"], kind, c[kind])
        for c in (model, sidecar)
        for kind in ("livenessProbe", "startupProbe")
        if kind in c
    ]
    for container, kind, probe in probes:
        assert probe.get("httpGet", {}).get("path") != "/readyz", f"{container} {kind} must never use /readyz"
        assert "/readyz" not in str(probe), f"{container} {kind} must never use /readyz"


def _args(sidecar: Dict[str, Any]) -> Dict[str, str]:
    args: List[str] = sidecar["args"]
    assert not args[0].startswith("-"), "the lockfile comes first (the ENTRYPOINT is envcheck sidecar)"
    return dict(zip(args[1::2], args[2::2]))


@pytest.mark.parametrize("name", FORMS)
def test_the_sidecar_follows_the_server_by_its_command_line(name: str) -> None:
    import re

    model, sidecar = _containers(name)
    options = _args(sidecar)
    pattern = re.compile(options["--process-match"])
    server = " ".join(model["command"] + model.get("args", []))
    assert pattern.search(server)
    # anchored: neither a wrapper shell nor the sidecar itself matches
    assert not pattern.search(f"sh -c {shlex.quote(server)}")
    itself = "/opt/envcheck/bin/python /opt/envcheck/bin/envcheck sidecar " + " ".join(sidecar["args"])
    assert not pattern.search(itself)
    assert "--pid" not in options  # a PID does not survive a restart
    assert float(options["--interval"]) > 0
    assert options["--fail-on"] in ("low", "medium", "high", "critical")
    # a drift that reaches every replica must not take the whole fleet out of its Service
    assert options["--gate"] == "startup"


@pytest.mark.parametrize("name", FORMS)
def test_the_sidecar_listens_where_probes_and_prometheus_reach_it(name: str) -> None:
    """The kubelet's httpGet probes and Prometheus connect to the pod IP, so the sidecar binds all interfaces."""
    _, sidecar = _containers(name)
    assert _args(sidecar)["--listen"] == f"0.0.0.0:{SIDECAR_PORT}"
    assert sidecar["ports"] == [{"name": "envcheck", "containerPort": SIDECAR_PORT}]
    annotations = _docs(name)[0]["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(SIDECAR_PORT),
        "prometheus.io/path": "/metrics",
    }


@pytest.mark.parametrize("name", FORMS)
def test_the_sidecar_is_small(name: str) -> None:
    _, sidecar = _containers(name)
    resources = sidecar["resources"]
    assert resources["requests"] == {"cpu": "20m", "memory": "64Mi"}
    assert set(resources["limits"]) == {"cpu", "memory"}


@pytest.mark.parametrize("name", FORMS)
def test_the_lockfile_comes_read_only_from_the_configmap(name: str) -> None:
    _, sidecar = _containers(name)
    (configmap,) = _docs("configmap-lockfile.yaml")
    volumes = {v["name"]: v for v in _pod(name)["volumes"]}
    (mount,) = [m for m in sidecar["volumeMounts"] if m["mountPath"] == "/etc/envcheck"]
    assert mount["readOnly"] is True
    source = volumes[mount["name"]]["configMap"]
    assert source["name"] == configmap["metadata"]["name"] == "envcheck-lock"
    assert source["defaultMode"] == 0o444
    (item,) = source["items"]
    assert item["key"] in configmap["data"]
    assert sidecar["args"][0] == f"{mount['mountPath']}/{item['path']}"
    assert (
        "kubectl create configmap envcheck-lock --from-file=envcheck.lock"
        in (KUBE / "configmap-lockfile.yaml").read_text()
    )


def test_the_services_select_the_pods_and_keep_the_sidecar_port_apart() -> None:
    services = {d["metadata"]["name"]: d for d in _docs("service.yaml")}
    labels = _docs("pod-native-sidecar.yaml")[0]["spec"]["template"]["metadata"]["labels"]
    for service in services.values():
        assert service["spec"]["selector"].items() <= labels.items()
    model_ports = {p["targetPort"] for p in services["model-server"]["spec"]["ports"]}
    assert SIDECAR_PORT not in model_ports  # clients of the model never reach /report
    metrics = services["model-server-envcheck"]
    assert metrics["spec"]["clusterIP"] == "None" and metrics["spec"]["publishNotReadyAddresses"] is True
    (port,) = metrics["spec"]["ports"]
    assert port["targetPort"] == SIDECAR_PORT
    (monitor,) = _docs("servicemonitor.yaml")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= metrics["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [port["name"]]


def test_the_readme_explains_what_the_manifests_do() -> None:
    text = " ".join((KUBE / "README.md").read_text().split())
    for phrase in (
        "shareProcessNamespace: true",
        "CAP_SYS_PTRACE",
        "runAsUser",
        "/healthz",
        "/readyz",
        "--process-match",
        "--listen 0.0.0.0:9717",
        "restartPolicy: Always",
    ):
        assert phrase in text, phrase
    for name in MANIFESTS:
        assert f"`{name}`" in text, name


# --- Prometheus -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def promtool() -> str:
    """promtool (provisioned by scripts/test)."""
    return require_promtool()


def _promtool(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120, cwd=PROM, check=False)


@pytest.mark.promtool
def test_the_rules_pass_promtool_check(promtool: str) -> None:
    done = _promtool(promtool, "check", "rules", "envcheck-rules.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@pytest.mark.promtool
def test_each_alert_fires_on_the_right_series(promtool: str) -> None:
    done = _promtool(promtool, "test", "rules", "envcheck-rules.test.yaml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_each_alert_is_unit_tested_and_documented() -> None:
    rules = yaml.safe_load((PROM / "envcheck-rules.yaml").read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    tested = {
        case["alertname"]
        for test in yaml.safe_load((PROM / "envcheck-rules.test.yaml").read_text())["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    readme = (PROM / "README.md").read_text()
    assert {a["alert"] for a in alerts} == tested
    for alert in alerts:
        assert {"summary", "description", "runbook"} <= set(alert["annotations"]), alert["alert"]
        assert alert["labels"]["severity"] in ("critical", "warning")
        anchor = alert["annotations"]["runbook"].split("#", 1)[1]
        assert f"## {alert['alert']}" in readme and anchor == alert["alert"].lower()
    metrics = " ".join(a["expr"] for a in alerts)
    for metric in (
        "envcheck_findings",
        "envcheck_target_up",
        "envcheck_last_check_timestamp_seconds",
        "envcheck_checks_total",
        "envcheck_check_errors_total",
    ):
        assert metric in metrics, metric
