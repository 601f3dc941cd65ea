"""The sidecar's HTTP server under abuse, on real sockets: malformed and bare-LF heads, bodies, reflected request
values, endpoints that raise, floods of idle connections, and the real ``envcheck sidecar`` process at a low
file-descriptor limit."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

from envcheck import lockfile
from envcheck.sidecar import Checker, State, make_app
from envcheck.sidecar.app import WsgiApp
from envcheck.sidecar.server import HttpServer, connection_cap, head_end, parse_head, refused_early
from tests.sidecar.test_checker import BASE, FakeTarget, expected_fp

REPO = Path(__file__).resolve().parents[2]


def _state() -> State:
    target = FakeTarget(BASE)
    state = State("model.lock", "sha256:feed")
    state.record(Checker(expected_fp(), lambda: target, lock_name="model.lock").check_once())
    return state


class Served:
    """An ``HttpServer`` in a thread, its log lines parsed."""

    def __init__(self, app: WsgiApp, **kw: Any) -> None:
        self.lines: List[str] = []
        self.server = HttpServer("127.0.0.1", 0, app, log=self.lines.append, **kw)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever)

    def records(self, event: Optional[str] = None) -> List[Dict[str, Any]]:
        parsed = [json.loads(line) for line in list(self.lines)]
        return [r for r in parsed if event is None or r["event"] == event]


@contextlib.contextmanager
def served(app: Optional[WsgiApp] = None, **kw: Any) -> Iterator[Served]:
    # A long head timeout: a request that is answered only when it runs out would fail the tests' deadlines.
    kw.setdefault("timeout", 30.0)
    s = Served(app if app is not None else make_app(_state()), **kw)
    s.thread.start()
    try:
        yield s
    finally:
        s.server.shutdown()
        s.thread.join(5)
        assert not s.thread.is_alive()


def exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data``, read until the server closes; fails (socket.timeout) when it does not within ``timeout``."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks: List[bytes] = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.02)


# --- parsing ----------------------------------------------------------------------------------------------------


def test_parse_head() -> None:
    head = b"GET /metrics?name%5B%5D=x HTTP/1.1\r\nHost: a\r\nAccept: text/plain\r\nX-A: 1\r\nx-a: 2\r\n\r\n"
    env = parse_head(head, ("127.0.0.1", 9717), ("10.0.0.1", 5555))
    assert env is not None
    assert (env["REQUEST_METHOD"], env["PATH_INFO"], env["QUERY_STRING"]) == ("GET", "/metrics", "name%5B%5D=x")
    assert env["HTTP_ACCEPT"] == "text/plain" and env["HTTP_X_A"] == "1,2" and env["REMOTE_ADDR"] == "10.0.0.1"
    bare = parse_head(b"GET /readyz HTTP/1.1\nHost: a\nAccept: x\n\n", ("h", 1), None)
    assert bare is not None and bare["PATH_INFO"] == "/readyz" and bare["HTTP_ACCEPT"] == "x"
    for bad in (
        b"GARBAGE\r\n\r\n",
        b"GET / FTP/1\r\n\r\n",
        b"GET /\r\n\r\n",
        b"GET / HTTP/1.0\r\nNoColon\r\n\r\n",
        b"GET / HTTP/1.0\r\nA: 1\rB: 2\r\n\r\n",  # a bare CR
        b"GET / HTTP/1.0\r\nA: 1\r\n folded\r\n\r\n",
    ):
        assert parse_head(bad, ("h", 1), None) is None, bad


@pytest.mark.parametrize(
    ("data", "end"),
    [
        (b"GET / HTTP/1.0\r\n\r\n", 18),
        (b"GET / HTTP/1.0\n\n", 16),
        (b"GET / HTTP/1.0\r\nA: b\n\r\nrest", 23),
        (b"GET / HTTP/1.0\r\nA: b\r\n", -1),
    ],
    ids=["crlf", "lf", "mixed", "incomplete"],
)
def test_head_end(data: bytes, end: int) -> None:
    assert head_end(data) == end


def test_refused_early() -> None:
    assert not refused_early(b"GET / HTTP/1.1\r\nHost: x\r")  # the LF may still come
    assert not refused_early(b"GET / HT")
    assert refused_early(b"GET /\n")  # HTTP/0.9: no blank line will ever come
    assert refused_early(b"\x16\x03\x01\x02\x00\n")  # TLS to a plain port
    assert refused_early(b"GET / HTTP/1.1\rHost: x")


@pytest.mark.parametrize(
    ("descriptors", "cap"), [(20000, 1024), (1024, 960), (256, 192), (64, 48), (16, 8), (8, 1)]
)
def test_connection_cap_leaves_a_reserve(descriptors: int, cap: int) -> None:
    assert connection_cap(descriptors) == cap


# --- answers ----------------------------------------------------------------------------------------------------


def test_the_server_answers_refuses_and_never_resets() -> None:
    with served() as s:
        ok = exchange(s.port, b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert ok.startswith(b"HTTP/1.0 200 OK\r\n") and b"\r\nConnection: close\r\n" in ok
        # a body sent with the head, and a large one still on its way: the 413 is read, not reset
        small = exchange(s.port, b"POST /readyz HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
        assert small.startswith(b"HTTP/1.0 413 ")
        big = exchange(s.port, b"PUT /x HTTP/1.1\r\nContent-Length: 300000\r\n\r\n" + b"a" * 300000)
        assert big.startswith(b"HTTP/1.0 413 ")
        huge = exchange(s.port, b"GET / HTTP/1.0\r\nX: " + b"a" * 20000 + b"\r\n\r\n")
        assert huge.startswith(b"HTTP/1.0 431 ")
        assert exchange(s.port, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.0 400 ")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /healthz HTTP/1.1\nHost: x\n\n", b"200"),
        (b"GET /healthz HTTP/1.1\r\nHost: x\n\r\n", b"200"),
        (b"HEAD /readyz HTTP/1.0\n\n", b"200"),
        (b"POST /readyz HTTP/1.1\nContent-Length: 3\n\nabc", b"413"),
        (b"GET /healthz\n", b"400"),
        (b"GET /healthz HTTP/1.1\rHost: x\r\r", b"400"),
        (b"\n\n", b"400"),
    ],
    ids=["lf", "mixed", "head", "lf-body", "http-0.9", "bare-cr", "empty"],
)
def test_bare_line_feeds_are_answered_at_once(request_bytes: bytes, status: bytes) -> None:
    """Answered, not left to the head timeout (30 s here): the exchange must end well within its 5 s."""
    with served() as s:
        started = time.monotonic()
        answer = exchange(s.port, request_bytes, timeout=5.0)
        assert answer.split(b" ", 2)[1] == status, answer
        assert time.monotonic() - started < 4.0


MARK = "zqxreflectedzqx"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/report", f"/{MARK}"])
@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", f"PROPFIND{MARK}"])
def test_no_request_value_is_ever_reflected(path: str, method: str) -> None:
    accepts = [
        f"application/openmetrics-text; version=1.0.0{MARK}",
        f"application/openmetrics-text; version={MARK}",
        f"text/plain; version=1.0.0; escaping={MARK}",
        f"text/plain; version=1.0.{MARK}",
        f"{MARK}/{MARK}; q=1",
    ]
    with served() as s:
        for accept in accepts:
            head = (
                f"{method} {path}?{MARK}={MARK} HTTP/1.1\r\nHost: {MARK}\r\nAccept: {accept}\r\n"
                f"User-Agent: {MARK}\r\nX-Forwarded-For: {MARK}\r\nCookie: a={MARK}\r\n"
                f"Content-Type: text/{MARK}\r\nX-{MARK}: {MARK}\r\n\r\n"
            )
            answer = exchange(s.port, head.encode())
            assert MARK not in answer.decode("latin-1").lower(), answer
            assert not answer.startswith(b"HTTP/1.0 500"), answer
        assert s.records() == []  # nothing went wrong on the way


def _boom(environ: Dict[str, Any], start_response: Any) -> List[bytes]:
    raise ValueError("boom\nsecond line")


def _other(environ: Dict[str, Any], start_response: Any) -> List[bytes]:
    return [{}["missing"]]  # type: ignore[index]


def test_an_endpoint_that_raises_is_a_500_logged_with_its_traceback() -> None:
    bugs = {"/boom": _boom, "/other": _other}

    def app(environ: Dict[str, Any], start_response: Any) -> Any:
        return bugs[environ["PATH_INFO"]](environ, start_response)

    with served(app) as s:
        for path in ("/boom", "/boom", "/boom", "/other"):
            answer = exchange(s.port, f"GET {path} HTTP/1.0\r\n\r\n".encode())
            assert answer.startswith(b"HTTP/1.0 500 Internal Server Error\r\n")
        assert all("\n" not in line for line in s.lines)  # one line each
        errors = s.records("http_error")
    # the same bug three times: one line (once a minute); another bug: its own line
    assert [(e["path"], e["error"]) for e in errors] == [
        ("/boom", "ValueError: boom second line"),
        ("/other", "KeyError: 'missing'"),
    ]
    assert errors[0]["traceback"].startswith("Traceback (most recent call last):")
    assert "in _boom" in errors[0]["traceback"] and "ValueError: boom" in errors[0]["traceback"]
    assert "in _other" in errors[1]["traceback"]


def test_an_error_in_the_servers_loop_is_one_json_line_with_its_traceback() -> None:
    def broken() -> None:
        raise RuntimeError("in a callback")

    with served() as s:
        s.server.loop.call_soon_threadsafe(broken)
        wait_for("the server_error line", lambda: s.records("server_error"))
        assert exchange(s.port, b"GET /healthz HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200 ")
        [error] = s.records("server_error")
    assert error["error"] == "RuntimeError: in a callback" and "in broken" in error["traceback"]


# --- connection floods ------------------------------------------------------------------------------------------


def _idle_connections(port: int, n: int) -> List[socket.socket]:
    """``n`` connections that send nothing (the kernel completes them whether the server accepts or not)."""
    out = []
    for _ in range(n):
        out.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    return out


def _close_all(socks: List[socket.socket]) -> None:
    for sock in socks:
        sock.close()


def test_idle_connections_at_the_cap_do_not_lock_the_probe_out() -> None:
    with served(max_connections=8) as s:
        idle = _idle_connections(s.port, 60)
        try:
            started = time.monotonic()
            answer = exchange(s.port, b"GET /healthz HTTP/1.0\r\n\r\n", timeout=10)
            assert answer.startswith(b"HTTP/1.0 200 "), answer
            assert time.monotonic() - started < 5.0
            assert s.server.open_connections <= 8 + 1  # one accepted while the one it displaced closes
        finally:
            _close_all(idle)
        limits = s.records("connection_limit")
    assert len(limits) == 1, limits  # 50 times at the limit: one line (a minute)
    assert limits[0]["limit"] == 8 and "connections open" in limits[0]["cause"]


#: Runs in a child at a low RLIMIT_NOFILE: the server with a connection cap far above the limit, so that it meets
#: EMFILE in accept() itself. Prints the port, then its log lines.
EMFILE_SERVER = r"""
import sys, threading
from envcheck.sidecar import State, make_app
from envcheck.sidecar.server import HttpServer
def log(line):
    print(line, flush=True)
