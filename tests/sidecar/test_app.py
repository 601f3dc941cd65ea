"""The sidecar's WSGI app, called with environ dicts (no socket): every endpoint and status, the metrics parsed
back, readiness transitions, and planted secrets that must not leak."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any, Dict, Hashable, List, Optional, Sequence, Tuple
from wsgiref.util import setup_testing_defaults

import pytest
from prometheus_client.parser import text_string_to_metric_families

from envcheck import __version__, capture, probe
from envcheck.findings import Severity
from envcheck.report.json import JsonReporter
from envcheck.sidecar import Checker, Gate, State, make_app, make_registry
from envcheck.sidecar.app import Format, MetricsCache, WsgiApp, negotiate
from envcheck.targets.interface import Target, folders_token
from tests.sidecar.test_checker import BASE, FakeTarget, drifted, expected_fp

Response = Tuple[int, Dict[str, str], bytes]


def call(app: WsgiApp, path: str, method: str = "GET", body: bytes = b"", **headers: str) -> Response:
    environ: Dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path}
    if body:
        environ["CONTENT_LENGTH"] = str(len(body))
        environ["wsgi.input"] = io.BytesIO(body)
    environ.update({f"HTTP_{k.upper()}": v for k, v in headers.items()})
    setup_testing_defaults(environ)
    got: Dict[str, Any] = {}

    def start_response(status: str, response_headers: List[Tuple[str, str]]) -> None:
        got["status"], got["headers"] = int(status.split()[0]), dict(response_headers)

    out = b"".join(app(environ, start_response))
    return got["status"], got["headers"], out


def as_json(response: Response) -> Any:
    assert response[1]["Content-Type"] == "application/json"
    return json.loads(response[2])


class Sidecar:
    """A checker, its state and the app over them, driven by hand."""

    def __init__(
        self, target: Target, fail_on: Optional[Severity] = Severity.HIGH, gate: Gate = Gate.STARTUP
    ) -> None:
        self.target = target
        self.state = State("model.lock", "sha256:feed", gate=gate)
        self.checker = Checker(expected_fp(), lambda: target, fail_on=fail_on, lock_name="model.lock")
        self.app = make_app(self.state)
        self.logs: List[Dict[str, Any]] = []

    def check(self) -> None:
        self.logs += self.state.record(self.checker.check_once())

    def get(self, path: str) -> Response:
        return call(self.app, path)

    def metrics(self) -> Dict[str, List[Tuple[Dict[str, str], float]]]:
        status, headers, body = self.get("/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain")
        return {
            family.name: [(s.labels, s.value) for s in family.samples]
            for family in text_string_to_metric_families(body.decode())
        }


# --- endpoints --------------------------------------------------------------------------------------------------


def test_before_the_first_check() -> None:
    side = Sidecar(FakeTarget(BASE))
    assert as_json(side.get("/healthz")) == {"status": "ok"}
    status, _, _ = side.get("/readyz")
    assert status == 503
    ready = as_json(side.get("/readyz"))
    assert ready == {
        "ready": False,
        "reason": "no check yet",
        "findings": 0,
        "highest": None,
        "target": None,
        "checked_at": None,
        "gate": "startup",
        "drift_ok": False,
        "drift_reason": "no check yet",
    }
    assert side.get("/report")[0] == 503 and as_json(side.get("/report")) == {"reason": "no check yet"}
    m = side.metrics()
    assert m["envcheck_ready"] == [({}, 0.0)] and m["envcheck_target_up"] == [({}, 0.0)]
    assert m["envcheck_checks"] == [({}, 0.0)]  # the parser strips _total from the family name
    assert m["envcheck_last_check_timestamp_seconds"] == [({}, 0.0)]


def test_readiness_transitions_and_metrics() -> None:
    target = FakeTarget(BASE)
    side = Sidecar(target, gate=Gate.ALWAYS)
    side.check()
    status, _, _ = side.get("/readyz")
    ready = as_json(side.get("/readyz"))
    assert status == 200 and ready["ready"] is True and ready["reason"] is None
    assert ready["findings"] == 0 and ready["highest"] is None and ready["target"] == "fake:1"
    assert ready["checked_at"].endswith("Z")

    drifted(target, numpy="2.0.0", torch="2.3.1")
    side.check()
    status, _, _ = side.get("/readyz")
    body = as_json(side.get("/readyz"))
    assert status == 503
    assert body["reason"] == "1 finding at or above high: package.version.numpy2 numpy"  # 1.x -> 2.x
    assert body["findings"] == 1 and body["highest"] == "high"
    report = as_json(side.get("/report"))
    assert report["summary"]["failing"] == 1 and report["actual"] == "fake:1"
    last = side.state.view().report
    assert last is not None and side.get("/report")[2].decode() == JsonReporter().render(last) + "\n"

    m = side.metrics()
    assert m["envcheck_ready"] == [({}, 0.0)] and m["envcheck_target_up"] == [({}, 1.0)]
    findings = {(labels["severity"], labels["risk"]): v for labels, v in m["envcheck_findings"]}
    assert len(findings) == 8  # every severity x risk, 0 when none
    assert findings["high", "availability"] == findings["high", "prediction"] == 1.0
    assert findings["low", "prediction"] == 1.0 and findings["critical", "prediction"] == 0.0
    series = {(b["rule"], b["subject"]): (b["component"], b["severity"], v) for b, v in m["envcheck_finding"]}
    assert series == {
        ("package.version.numpy2", "numpy"): ("packages", "high", 1.0),
        ("package.version.patch", "torch"): ("packages", "low", 1.0),
    }
    [(build, one)] = m["envcheck_build_info"]
    assert build["version"] == __version__ and build["python"].startswith("3.") and one == 1.0
    assert m["envcheck_lockfile_info"] == [
        ({"lockfile": "model.lock", "digest": "sha256:feed", "target": "fake:1"}, 1.0)
    ]
    assert m["envcheck_checks"] == [({}, 2.0)] and m["envcheck_check_errors"] == [({}, 0.0)]
    assert m["envcheck_last_check_duration_seconds"][0][1] >= 0.0

    drifted(target, numpy="1.26.4", torch="2.3.0")
    side.check()
    assert side.get("/readyz")[0] == 200
    cleared = {lb["subject"]: v for lb, v in side.metrics()["envcheck_finding"]}
    assert cleared == {"numpy": 0.0, "torch": 0.0}  # gone to 0; dropped after CLEARED_KEEP_S
    events = [e["event"] for e in side.logs]
    assert events == ["check", "target_found", "check", "drift_appeared", "check", "drift_cleared"]


def test_target_lost_keeps_healthz_up() -> None:
    target = FakeTarget(BASE)
    side = Sidecar(target, gate=Gate.ALWAYS)
    side.check()
    target.gone = True
    side.check()
    status, _, _ = side.get("/readyz")
    body = as_json(side.get("/readyz"))
    assert status == 503 and body["ready"] is False
    assert body["reason"].startswith("target lost")
    assert side.get("/healthz")[0] == 200
    m = side.metrics()
    assert m["envcheck_target_up"] == [({}, 0.0)] and m["envcheck_check_errors"] == [({}, 1.0)]
    assert side.get("/report")[0] == 200  # the last report the target gave
    assert [e["event"] for e in side.logs][-2:] == ["check", "target_lost"]


def test_healthz_fails_when_the_loop_stopped() -> None:
    side = Sidecar(FakeTarget(BASE))
    side.state.stop()
    status, _, _ = side.get("/healthz")
    assert status == 503


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/report"])
def test_head_answers_headers_only(path: str) -> None:
    side = Sidecar(FakeTarget(BASE))
    side.check()
    get, head = call(side.app, path), call(side.app, path, "HEAD")
    assert head[0] == get[0] and head[2] == b""
    assert head[1]["Content-Length"] == str(len(get[2]))


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/report"])
def test_other_methods_are_refused(method: str, path: str) -> None:
    status, headers, _ = call(Sidecar(FakeTarget(BASE)).app, path, method)
    assert status == 405 and headers["Allow"] == "GET, HEAD"


@pytest.mark.parametrize("path", ["/", "/metrics/", "/ready", "/healthz/x", "/../etc/passwd"])
def test_unknown_paths(path: str) -> None:
    assert call(Sidecar(FakeTarget(BASE)).app, path)[0] == 404


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/readyz"), ("POST", "/metrics"), ("PUT", "/nowhere")], ids=["get", "post", "404"]
)
def test_request_bodies_are_refused(method: str, path: str) -> None:
    app = Sidecar(FakeTarget(BASE)).app
    assert call(app, path, method, body=b"x" * 10)[0] == 413
    assert call(app, path, method, TRANSFER_ENCODING="chunked")[0] == 413


def test_openmetrics_when_asked() -> None:
    side = Sidecar(FakeTarget(BASE))
    side.check()
    status, headers, body = call(side.app, "/metrics", ACCEPT="application/openmetrics-text; version=1.0.0")
    assert status == 200 and headers["Content-Type"].startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")


PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;"
    "version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,"
    "*/*;q=0.1"
)


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [
        (PROMETHEUS_ACCEPT, Format.OPENMETRICS),
        ("application/openmetrics-text", Format.OPENMETRICS),
        ("Application/OpenMetrics-Text; version=9.9.9", Format.OPENMETRICS),
        ("text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.1", Format.OPENMETRICS),
        ("application/openmetrics-text;q=0", Format.TEXT),
        ("application/openmetrics-text;q=nope", Format.TEXT),
        ("text/plain; version=1.0.0; escaping=allow-utf-8", Format.TEXT),
        ("", Format.TEXT),
        ("*/*", Format.TEXT),
        (";;;,,,=", Format.TEXT),
    ],
    ids=["prometheus", "bare", "case-and-version", "any-q", "q0", "bad-q", "text-1.0", "none", "any", "junk"],
)
def test_negotiate(accept: str, fmt: Format) -> None:
    assert negotiate(accept) is fmt


def test_metrics_come_in_two_formats_and_the_cache_holds_two_at_most() -> None:
    """Whatever the Accept header, the answer is one of two renderings, cached per format: a client cycling
    through distinct headers (versions, escapings, junk) neither grows the cache nor sees its header echoed."""
    side = Sidecar(FakeTarget(BASE))
    side.check()
    cache = MetricsCache(make_registry(side.state), side.state)
    app = make_app(side.state, metrics=cache)
    accepts = [f"application/openmetrics-text; version=1.{i}.0; escaping=x{i}" for i in range(300)]
    accepts += [f"text/plain; version=1.0.{i}; q=0.{i}" for i in range(300)]
    accepts += ["application/openmetrics-text; version=1.0.0evil", "text/plain; version=2"]
    bodies = {}
    for accept in accepts:
        status, headers, body = call(app, "/metrics", ACCEPT=accept)
        assert status == 200
        assert headers["Content-Type"] in {f.value for f in Format}
        bodies.setdefault(headers["Content-Type"], set()).add(body)
        assert "evil" not in headers["Content-Type"] and "x1" not in headers["Content-Type"]
    assert len(cache) == 2
    assert {ct: len(b) for ct, b in bodies.items()} == {f.value: 1 for f in Format}  # the same state: one each


def test_a_timed_out_check_shows_in_every_endpoint() -> None:
    side = Sidecar(FakeTarget(BASE), gate=Gate.ALWAYS)
    side.check()
    side.logs += side.state.record(side.checker.timed_out(1_800_000_000.0, 60.5, 60.0, still_running=False))
    status, _, _ = side.get("/readyz")
    ready = as_json(side.get("/readyz"))
    assert status == 503 and ready["ready"] is False
    assert ready["reason"] == "check timed out: no result within 60 s"
    assert side.get("/report")[0] == 503
    assert as_json(side.get("/report")) == {"reason": "check timed out: no result within 60 s"}
    assert side.get("/healthz")[0] == 200
    m = side.metrics()
    assert m["envcheck_check_timeouts"] == [({}, 1.0)] and m["envcheck_check_errors"] == [({}, 1.0)]
    assert m["envcheck_target_up"] == [({}, 0.0)] and m["envcheck_ready"] == [({}, 0.0)]
    # not a check that ended: the staleness alert (last check too old) sees the checks stop
    ended = side.state.view().ended
    assert ended is not None and m["envcheck_checks"] == [({}, 1.0)]
    assert m["envcheck_last_check_timestamp_seconds"] == [({}, ended.started_at + ended.duration_s)]
    assert [e["event"] for e in side.logs][-2:] == ["check", "check_timeout"]
    side.check()  # the next check ends in time
    assert side.get("/readyz")[0] == 200 and side.get("/report")[0] == 200
    assert [e["event"] for e in side.logs][-2:] == ["check", "target_found"]


def test_the_registry_is_the_sidecars_own() -> None:
    from prometheus_client import REGISTRY

    side = Sidecar(FakeTarget(BASE))
    registry = make_registry(side.state)
    assert registry is not REGISTRY
    names = {f.name for f in registry.collect()}
    assert "envcheck_ready" in names and "process_cpu_seconds" not in names
    assert REGISTRY.get_sample_value("envcheck_ready") is None


# --- secrets ----------------------------------------------------------------------------------------------------

SECRETS = ("tok-PLANTED-1", "tok-PLANTED-2", "url-PLANTED-3", "url-PLANTED-4", "dl-PLANTED-5", "qs-PLANTED-6")


class SiteTarget(Target):
    """The real probe over one site folder, with this process's environment (set by the test)."""

    kind = "site"
    shows_hardware = False

    def __init__(self, site: Path) -> None:
        self.site = site

    @property
    def name(self) -> str:
        return "site"

    def probe(self, extra_env: Sequence[str] = ()) -> Dict[str, Any]:
        return probe.probe(path=[str(self.site)], extra_env=extra_env)

    def change_token(self) -> Optional[Hashable]:
        return folders_token([str(self.site)])


