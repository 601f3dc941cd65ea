"""The sidecar's HTTP endpoints as a WSGI application, built by ``make_app(state)``: testable without a socket.

``GET /healthz``  200 ``{"status": "ok"}`` while the checking loop is alive (even when the target is lost), 503
                  when it has stopped or stalled: the liveness probe.
``GET /readyz``   the readiness probe, as the gate (``--gate``) makes it from the checks. A check passes when it
                  found nothing at or above ``--fail-on``; it does not before the first check (``no check yet``),
                  when the target cannot be inspected (``target lost: ...``) or the check ran past its time budget
                  (``check timed out: ...``). ``always``: 200 ``{"ready": true, ...}`` while the last check passes,
                  503 ``{"ready": false, "reason": ...}`` otherwise; ``startup``: 503 until a check passes, 200
                  from then on; ``never``: 200. ``drift_ok`` and ``drift_reason`` say how the last check went,
                  whatever the gate.
``GET /metrics``  Prometheus text format (OpenMetrics when ``Accept`` names it).
``GET /report``   the last JSON report; 503 before one, and while the last check timed out.

``HEAD`` answers as ``GET`` without a body. Other methods get 405 with ``Allow``, other paths 404, and a request
with a body 413 (nothing here takes input, so none is read). No response carries anything taken from the
request: the metrics format is one of two, chosen from ``Accept``, and its rendering is cached per format.
"""

from __future__ import annotations

import enum
import json
import threading
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.registry import CollectorRegistry

from envcheck.sidecar.checker import timestamp
from envcheck.sidecar.metrics import make_registry
from envcheck.sidecar.state import State, View

StartResponse = Callable[..., Any]
WsgiApp = Callable[[Dict[str, Any], StartResponse], Iterable[bytes]]
Response = Tuple[str, List[Tuple[str, str]], bytes]

ALLOW = "GET, HEAD"
_STATUS = {200: "200 OK", 404: "404 Not Found", 405: "405 Method Not Allowed", 413: "413 Content Too Large"}
_STATUS[503] = "503 Service Unavailable"


def _json(code: int, data: Dict[str, Any], *headers: Tuple[str, str]) -> Response:
    body = (json.dumps(data) + "\n").encode("utf-8")
    return _STATUS[code], [("Content-Type", "application/json"), *headers], body


def healthz(view: View) -> Response:
    if view.alive:
        return _json(200, {"status": "ok"})
    return _json(503, {"status": "stopped"})


def readyz(view: View) -> Response:
    last = view.last
    report = view.report
    data: Dict[str, Any] = {
        "ready": view.ready,
        "reason": view.reason,
        "gate": view.gate.value,
        "drift_ok": view.drift_ok,
        "drift_reason": view.drift_reason,
        "findings": 0 if last is None or last.report is None else len(last.failing),
        "highest": None if report is None or report.highest is None else report.highest.label,
        "target": None if last is None else last.target,
        "checked_at": None if last is None else timestamp(last.started_at + last.duration_s),
    }
    return _json(200 if view.ready else 503, data)


def report(view: View) -> Response:
    if view.last is not None and view.last.timed_out:
        return _json(503, {"reason": view.drift_reason})
    if view.report_json is None:
        return _json(503, {"reason": "no check yet"})
    return _STATUS[200], [("Content-Type", "application/json")], (view.report_json + "\n").encode("utf-8")


class Format(enum.Enum):
    """The metrics formats served; the value is the ``Content-Type`` sent with it."""

    TEXT = "text/plain; version=0.0.4; charset=utf-8"
    OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def negotiate(accept: str) -> Format:
    """OpenMetrics when ``accept`` (an ``Accept`` header) names ``application/openmetrics-text`` with a q above 0,
    else the Prometheus text format. Only media types and q are read: the answer is one of two, whatever was
    asked, so nothing of the header is reflected and a cache keyed on it stays bounded."""
    for item in accept.split(","):
        media, *params = item.split(";")
        if media.strip().lower() != "application/openmetrics-text":
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        if q > 0:
            return Format.OPENMETRICS
    return Format.TEXT


_ENCODERS: Dict[Format, Callable[[CollectorRegistry], bytes]] = {
    Format.TEXT: generate_latest,
    Format.OPENMETRICS: generate_openmetrics,
}


class MetricsCache:
    """The last rendering per format, reused until the state changes: a burst of scrapes between two checks
    costs one rendering, not one each. Keyed on the ``Format`` alone: two entries at most."""

    def __init__(self, registry: CollectorRegistry, state: State) -> None:
        self.registry = registry
        self.state = state
        self._lock = threading.Lock()
        self._cache: Dict[Format, Tuple[int, bytes]] = {}

    def __len__(self) -> int:
        return len(self._cache)

    def __call__(self, environ: Dict[str, Any]) -> Response:
        fmt = negotiate(str(environ.get("HTTP_ACCEPT", "")))
        with self._lock:
            generation = self.state.view().generation
            cached = self._cache.get(fmt)
            if cached is None or cached[0] != generation:
                cached = (generation, _ENCODERS[fmt](self.registry))
                self._cache[fmt] = cached
        return _STATUS[200], [("Content-Type", fmt.value)], cached[1]


def _content_length(environ: Dict[str, Any]) -> int:
    try:
        return int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 1  # unreadable: treat as a body


def make_app(
    state: State, registry: Optional[CollectorRegistry] = None, metrics: Optional[MetricsCache] = None
) -> WsgiApp:
    """The WSGI application over ``state``; ``registry`` defaults to a new one with the sidecar's collector, and
    ``metrics`` (the /metrics endpoint and its cache) to one over that registry."""
    if metrics is None:
        metrics = MetricsCache(registry if registry is not None else make_registry(state), state)
    views: Dict[str, Callable[[View], Response]] = {"/healthz": healthz, "/readyz": readyz, "/report": report}

    def app(environ: Dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        path = str(environ.get("PATH_INFO", "/"))
        if _content_length(environ) > 0 or environ.get("HTTP_TRANSFER_ENCODING"):
            status, headers, body = _json(413, {"error": "request bodies are not accepted"})
        elif path != "/metrics" and path not in views:
            status, headers, body = _json(404, {"error": "not found", "paths": [*sorted(views), "/metrics"]})
        elif method not in ("GET", "HEAD"):
            status, headers, body = _json(405, {"error": "method not allowed"}, ("Allow", ALLOW))
        elif path == "/metrics":
            status, headers, body = metrics(environ)
        else:
            status, headers, body = views[path](state.view())
        headers = [*headers, ("Content-Length", str(len(body))), ("Cache-Control", "no-store")]
        start_response(status, headers)
        return [b""] if method == "HEAD" else [body]

    return app
