"""``envcheck sidecar`` in its image, beside a model-server container on the real Docker engine
(``@pytest.mark.docker``): readiness, drift, a restarted server, a lost one, and its metrics linted by promtool
(under ``--gate always``); and ``--gate startup`` stalling a rollout of a drifted image while a pod that became
ready on a good one stays ready through a drift.

The model server is ``python3 -m http.server`` in a venv with three small packages, under a tiny supervisor
shell that restarts it when it exits and holds it while ``/tmp/hold`` exists. The supervisor is there because the
sidecar joins the model container's PID namespace (``--pid container:MODEL``): when that namespace's first
process exits, the kernel kills every process in it, the sidecar included (``test_the_sidecar_dies_with_...``).
So "the server is gone" is shown with the server's process gone and its container still up, which is also what a
pod looks like when the server container restarts (there the pause container holds the namespace).

Both containers run as the same non-root UID and GID with every capability dropped, as in deploy/kubernetes: the
least privilege that lets the sidecar read the server's /proc/PID/root, environ and maps. Ports are published on
127.0.0.1 only; no container has a network beyond the default bridge, and nothing is pulled.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from tests.conftest import require_docker, require_promtool, venv_image_context

BASE = "envcheck-test-base:bookworm"
REPO = Path(__file__).resolve().parents[2]
TOKEN = uuid.uuid4().hex[:8]
USER = "10001:10001"  # the same for the server and the sidecar
INTERVAL = 1.0
MATCH = r"^python3 -m http\.server"
LOCK_IN_CONTAINER = "/etc/envcheck/envcheck.lock"
SITE = "/opt/venv/lib/python3*/site-packages"

SUPERVISOR = """\
#!/bin/sh
# The model server, restarted when it exits (a new PID), held while /tmp/hold exists.
while true; do
  if [ -e /tmp/hold ]; then sleep 0.1; continue; fi
  python3 -m http.server 8000 --bind 127.0.0.1 --directory /srv &
  echo $! > /tmp/server.pid
  wait $!
