"""Wiring: the WSGI app on the sidecar's HTTP server, the checking loop in a thread, and SIGTERM/SIGINT to stop.

The loop checks at once, then every ``interval`` seconds after the previous check ended. Each check runs in a
worker thread of its own, with a time budget (``check_timeout``): a check still running past it (a target that
serves a FIFO, a probe that hangs) is abandoned to end on its own, and the sidecar says ``check timed out`` in
/readyz, /report, ``envcheck_check_timeouts_total`` and one ``check_timeout`` log line, while /healthz stays up.
No new check starts while the abandoned one runs (one reader of the target at a time); when it ends, its result
is taken as the next check's. A signal stops the server and returns within a second, even when a check is running
(its thread is a daemon: nothing it does needs finishing). Log records go to the ``log`` callable as one JSON
text each, from any thread, one at a time: the caller owns the stream.
"""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType
from typing import Any, Callable, Dict, Optional, Tuple

from envcheck.sidecar.app import make_app
from envcheck.sidecar.checker import Checker, CheckResult
from envcheck.sidecar.logs import Log, Throttle, dumps, error_fields, error_key, record
from envcheck.sidecar.server import HttpServer
from envcheck.sidecar.state import State

DEFAULT_LISTEN = "127.0.0.1:9717"
#: How often the main thread looks for a signal, and the loop for a stop while a check runs (seconds).
POLL = 0.1
#: A check's time budget (seconds): a live target's check takes milliseconds, a first full read a few seconds.
CHECK_TIMEOUT = 60.0
#: The exit status of ``serve`` when one of its threads ended on an unexpected error (an internal error).
INTERNAL_ERROR = 3


def parse_listen(text: str) -> Tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9717`` for IPv6) as (host, port). The host is never implied: all interfaces are
    bound only when asked for by name (``0.0.0.0:9717``, ``[::]:9717``)."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"--listen {text!r}: expected HOST:PORT, such as 127.0.0.1:9717")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"--listen {text!r}: write an IPv6 address in brackets, [::1]:9717")
    if not host:
        raise ValueError(
            f"--listen {text!r}: give the host, 127.0.0.1:{port_text} (or 0.0.0.0:{port_text} for all)"
        )
    return host, int(port_text)


class _Job:
    """One check, run in a daemon thread: waited for with a deadline, abandoned (never joined) when it hangs."""

    def __init__(self, check: Callable[[], CheckResult], started_at: float, t0: float) -> None:
        self.started_at = started_at
        """Unix time at the start."""
        self.t0 = t0
        """``timer()`` at the start."""
        self.done = threading.Event()
        self.result: Optional[CheckResult] = None
        self.error: Optional[BaseException] = None
        threading.Thread(target=self._run, args=(check,), name="envcheck-check-worker", daemon=True).start()

    def _run(self, check: Callable[[], CheckResult]) -> None:
        try:
            self.result = check()
        except BaseException as e:  # handed to the loop, which logs it
            self.error = e
        finally:
            self.done.set()


def check_loop(
    checker: Checker,
    state: State,
    interval: float,
    stop: threading.Event,
    log: Log,
    *,
    timeout: float = CHECK_TIMEOUT,
    clock: Callable[[], float] = time.time,
    timer: Callable[[], float] = time.monotonic,
) -> None:
    """Check until ``stop`` is set: once at once, then every ``interval`` seconds, each within ``timeout``."""
    errors = Throttle()
    job: Optional[_Job] = None
    while not stop.is_set():
        state.beat()
        still_running = job is not None  # the check abandoned last time: wait for it again, start none
        if job is None:
            job = _Job(checker.check_once, clock(), timer())
        until = (timer() if still_running else job.t0) + timeout
        while not job.done.is_set() and not stop.is_set() and timer() < until:
            job.done.wait(max(0.0, min(POLL, until - timer())))
            state.beat()  # the loop is alive, however long the check takes
        if stop.is_set():
            break
        if not job.done.is_set():
            result = checker.timed_out(job.started_at, timer() - job.t0, timeout, still_running=still_running)
            for line in state.record(result):
                log(dumps(line))
        else:
            ended, job = job, None
            if ended.result is not None:
                for line in state.record(ended.result):
                    log(dumps(line))
            else:  # a bug in one check must not end the sidecar: count it, say it, go on
                state.error()
                error = ended.error if ended.error is not None else RuntimeError("the check returned nothing")
                repeats = errors.admit(error_key(error))
                if repeats is not None:
                    fields = error_fields(error)
                    log(dumps(record("check_error", clock(), **fields, repeats_since_last=repeats)))
        stop.wait(interval)


def _guarded(
    name: str, run: Callable[[], None], log: Log, crashed: Dict[str, BaseException]
) -> Callable[[], None]:
    """``run``, with an unexpected error logged as one line with its traceback (the thread then ends)."""

    def guarded() -> None:
        try:
            run()
        except BaseException as e:
            crashed[name] = e
            log(dumps(record("internal_error", time.time(), thread=name, **error_fields(e))))

    return guarded


def serve(
    checker: Checker,
    state: State,
    *,
    host: str,
    port: int,
    interval: float,
    log: Callable[[str], None],
    stop: Optional[threading.Event] = None,
    install_signals: bool = True,
    check_timeout: float = CHECK_TIMEOUT,
    max_connections: Optional[int] = None,
) -> int:
    """Serve the endpoints and check every ``interval`` seconds until SIGTERM or SIGINT (or ``stop`` is set);
    returns 0, or ``INTERNAL_ERROR`` when the server or the loop ended on an unexpected error (logged). Raises
    ``OSError`` when the address cannot be bound. ``max_connections`` defaults to ``connection_cap``'s."""
    stop = stop or threading.Event()
    lock = threading.Lock()

    def one_at_a_time(line: str) -> None:
        with lock:
            log(line)

    server = HttpServer(host, port, make_app(state), max_connections=max_connections, log=one_at_a_time)
    previous: Dict[signal.Signals, Any] = {}
    if install_signals and threading.current_thread() is threading.main_thread():

        def on_signal(signum: int, frame: Optional[FrameType]) -> None:
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    bound = f"{server.server_address[0]!s}:{server.server_address[1]}"
    one_at_a_time(dumps(record("start", time.time(), listen=bound, max_connections=server.max_connections)))
    crashed: Dict[str, BaseException] = {}

    def checking() -> None:
        check_loop(checker, state, interval, stop, one_at_a_time, timeout=check_timeout)

    http = threading.Thread(
        target=_guarded("http", server.serve_forever, one_at_a_time, crashed), name="envcheck-http", daemon=True
    )
    loop = threading.Thread(
        target=_guarded("check", checking, one_at_a_time, crashed), name="envcheck-check", daemon=True
    )
    http.start()
    loop.start()
    try:
        while not stop.wait(POLL):
            if not loop.is_alive() or not http.is_alive():
                break
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        loop.join(0.3)
        state.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    one_at_a_time(dumps(record("stop", time.time())))
    return INTERNAL_ERROR if crashed else 0
