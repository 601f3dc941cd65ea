"""Serving: --listen parsing, the server and loop in-process, checks that hang (a blocking target, a tree holding
a FIFO) and checks that fail, the command's one-line errors and its target label, and one loopback run of the
real ``envcheck sidecar`` process stopped by SIGTERM.

Waits poll with a deadline; time limits leave headroom for a loaded two-CPU machine."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from envcheck import api, lockfile
from envcheck.cli import cli
from envcheck.sidecar import Checker, CheckResult, State, parse_listen, serve
from envcheck.targets.root import RootTarget
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


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.02)


def metric(base: str, name: str) -> List[Tuple[Dict[str, str], float]]:
    """The samples named ``name`` in ``base``/metrics."""
    status, body = get(base + "/metrics")
    assert status == 200
    return [
        (dict(s.labels), s.value)
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
        if s.name == name
    ]


class Running:
    """``serve`` in a thread, on a loopback port, with its log lines parsed."""

    def __init__(self, checker: Checker, state: State, **kw: Any) -> None:
        self.state = state
        self.stop = threading.Event()
        self.lines: List[Dict[str, Any]] = []
        self.code: Optional[int] = None
        kw = {"host": "127.0.0.1", "port": 0, "interval": 0.05, **kw}

        def run() -> None:
            self.code = serve(
                checker, state, log=lambda s: self.lines.append(json.loads(s)), stop=self.stop,
                install_signals=False, **kw,
            )  # fmt: skip

        self.thread = threading.Thread(target=run)

    def events(self, name: str) -> List[Dict[str, Any]]:
        return [e for e in list(self.lines) if e["event"] == name]

    @property
    def base(self) -> str:
        return "http://" + wait_for("the start line", lambda: self.events("start"))[0]["listen"]

    def get(self, path: str) -> Tuple[int, Any]:
        status, body = get(self.base + path)
        return status, json.loads(body)


@contextlib.contextmanager
def running(checker: Checker, state: State, **kw: Any) -> Iterator[Running]:
    run = Running(checker, state, **kw)
    run.thread.start()
    try:
        yield run
    finally:
        started = time.monotonic()
        run.stop.set()
        run.thread.join(10)
        took = time.monotonic() - started
    assert not run.thread.is_alive() and took < 2.5, f"stopped after {took:.2f} s"  # a second, plus headroom
    assert run.code == 0 and run.lines[-1]["event"] == "stop"


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
        wait_for("a few checks", lambda: state.view().checks_total > 2)
        assert target.probes == 1  # steady: checked, not read again
    finally:
        started = time.monotonic()
        stop.set()
        thread.join(10)
    assert not thread.is_alive() and time.monotonic() - started < 2.5  # a second, plus headroom
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

            def checks() -> float:
                text = get(f"http://127.0.0.1:{port}/metrics")[1].decode()
                return next(
                    float(line.split()[1])
                    for line in text.splitlines()
                    if line.startswith("envcheck_checks_total")
                )

            wait_for("a few steady-state checks", lambda: checks() >= 3, timeout=60)
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=5)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.stderr is not None
        err = proc.stderr.read().decode()
    assert code == 0 and took < 2.5, took  # a second, plus headroom for a loaded machine
    records = [json.loads(line) for line in err.splitlines()]
    events = [r["event"] for r in records]
    assert events[0] == "start" and events[-1] == "stop" and "target_found" in events
    checks = [r for r in records if r["event"] == "check"]
    assert checks[0]["reread"] is True and any(c["reread"] is False for c in checks)


# --- checks that hang, checks that fail ------------------------------------------------------------------------


class HangingTarget(FakeTarget):
    """A target whose probe blocks until released, as a read of a FIFO with no writer does."""

    def __init__(self) -> None:
        super().__init__(BASE, token=None)
        self.hang = True
        self.release = threading.Event()

    def probe(self, extra_env: Sequence[str] = ()) -> Dict[str, Any]:
        if self.hang:
            self.release.wait(120)
        return super().probe(extra_env)


def _workers() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "envcheck-check-worker")


def test_a_check_that_hangs_times_out_and_the_sidecar_stays_live() -> None:
    target = HangingTarget()
    checker = Checker(expected_fp(), lambda: target, lock_name="model.lock")
    state = State("model.lock", "sha256:feed")
    try:
        with running(checker, state, check_timeout=0.5) as run:

            def timed_out() -> Optional[Dict[str, Any]]:
                status, body = run.get("/readyz")
                return body if status == 503 and str(body["reason"]).startswith("check timed out") else None

            ready = wait_for("/readyz check timed out", timed_out)
            assert ready["ready"] is False and ready["target"] == "fake:1"
            started = time.monotonic()
            assert run.get("/healthz") == (200, {"status": "ok"})
            assert time.monotonic() - started < 2.0  # the HTTP side never waits on the check
            status, report = run.get("/report")
            assert status == 503 and report["reason"].startswith("check timed out")
            assert metric(run.base, "envcheck_check_timeouts_total")[0][1] >= 1
            assert metric(run.base, "envcheck_check_errors_total")[0][1] >= 1
            assert metric(run.base, "envcheck_target_up") == [({}, 0.0)]
            assert metric(run.base, "envcheck_checks_total") == [({}, 0.0)]  # none ended
            # more rounds while it still hangs: one worker (no check piles up on the target), one log line
            wait_for("more timed-out rounds", lambda: state.view().timeouts_total >= 3)
            assert _workers() == 1
            assert run.get("/healthz")[0] == 200
            assert "still running" in str(run.get("/readyz")[1]["reason"])
            assert len(run.events("check_timeout")) == 1
            # the check ends after all: its result is taken, and the sidecar is ready
            target.hang = False
            target.release.set()
            wait_for("/readyz 200 after the hang", lambda: run.get("/readyz")[0] == 200)
            assert run.get("/report")[0] == 200
            names = [e["event"] for e in run.lines]
            assert names.index("check_timeout") < names.index("target_found")
    finally:
        target.release.set()


def _tree_with_fifos(tree: Path) -> List[Path]:
    """A --root tree holding a copy of this interpreter, whose os-release and package METADATA are FIFOs."""
    minor = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    (tree / "usr/local/bin").mkdir(parents=True)
    shutil.copy2(Path(sys.executable).resolve(), tree / "usr/local/bin" / minor)
    os.symlink(minor, tree / "usr/local/bin/python3")
    stdlib = tree / "usr/local/lib" / minor
    (stdlib / "site-packages").mkdir(parents=True)
    libpython = Path(sys.base_prefix) / "lib" / f"lib{minor}.so.1.0"
    if libpython.exists():  # a shared-library build keeps its version string there
        try:
            os.link(libpython, tree / "usr/local/lib" / libpython.name)
        except OSError:
            shutil.copy2(libpython, tree / "usr/local/lib" / libpython.name)
    for data in Path(sysconfig.get_paths()["stdlib"]).glob("_sysconfigdata_*.py"):
        shutil.copy2(data, stdlib / data.name)
    (tree / "etc").mkdir()
    meta = stdlib / "site-packages/demo-1.0.dist-info"
    meta.mkdir()
    fifos = [tree / "etc/os-release", meta / "METADATA"]
    for fifo in fifos:
        os.mkfifo(fifo)
    return fifos


def _unblock(fifos: List[Path]) -> None:
    """Give any reader still blocked on a FIFO its end of file."""
    for fifo in fifos:
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError as e:
            assert e.errno == errno.ENXIO  # no reader: nothing to unblock


def test_a_tree_holding_fifos_cannot_hang_the_sidecar(tmp_path: Path) -> None:
    """Whether the tree's reader refuses the FIFOs or blocks on one, the sidecar answers and stays live."""
    fifos = _tree_with_fifos(tmp_path / "tree")
    target = RootTarget(str(tmp_path / "tree"))
    checker = Checker(expected_fp(), lambda: target, lock_name="model.lock")
    state = State("model.lock", "sha256:feed")
    try:
        with running(checker, state, check_timeout=2.0, interval=0.1) as run:
            wait_for("a check's result", lambda: state.view().last is not None, timeout=60)
            assert run.get("/healthz") == (200, {"status": "ok"})
            status, ready = run.get("/readyz")
            assert status in (200, 503) and ready["reason"] != "no check yet"
            last = state.view().last
            assert last is not None and (last.timed_out or last.report is not None or last.lost)
    finally:
        _unblock(fifos)