done
"""

#: The model server's image after its virtual environment: the page it serves and the supervisor.
MODEL_THEN = " && mkdir -p /srv && echo model > /srv/index.html"
MODEL_REST = """\
COPY supervise.sh /supervise.sh
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin OMP_NUM_THREADS=4
CMD ["sh", "/supervise.sh"]
"""

#: The least privilege both containers run with, as in deploy/kubernetes.
HARDENED = ["--user", USER, "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]


def _run(*args: str, timeout: float = 600, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False, **kwargs)


def _docker(*args: str, timeout: float = 120) -> str:
    done = _run("docker", *args, timeout=timeout)
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr.strip()}"
    return done.stdout.strip()


def _wait(what: str, probe: Callable[[], Any], timeout: float, every: float = 0.1) -> Any:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds with the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout} s (last: {last!r})")
        time.sleep(every)


# --- fixtures -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine() -> None:
    """A running engine with the base image (provisioned by scripts/test)."""
    require_docker(BASE)


@pytest.fixture(scope="module")
def sidecar_image(engine: None) -> Iterator[str]:
    """The sidecar image, built by the documented script from this checkout (no network in the build)."""
    tag = f"envcheck-test-{TOKEN}-sidecar"
    try:
        done = _run("bash", str(REPO / "scripts" / "build-sidecar-image"), BASE, tag)
        assert done.returncode == 0, done.stderr[-2000:]
        yield tag
    finally:
        _run("docker", "image", "rm", "-f", tag)


@pytest.fixture(scope="module")
def model_image(engine: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """python3 -m http.server under the supervisor, in a venv with alpha 1.0, beta 2.1 and gamma-lib 0.5."""
    context = tmp_path_factory.mktemp("model-image")
    wheels = [("alpha", "1.0", ["beta>=2"]), ("beta", "2.1", []), ("gamma-lib", "0.5", [])]
    venv_image_context(context, BASE, wheels, "alpha gamma-lib", then=MODEL_THEN, rest=MODEL_REST)
    (context / "supervise.sh").write_text(SUPERVISOR)
    tag = f"envcheck-test-{TOKEN}-model"
    try:
        _docker("build", "--quiet", "--network", "none", "-t", tag, str(context), timeout=600)
        yield tag
    finally:
        _run("docker", "image", "rm", "-f", tag)


class Containers:
    """Containers started by one test, all removed at its end."""

    def __init__(self, label: str) -> None:
        self.prefix = f"envcheck-test-{TOKEN}-{label}"
        self.names: List[str] = []

    def run(self, role: str, *args: str) -> str:
        name = f"{self.prefix}-{role}"
        self.names.append(name)
        _docker("run", "-d", "--name", name, *args)
        return name

    def remove(self) -> None:
        for name in reversed(self.names):
            _run("docker", "rm", "-f", name)


@pytest.fixture
def containers(request: pytest.FixtureRequest) -> Iterator[Containers]:
    made = Containers(re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:40].strip("-"))
    try:
        yield made
    finally:
        made.remove()


def _start_model(containers: Containers, image: str, role: str = "model") -> str:
    model = containers.run(role, *HARDENED, "--network", "none", image)
    _wait("the model server's first PID", lambda: _server_pid(model), timeout=30)
    return model


def _server_pid(model: str) -> Optional[int]:
    done = _run("docker", "exec", model, "cat", "/tmp/server.pid", timeout=30)
    return int(done.stdout) if done.returncode == 0 and done.stdout.strip().isdigit() else None


def _lockfile(model: str, sidecar_image: str, out: Path) -> Path:
    """The lockfile taken from the running server, by the sidecar image, the way the sidecar will read it."""
    done = _run(
        "docker", "run", "--rm", "--pid", f"container:{model}", *HARDENED, "--network", "none",
        "--entrypoint", "envcheck", sidecar_image, "snapshot", "--process-match", MATCH, "-o", "-",
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out.write_text(done.stdout)
    out.chmod(0o644)  # read by the sidecar's UID through the bind mount
    return out


def _start_sidecar(
    containers: Containers, model: str, image: str, lock: Path, *extra: str, role: str = "sidecar"
) -> Tuple[str, int]:
    sidecar = containers.run(
        role, "--pid", f"container:{model}", *HARDENED, "--read-only", "--tmpfs", "/tmp",
        "-p", "127.0.0.1::9717", "-v", f"{lock}:{LOCK_IN_CONTAINER}:ro",
        image, LOCK_IN_CONTAINER, "--process-match", MATCH, "--interval", str(INTERVAL),
        "--listen", "0.0.0.0:9717", *extra,
    )  # fmt: skip
    published = _docker("port", sidecar, "9717/tcp").splitlines()[0]  # 127.0.0.1:PORT
    host, _, port = published.rpartition(":")
    assert host == "127.0.0.1", published
    return sidecar, int(port)


def _get(port: int, path: str) -> Tuple[Optional[int], str]:
    """(status, body) of GET http://127.0.0.1:PORT/PATH; (None, error) when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
        return None, str(e)


def _readyz(port: int) -> Tuple[Optional[int], Dict[str, Any]]:
    status, body = _get(port, "/readyz")
    return status, json.loads(body) if status is not None else {}


def _wait_readyz(
    port: int,
    what: str,
    timeout: float,
    status: int,
    where: Callable[[Dict[str, Any]], bool] = lambda b: True,
    every: float = 0.1,
) -> Dict[str, Any]:
    """The body of /readyz once it answers ``status`` and ``where(body)`` holds."""

    def probe() -> Optional[Dict[str, Any]]:
        code, body = _readyz(port)
        return body if code == status and where(body) else None

    found: Dict[str, Any] = _wait(what, probe, timeout, every)
    return found


def _new_pid(model: str, old: Optional[int]) -> int:
    def probe() -> Optional[int]:
        pid = _server_pid(model)
        return pid if pid not in (None, old) else None

    found: int = _wait(f"a server PID other than {old}", probe, 30)
    return found


def _sample(metrics: str, name: str, **labels: str) -> List[float]:
    """The values of the series ``name`` whose labels include ``labels`` (a label given as ``re:X`` matches X)."""
    values = []
    for line in metrics.splitlines():
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        ok = True
        for key, want in labels.items():
            got = have.get(key)
            if got is None:
                ok = False
            elif want.startswith("re:"):
                ok = ok and re.fullmatch(want[3:], got) is not None
            else:
                ok = ok and got == want
        if ok:
            values.append(float(m.group(3)))
    return values


def _running(name: str) -> bool:
    return _docker("inspect", "-f", "{{.State.Running}}", name) == "true"