server = HttpServer("127.0.0.1", 0, make_app(State("x.lock", "sha256:0")), max_connections=100000, log=log)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def _low_nofile(limit: int) -> Callable[[], None]:
    def preexec() -> None:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))

    return preexec


def _env() -> Dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _healthz_through_a_flood(port: int, idle: int) -> bytes:
    socks = _idle_connections(port, idle)
    try:
        started = time.monotonic()
        answer = exchange(port, b"GET /healthz HTTP/1.0\r\n\r\n", timeout=10)
        assert time.monotonic() - started < 8.0
        return answer
    finally:
        _close_all(socks)


def test_out_of_descriptors_in_accept_still_answers_healthz() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", EMFILE_SERVER],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_low_nofile(48),
        env=_env(),
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        answer = _healthz_through_a_flood(port, 200)
        assert answer.startswith(b"HTTP/1.0 200 "), answer
    finally:
        proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=10)
    records = [json.loads(line) for line in out.decode().splitlines()]
    assert [r["event"] for r in records] == ["connection_limit"], (records, err)
    assert "Too many open files" in records[0]["cause"]
    assert not err.strip(), err.decode()  # no asyncio traceback on stderr, no flood


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    path = tmp_path / "model.lock"
    lockfile.write(expected_fp(), path)
    return path