class BuggyTarget(FakeTarget):
    """A target whose probe has a bug: an unexpected exception, not a ``TargetError``."""

    def probe(self, extra_env: Sequence[str] = ()) -> Dict[str, Any]:
        raise ZeroDivisionError("a bug in a probe")


def test_a_check_that_fails_is_logged_with_its_traceback_once_a_minute() -> None:
    target = BuggyTarget(BASE)
    checker = Checker(expected_fp(), lambda: target, lock_name="model.lock")
    state = State("model.lock", "sha256:feed")
    with running(checker, state) as run:
        wait_for("several failed checks", lambda: state.view().errors_total >= 5)
        assert run.get("/healthz")[0] == 200
        [error] = run.events("check_error")  # five failures, one line (a minute)
    assert error["error"] == "ZeroDivisionError: a bug in a probe"
    assert error["traceback"].startswith("Traceback (most recent call last):")
    assert "in probe" in error["traceback"] and "in check_once" in error["traceback"]


class _BadState(State):
    def record(self, result: CheckResult) -> List[Dict[str, Any]]:
        raise RuntimeError("a bug in the state")


def test_a_thread_that_dies_ends_the_sidecar_with_an_internal_error() -> None:
    target = FakeTarget(BASE)
    checker = Checker(expected_fp(), lambda: target, lock_name="model.lock")
    run = Running(checker, _BadState("model.lock", "sha256:feed"))
    run.thread.start()
    run.thread.join(20)
    assert not run.thread.is_alive() and run.code == 3
    [crash] = run.events("internal_error")
    assert crash["thread"] == "check" and crash["error"] == "RuntimeError: a bug in the state"
    assert "in record" in crash["traceback"]
    assert run.lines[-1]["event"] == "stop"