def _exec(model: str, script: str, user: str = "0") -> None:
    """A shell script in the model container: as root, the owner of its environment (a deploy, or an intruder),
    or as the server's user to signal it (the container has no CAP_KILL)."""
    _docker("exec", "-u", user, model, "sh", "-ec", script, timeout=60)


def _set_version(model: str, name: str, old: str, new: str) -> None:
    """Replace package ``name``'s dist-info at ``old`` with one at ``new``: built aside, then moved in, so that
    the sidecar never sees a folder whose name and METADATA disagree."""
    _exec(
        model,
        f"""
        site=$(echo {SITE})
        rm -rf /tmp/{name}-{new}.dist-info
        cp -a "$site/{name}-{old}.dist-info" /tmp/{name}-{new}.dist-info
        sed -i 's/^Version: {re.escape(old)}$/Version: {new}/' /tmp/{name}-{new}.dist-info/METADATA
        mv /tmp/{name}-{new}.dist-info "$site/"
        rm -rf "$site/{name}-{old}.dist-info"
        grep -q '^Version: {new}$' "$site/{name}-{new}.dist-info/METADATA"
        """,
    )


@pytest.fixture(scope="module")
def promtool() -> Optional[str]:
    return require_promtool()


# --- the story ------------------------------------------------------------------------------------------------


@pytest.mark.docker
@pytest.mark.promtool
def test_sidecar_follows_the_model_server_through_drift_restart_and_loss(
    model_image: str,
    sidecar_image: str,
    containers: Containers,
    promtool: Optional[str],
    tmp_path: Path,
) -> None:
    if promtool is None:
        pytest.skip("no promtool (scripts/ensure-promtool failed)")
    model = _start_model(containers, model_image)
    first = _server_pid(model)
    lock = _lockfile(model, sidecar_image, tmp_path / "envcheck.lock")
    # readiness follows every check: the gate that shows each transition on /readyz
    sidecar, port = _start_sidecar(containers, model, sidecar_image, lock, "--gate", "always")

    # 1. ready once the first check found the environment of the lockfile
    ready = _wait_readyz(port, "/readyz 200", 60, 200)
    assert ready["ready"] is True and ready["target"] == f"pid:{first}", ready
    assert _get(port, "/healthz") == (200, json.dumps({"status": "ok"}) + "\n")
    report = json.loads(_get(port, "/report")[1])
    assert not [f for f in report["findings"] if f["severity"] in ("high", "critical")], report

    # 2. drift: beta 2.1 -> 3.0 inside the running container; not ready within two intervals
    _set_version(model, "beta", "2.1", "3.0")
    changed = time.monotonic()
    drift = _wait_readyz(port, "/readyz 503 after drift", 10, 503, every=0.05)
    took = time.monotonic() - changed
    # within two intervals, plus headroom for polling, docker exec and a loaded two-CPU machine
    assert took <= 2 * INTERVAL + 2.0, f"drift noticed after {took:.2f} s"
    assert drift["ready"] is False and not drift["reason"].startswith("target lost"), drift
    assert "beta" in drift["reason"], drift
    drifted_metrics = _get(port, "/metrics")[1]
    assert _sample(
        drifted_metrics, "envcheck_finding", rule="re:package\\.version\\..*", component="packages", subject="beta"
    ) == [1.0], drifted_metrics
    assert _sample(drifted_metrics, "envcheck_ready") == [0.0]
    assert _sample(drifted_metrics, "envcheck_drift_ok") == [0.0]
    assert _sample(drifted_metrics, "envcheck_gate_info", gate="always") == [1.0]
    assert _sample(drifted_metrics, "envcheck_target_up") == [1.0]

    # 3. the server restarts (a new PID): the sidecar follows it, and still sees the drift there
    _exec(model, f"kill {first}", USER)
    second = _new_pid(model, first)
    followed = _wait_readyz(port, f"/readyz on pid:{second}", 15, 503, lambda b: b["target"] == f"pid:{second}")
    assert "beta" in followed["reason"], followed

    # 4. the package restored: ready again, on the new process
    _set_version(model, "beta", "3.0", "2.1")
    back = _wait_readyz(port, "/readyz 200 after restore", 10, 200)
    assert back["target"] == f"pid:{second}", back
    metrics = _get(port, "/metrics")[1]
    assert _sample(metrics, "envcheck_lockfile_info", target=f"pid:{second}") == [1.0], metrics
    assert _sample(metrics, "envcheck_finding", subject="beta") in ([], [0.0])

    # 5. the server gone (held by the supervisor, its container still up): target lost, the sidecar itself healthy
    _exec(model, f"touch /tmp/hold; kill {second}", USER)
    lost = _wait_readyz(port, "/readyz target lost", 15, 503, lambda b: str(b["reason"]).startswith("target lost"))
    assert lost["ready"] is False, lost
    assert _get(port, "/healthz")[0] == 200
    lost_metrics = _get(port, "/metrics")[1]
    assert _sample(lost_metrics, "envcheck_target_up") == [0.0]
    assert _sample(lost_metrics, "envcheck_check_errors_total")[0] >= 1
    checks_then = _sample(lost_metrics, "envcheck_checks_total")[0]
    _wait(
        "two more checks with the target lost",
        lambda: _sample(_get(port, "/metrics")[1], "envcheck_checks_total")[0] >= checks_then + 2,
        timeout=15,
    )
    assert _get(port, "/healthz")[0] == 200  # still, several checks later

    # 6. it comes back: found again, ready
    _exec(model, "rm -f /tmp/hold", USER)
    third = _new_pid(model, second)
    again = _wait_readyz(port, "/readyz 200 again", 15, 200)
    assert again["target"] == f"pid:{third}", again
    final_metrics = _get(port, "/metrics")[1]
    assert _sample(final_metrics, "envcheck_checks_total")[0] >= 5

    # the exposition lints clean, with findings present, with the target lost, and at the end
    for name, text in (("drifted", drifted_metrics), ("lost", lost_metrics), ("final", final_metrics)):
        done = _run(promtool, "check", "metrics", input=text, timeout=60)
        assert done.returncode == 0, f"{name}: {done.stdout}{done.stderr}"
        assert not (done.stdout + done.stderr).strip(), f"{name}: {done.stdout}{done.stderr}"
    for metric in (
        "envcheck_build_info",
        "envcheck_gate_info",
        "envcheck_drift_ok",
        "envcheck_lockfile_info",
        "envcheck_findings",
        "envcheck_last_check_timestamp_seconds",
        "envcheck_last_check_duration_seconds",
    ):
        assert _sample(final_metrics, metric), metric

    # the log: one JSON record per line, with each change of state
    logs = _run("docker", "logs", sidecar).stderr
    records = [json.loads(line) for line in logs.splitlines() if line.strip()]
    seen = {r.get("event") for r in records}
    assert {"check", "drift_appeared", "drift_cleared", "target_lost", "target_found"} <= seen, seen


