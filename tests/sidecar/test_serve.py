"""Serving: --listen parsing, the server and loop in-process, the command's one-line errors, and one loopback run
of the real ``envcheck sidecar`` process stopped by SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
from click.testing import CliRunner

from envcheck import api, lockfile
from envcheck.cli import cli
from envcheck.sidecar import Checker, State, make_app, parse_listen, serve
from envcheck.sidecar.serve import HttpServer, parse_head
from tests.sidecar.test_checker import BASE, FakeTarget, expected_fp


def _runner() -> CliRunner:
    """stderr kept apart from stdout: the default from click 8.2, ``mix_stderr=False`` before (Python 3.9)."""
    import inspect

    if "mix_stderr" in inspect.signature(CliRunner.__init__).parameters:
        return CliRunner(mix_stderr=False)  # type: ignore[call-arg]
    return CliRunner()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9717", ("127.0.0.1", 9717)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("[::1]:9717", ("::1", 9717)),
        ("[::]:0", ("::", 0)),
        ("localhost:9717", ("localhost", 9717)),
    ],
    ids=["loopback", "all", "ipv6", "ipv6-all", "name"],
)
def test_parse_listen(text: str, expected: Tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["9717", ":9717", "host:", "host:x", "host:70000", "::1:9717"])
def test_parse_listen_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="--listen"):
        parse_listen(text)


def get(url: str, timeout: float = 5.0) -> Tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return int(r.status), bytes(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_serve_in_process_answers_and_stops() -> None:
    target = FakeTarget(BASE)
    checker = Checker(expected_fp(), lambda: target, lock_name="model.lock")
    state = State("model.lock", "sha256:feed")
    stop = threading.Event()
    lines: List[Dict[str, Any]] = []
    done: Dict[str, int] = {}

    def run() -> None:
        done["code"] = serve(
            checker,
            state,
            host="127.0.0.1",
            port=0,
            interval=0.05,
            log=lambda s: lines.append(json.loads(s)),
            stop=stop,
            install_signals=False,
        )

    thread = threading.Thread(target=run)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not any(e["event"] == "start" for e in lines) or state.view().last is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        base = "http://" + next(e["listen"] for e in lines if e["event"] == "start")
        assert get(base + "/readyz")[0] == 200
        with ThreadPoolExecutor(32) as pool:
            codes = list(pool.map(lambda _: get(base + "/metrics")[0], range(64)))
        assert codes == [200] * 64
        time.sleep(0.3)
        assert target.probes == 1 and state.view().checks_total > 2  # steady: checked, not read again
    finally:
        started = time.monotonic()
        stop.set()
        thread.join(5)
    assert not thread.is_alive() and time.monotonic() - started < 1.0
    assert done["code"] == 0 and lines[-1]["event"] == "stop"
    assert not state.view().alive
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=1).close()


# --- the command ------------------------------------------------------------------------------------------------


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    path = tmp_path / "model.lock"
    lockfile.write(expected_fp(), path)
    return path


def invoke(*args: str) -> Any:
    return _runner().invoke(cli, ["sidecar", *args])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.lock"], "missing.lock"),
        (["{lock}", "--policy", "{bad_policy}"], "policy.toml"),
        (["{lock}", "--listen", ":9717"], "--listen"),
        (["{lock}", "--pid", "1", "--python", "x"], "at most one target option"),
        (["{lock}", "--process-match", "("], "not a valid regular expression"),
        (["{lock}", "--blas-kernels"], "--blas-kernels applies to --pid and --process-match only"),
    ],
    ids=["no-lockfile", "bad-policy", "bad-listen", "two-targets", "bad-regex", "blas-kernels-alone"],
)
def test_start_errors_are_one_line_exit_2(lock: Path, tmp_path: Path, args: List[str], message: str) -> None:
    bad_policy = tmp_path / "policy.toml"
    bad_policy.write_text('fail_on = "sometimes"\n')
    result = invoke(*(a.format(lock=lock, bad_policy=bad_policy) for a in args))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("envcheck: error:") and message in lines[0]


def test_an_edited_lockfile_needs_ignore_digest(lock: Path) -> None:
    lock.write_text(lock.read_text().replace("1.26.4", "1.26.5"))
    result = invoke(str(lock))
    assert result.exit_code == 2 and "digest" in result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_the_real_process_gets_ready_and_stops_on_sigterm(tmp_path: Path) -> None:
    path = tmp_path / "local.lock"
    api.snapshot(path, loaded=False)
    port = free_port()
    command = [sys.executable, "-m", "envcheck", "sidecar", str(path), "--listen", f"127.0.0.1:{port}"]
    command += ["--interval", "0.2", "--fail-on", "never"]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        try:
            status: Optional[int] = None
            deadline = time.monotonic() + 60
            while status != 200:
                assert proc.poll() is None, "the sidecar exited"
                assert time.monotonic() < deadline, "never ready"
                try:
                    status, body = get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                except OSError:
                    time.sleep(0.1)
            assert json.loads(body)["target"] == "local"
            assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
            time.sleep(0.5)  # a few steady-state checks
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=5)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
    assert code == 0 and took < 1.0, took
    records = [json.loads(line) for line in err.splitlines()]
    events = [r["event"] for r in records]
    assert events[0] == "start" and events[-1] == "stop" and "target_found" in events
    checks = [r for r in records if r["event"] == "check"]
    assert checks[0]["reread"] is True and any(c["reread"] is False for c in checks)


# --- the HTTP server ---------------------------------------------------------------------------------------------


def test_parse_head() -> None:
    head = b"GET /metrics?name%5B%5D=x HTTP/1.1\r\nHost: a\r\nAccept: text/plain\r\nX-A: 1\r\nx-a: 2\r\n\r\n"
    env = parse_head(head, ("127.0.0.1", 9717), ("10.0.0.1", 5555))
    assert env is not None
    assert (env["REQUEST_METHOD"], env["PATH_INFO"], env["QUERY_STRING"]) == ("GET", "/metrics", "name%5B%5D=x")
    assert env["HTTP_ACCEPT"] == "text/plain" and env["HTTP_X_A"] == "1,2" and env["REMOTE_ADDR"] == "10.0.0.1"
    for bad in (
        b"GARBAGE\r\n\r\n",
        b"GET / FTP/1\r\n\r\n",
        b"GET /\r\n\r\n",
        b"GET / HTTP/1.0\r\nNoColon\r\n\r\n",
    ):
        assert parse_head(bad, ("h", 1), None) is None


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        chunks: List[bytes] = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


@pytest.fixture
def http_port() -> Any:
    target = FakeTarget(BASE)
    state = State("model.lock", "sha256:feed")
    state.record(Checker(expected_fp(), lambda: target, lock_name="model.lock").check_once())
    server = HttpServer("127.0.0.1", 0, make_app(state))
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    thread.join(2)
    assert not thread.is_alive()


def test_the_server_answers_refuses_and_never_resets(http_port: int) -> None:
    ok = exchange(http_port, b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert ok.startswith(b"HTTP/1.0 200 OK\r\n") and b"\r\nConnection: close\r\n" in ok
    # a body sent with the head, and a large one still on its way: the 413 is read, not reset
    small = exchange(http_port, b"POST /readyz HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
    assert small.startswith(b"HTTP/1.0 413 ")
    big = exchange(http_port, b"PUT /x HTTP/1.1\r\nContent-Length: 300000\r\n\r\n" + b"a" * 300000)
    assert big.startswith(b"HTTP/1.0 413 ")
    assert exchange(http_port, b"GET / HTTP/1.0\r\nX: " + b"a" * 20000 + b"\r\n\r\n").startswith(b"HTTP/1.0 431 ")
    assert exchange(http_port, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.0 400 ")