# --- the target's label ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "label"),
    [
        (["--python", "/opt/my_venv/bin/python"], "python:/opt/my_venv/bin/python"),
        (["--process-match", r'^no_such_server "a\b"'], r'process-match:^no_such_server "a\b"'),
        (["--root", "/srv/no_image_root"], "root:/srv/no_image_root"),
    ],
    ids=["python", "process-match", "root"],
)
def test_the_target_label_shows_the_value_as_given(
    lock: Path, monkeypatch: pytest.MonkeyPatch, args: List[str], label: str
) -> None:
    """The command's checker, with a target that cannot be found: /readyz, the log and the metrics name it by the
    option's value as typed, no ``_`` turned into ``-`` (the metrics escape it, and the parser reads it back)."""
    from envcheck.sidecar import make_app
    from tests.sidecar.test_app import call

    made: Dict[str, Any] = {}

    def capture(checker: Checker, state: State, **kw: Any) -> int:
        made.update(checker=checker, state=state)
        return 0

    monkeypatch.setattr("envcheck.sidecar.serve", capture)
    result = invoke(str(lock), *args)
    assert result.exit_code == 0, result.output
    checker, state = made["checker"], made["state"]
    assert checker.target_label == label
    records = state.record(checker.check_once())
    app = make_app(state)
    ready = json.loads(call(app, "/readyz")[2])
    assert ready["target"] == label and ready["reason"].startswith("target lost")
    assert [r["target"] for r in records] == [label, label]  # check, target_lost
    [info] = [
        s
        for family in text_string_to_metric_families(call(app, "/metrics")[2].decode())
        for s in family.samples
        if s.name == "envcheck_lockfile_info"
    ]
    assert info.labels["target"] == label


@pytest.mark.parametrize(
    ("args", "expected"), [([], 60.0), (["--check-timeout", "5"], 5.0)], ids=["default", "set"]
)
def test_check_timeout_reaches_serve(
    lock: Path, monkeypatch: pytest.MonkeyPatch, args: List[str], expected: float
) -> None:
    got: Dict[str, Any] = {}

    def capture(checker: Checker, state: State, **kw: Any) -> int:
        got.update(kw)
        return 0

    monkeypatch.setattr("envcheck.sidecar.serve", capture)
    result = invoke(str(lock), "--root", "/srv/none", *args)
    assert result.exit_code == 0, result.output
    assert got["check_timeout"] == expected
    assert invoke(str(lock), "--check-timeout", "0").exit_code == 2  # a usage error, not a silent zero