@pytest.mark.docker
def test_a_startup_gate_stalls_a_drifted_rollout_and_keeps_a_ready_pod_ready(
    model_image: str, sidecar_image: str, containers: Containers, tmp_path: Path
) -> None:
    """``--gate startup`` (the default, given explicitly as in deploy/kubernetes): the pod of a drifted image never
    becomes ready, check after check, while a pod that became ready on the good image stays ready when its
    environment drifts, and says so in its metrics, /readyz and log."""
    good = _start_model(containers, model_image, role="model-good")
    lock = _lockfile(good, sidecar_image, tmp_path / "envcheck.lock")
    # the drifted image: the good one with beta 2.1 -> 3.0, committed (what a rebuilt base would ship)
    staging = _start_model(containers, model_image, role="model-staging")
    _set_version(staging, "beta", "2.1", "3.0")
    drifted_image = f"envcheck-test-{TOKEN}-drifted"
    try:
        _docker("commit", staging, drifted_image)
        _run("docker", "rm", "-f", staging)
        bad = _start_model(containers, drifted_image, role="model-bad")
        gate = ("--gate", "startup")
        _, good_port = _start_sidecar(containers, good, sidecar_image, lock, *gate, role="sidecar-good")
        bad_sidecar, bad_port = _start_sidecar(containers, bad, sidecar_image, lock, *gate, role="sidecar-bad")

        # the good pod: ready once its first check passed
        ready = _wait_readyz(good_port, "/readyz 200 beside the good image", 60, 200)
        assert ready["gate"] == "startup" and ready["drift_ok"] is True, ready

        # the rollout of the drifted image stalls: not ready at its first check, nor at any of the next three
        first = _wait_readyz(bad_port, "the drifted pod's first check", 60, 503, lambda b: b["target"] is not None)
        assert first["drift_ok"] is False and "beta" in first["drift_reason"], first
        checks = _sample(_get(bad_port, "/metrics")[1], "envcheck_checks_total")[0]
        while _sample(_get(bad_port, "/metrics")[1], "envcheck_checks_total")[0] < checks + 3:
            status, body = _readyz(bad_port)
            assert status == 503 and body["ready"] is False and "beta" in body["reason"], (status, body)
            time.sleep(0.1)
        assert _get(bad_port, "/healthz")[0] == 200  # the sidecar itself is well: no restart loop
        stalled = _get(bad_port, "/metrics")[1]
        assert _sample(stalled, "envcheck_ready") == [0.0] and _sample(stalled, "envcheck_drift_ok") == [0.0]
        assert _sample(stalled, "envcheck_gate_info", gate="startup") == [1.0]
        bad_log = [json.loads(line) for line in _run("docker", "logs", bad_sidecar).stderr.splitlines() if line]
        assert not [r for r in bad_log if r.get("event") in ("gate_opened", "drift_after_ready")], bad_log

        # the good pod drifts after it became ready: it stays ready, and its metrics and /readyz say drift
        _set_version(good, "beta", "2.1", "3.0")
        after = _wait_readyz(good_port, "drift seen by the ready pod", 10, 200, lambda b: b["drift_ok"] is False)
        assert after["ready"] is True and after["reason"] is None and "beta" in after["drift_reason"], after
        metrics = _get(good_port, "/metrics")[1]
        assert _sample(metrics, "envcheck_ready") == [1.0] and _sample(metrics, "envcheck_drift_ok") == [0.0]
        assert _sample(metrics, "envcheck_finding", subject="beta") == [1.0], metrics
        checks = _sample(metrics, "envcheck_checks_total")[0]
        _wait(
            "two more checks of the drifted, ready pod",
            lambda: _sample(_get(good_port, "/metrics")[1], "envcheck_checks_total")[0] >= checks + 2,
            timeout=15,
        )
        assert _readyz(good_port)[0] == 200
        good_log = _run("docker", "logs", f"{containers.prefix}-sidecar-good").stderr
        records = [json.loads(line) for line in good_log.splitlines() if line.strip()]
        said = [r for r in records if r.get("event") == "drift_after_ready"]
        assert len(said) == 1, said  # once per change, not once per check
        assert said[0]["message"] == "drift after ready: staying ready, gate=startup"
        assert [r["event"] for r in records].count("gate_opened") == 1
    finally:
        _run("docker", "rm", "-f", *containers.names)
        _run("docker", "image", "rm", "-f", drifted_image)