def install(site: Path, version: str, secret_user: str, secret_query: str) -> None:
    for old in site.glob("demo-*.dist-info"):
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    meta = site / f"demo-{version}.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: demo\nVersion: {version}\n")
    url = f"https://alice:{secret_user}@files.example/demo-{version}.whl?token={secret_query}"
    (meta / "direct_url.json").write_text(json.dumps({"url": url, "archive_info": {"hash": f"sha256={version}"}}))


def test_planted_secrets_never_leave(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    site.mkdir()
    install(site, "1.0", "dl-PLANTED-5", "qs-PLANTED-6")
    # KMP_ is allow-listed, but the name looks secret: recorded as a name only. LANGUAGE is allow-listed: a URL in
    # it loses its credentials. AWS_SECRET_ACCESS_KEY is not allow-listed at all.
    monkeypatch.setenv("KMP_AUTH_TOKEN", "tok-PLANTED-1")
    monkeypatch.setenv("LANGUAGE", "https://bob:url-PLANTED-3@lang.example/en")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "tok-PLANTED-2")
    target = SiteTarget(site)
    expected = capture.take(target, extra_env=["KMP_AUTH_TOKEN"])
    assert "KMP_AUTH_TOKEN" in expected.env.redacted

    state = State("model.lock", expected.meta.digest)
    checker = Checker(expected, lambda: target, lock_name="model.lock", fail_on=Severity.LOW)
    app = make_app(state)
    logs: List[Dict[str, Any]] = []
    logs += state.record(checker.check_once())

    install(site, "2.0", "dl-PLANTED-7", "qs-PLANTED-8")
    monkeypatch.setenv("KMP_AUTH_TOKEN", "tok-PLANTED-9")
    monkeypatch.setenv("LANGUAGE", "https://carol:url-PLANTED-4@lang.example/de")
    logs += state.record(checker.check_once())
    report = state.view().report
    assert report is not None
    assert {f.subject for f in report.findings} >= {"demo", "LANGUAGE"}

    outputs = [json.dumps(logs)] + [call(app, p)[2].decode() for p in ("/metrics", "/report", "/readyz")]
    planted = (*SECRETS, "dl-PLANTED-7", "qs-PLANTED-8", "tok-PLANTED-9")
    for text in outputs:
        for secret in planted:
            assert secret not in text
    metrics = outputs[1]
    assert 'subject="LANGUAGE"' in metrics and "lang.example" not in metrics  # names as labels, never values
    assert os.environ["KMP_AUTH_TOKEN"] == "tok-PLANTED-9"  # the planted values were really there