def test_the_real_sidecar_at_its_descriptor_limit_keeps_answering_healthz(lock: Path) -> None:
    command = [sys.executable, "-m", "envcheck", "sidecar", str(lock), "--pid", "999999999"]
    command += ["--listen", "127.0.0.1:0", "--interval", "0.2"]
    with subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=_low_nofile(64), env=_env()
    ) as proc:
        assert proc.stderr is not None
        try:
            start = json.loads(proc.stderr.readline())
            assert start["event"] == "start" and start["max_connections"] == connection_cap(64)
            port = int(start["listen"].rsplit(":", 1)[1])
            for _ in range(2):  # twice: the condition logged once, not once per flood
                answer = _healthz_through_a_flood(port, 300)
                assert answer.startswith(b"HTTP/1.0 200 "), answer
                assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {"status": "ok"}
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
        lines = [start] + [json.loads(line) for line in proc.stderr.read().decode().splitlines()]  # all JSON
    assert code == 0 and lines[-1]["event"] == "stop"
    limits = [r for r in lines if r["event"] == "connection_limit"]
    assert len(limits) == 1, limits
    assert limits[0]["limit"] == connection_cap(64) and limits[0]["open"] <= connection_cap(64) + 1, limits
    assert any(r["event"] == "target_lost" for r in lines)  # and it went on checking