@pytest.mark.docker
def test_sigterm_stops_the_sidecar_within_a_second(
    model_image: str, sidecar_image: str, containers: Containers, tmp_path: Path
) -> None:
    model = _start_model(containers, model_image)
    lock = _lockfile(model, sidecar_image, tmp_path / "envcheck.lock")
    sidecar, port = _start_sidecar(containers, model, sidecar_image, lock)
    _wait("/healthz 200", lambda: _get(port, "/healthz")[0] == 200, 60)
    started = time.monotonic()
    _docker("kill", "--signal", "TERM", sidecar)
    _wait("the sidecar to exit", lambda: not _running(sidecar), 10, 0.05)
    took = time.monotonic() - started
    assert took < 3.0, f"stopped after {took:.2f} s"  # a second, plus the engine's latency and a loaded machine
    assert _docker("inspect", "-f", "{{.State.ExitCode}}", sidecar) == "0"


@pytest.mark.docker
def test_the_sidecar_dies_with_the_model_containers_pid_namespace(
    model_image: str, sidecar_image: str, containers: Containers, tmp_path: Path
) -> None:
    """With ``--pid container:MODEL`` the sidecar lives in the model container's PID namespace: stopping that
    container ends the namespace and the kernel kills the sidecar too. (In a pod the pause container holds the
    namespace, so a server container's restart leaves the sidecar running and reporting "target lost".)"""
    model = _start_model(containers, model_image)
    lock = _lockfile(model, sidecar_image, tmp_path / "envcheck.lock")
    sidecar, port = _start_sidecar(containers, model, sidecar_image, lock)
    _wait("/healthz 200", lambda: _get(port, "/healthz")[0] == 200, 60)
    _docker("kill", model)
    _wait("the sidecar to be killed", lambda: not _running(sidecar), 15)
    assert _docker("inspect", "-f", "{{.State.ExitCode}}", sidecar) == "137"  # SIGKILL from the kernel
