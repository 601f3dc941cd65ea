"""Wiring: the WSGI app on a small threading server, the checking loop in a thread, and SIGTERM/SIGINT to stop.

The loop checks at once, then every ``interval`` seconds after the previous check ended. A signal stops the
server and returns within a second, even when a check is running (its thread is a daemon: the check is
abandoned, nothing it does needs finishing). Log records go to the ``log`` callable as one JSON text each: the
caller owns the stream.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import signal
import threading
import time
import urllib.parse
from types import FrameType
from typing import Any, Callable, Dict, List, Optional, Tuple

from envcheck.sidecar.app import WsgiApp, make_app
from envcheck.sidecar.checker import Checker, State, timestamp

DEFAULT_LISTEN = "127.0.0.1:9717"
#: How often the server's loop looks for a shutdown request, and the main thread for a signal (seconds).
POLL = 0.1
#: After refusing a request with a body: how long to wait for the client to close, and how much to discard.
LINGER = 1.0
DISCARD_LIMIT = 1 << 20


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


class HttpServer:
    """A small HTTP/1.0 server for a WSGI application: one asyncio loop in one thread, one request per
    connection.

    Why not wsgiref's threading server: with a thread per connection, a burst of 200 scrapes and probes spends its
    time handing the GIL from thread to thread (p99 near 200 ms on two CPUs); one loop answers them one after the
    other in well under a millisecond each. The application is called inline, so it must not block (the sidecar's
    endpoints only read the state). Requests are bounded: the request head must fit ``max_head`` bytes (else 431)
    and arrive within ``timeout`` seconds (else the connection is dropped); a body is never read. No access log.
    """

    def __init__(
        self, host: str, port: int, app: WsgiApp, *, max_head: int = 16384, timeout: float = 10.0
    ) -> None:
        self.app = app
        self.max_head = max_head
        self.timeout = timeout
        self.loop = self._loop = asyncio.new_event_loop()
        try:
            self._server = self._loop.run_until_complete(
                self._loop.create_server(lambda: _Connection(self), host, port, backlog=1024)
            )
        except BaseException:
            self._loop.close()
            raise
        self.server_address: Tuple[Any, ...] = self._server.sockets[0].getsockname()
        self._done = threading.Event()

    def serve_forever(self) -> None:
        """Answer requests until ``shutdown``; run it in its own thread."""
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            # Not Server.wait_closed(): since 3.12 it waits for idle clients too. Cancel what is left, and go.
            self._server.close()
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()
            self._done.set()

    def shutdown(self, timeout: float = 1.0) -> None:
        """Stop ``serve_forever`` and wait (at most ``timeout`` seconds) until it has."""
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._done.wait(timeout)

    def server_close(self) -> None:
        """Release the socket of a server that never served (``serve_forever`` releases its own)."""
        if not self._loop.is_running() and not self._loop.is_closed():
            self._server.close()
            self._loop.close()

    def respond(self, head: bytes, peer: Any) -> bytes:
        """The whole response to a request head."""
        environ = parse_head(head, self.server_address, peer)
        if environ is None:
            return _plain(400, "Bad Request")
        started: List[Any] = []

        def start_response(status: str, headers: List[Tuple[str, str]], exc_info: Any = None) -> None:
            started[:] = [status, headers]

        try:
            body = b"".join(self.app(environ, start_response))
            status, headers = started
        except Exception:  # a bug in an endpoint: answer it, and keep serving the others
            return _plain(500, "Internal Server Error")
        lines = [f"HTTP/1.0 {status}", *(f"{k}: {v}" for k, v in headers), "Connection: close", "", ""]
        return "\r\n".join(lines).encode("latin-1") + body


class _Connection(asyncio.Protocol):
    """One client: collect the request head, answer, close. Callbacks, no task: a request costs little.

    When the client sent more than the head (a refused body), closing at once would reset the connection before
    the client reads the answer: the sending side is shut instead, and what still comes is discarded until the
    client closes, for at most a second.
    """

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.buffer = b""
        self.answered = False
        self.discarded = 0
        self.transport: Optional[asyncio.Transport] = None
        self.deadline: Optional[asyncio.TimerHandle] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.deadline = self.server.loop.call_later(self.server.timeout, transport.abort)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if self.answered:
            self.discarded += len(data)
            if self.discarded > DISCARD_LIMIT:
                self.transport.abort()
            return
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 and len(self.buffer) <= self.server.max_head:
            return
        if end < 0 or end + 4 > self.server.max_head:
            answer = _plain(431, "Request Header Fields Too Large")
        else:
            answer = self.server.respond(self.buffer[: end + 4], self.transport.get_extra_info("peername"))
        head = self.buffer[: end + 4] if end >= 0 else self.buffer
        more = end < 0 or len(self.buffer) > len(head) or _announces_body(head)
        self.answered, self.buffer = True, b""
        self.transport.write(answer)
        if more:  # a body is (or may be) on its way: let the client read the answer first
            self.transport.write_eof()
            self._rearm(LINGER)
        else:
            self.transport.close()

    def _rearm(self, seconds: float) -> None:
        assert self.transport is not None
        if self.deadline is not None:
            self.deadline.cancel()
        self.deadline = self.server.loop.call_later(seconds, self.transport.abort)

    def eof_received(self) -> Optional[bool]:
        return False  # the client is done: close

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if self.deadline is not None:
            self.deadline.cancel()


_BODY = re.compile(rb"\r\n(content-length:[ \t]*0*[1-9]|transfer-encoding:)", re.IGNORECASE)


def _announces_body(head: bytes) -> bool:
    """Whether a request head says a body follows (a non-zero Content-Length, or Transfer-Encoding)."""
    return _BODY.search(head) is not None


def _plain(code: int, reason: str) -> bytes:
    return f"HTTP/1.0 {code} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode("ascii")


def parse_head(head: bytes, server: Tuple[Any, ...], peer: Any) -> Optional[Dict[str, Any]]:
    """A request head (request line and headers, CRLF-separated) as a WSGI environ; None when malformed."""
    try:
        text = head.decode("latin-1")
        request_line, *header_lines = text.split("\r\n")
        method, target, protocol = request_line.split(" ")
    except ValueError:
        return None
    if not protocol.startswith("HTTP/") or not method.isalpha():
        return None
    path, _, query = target.partition("?")
    environ: Dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": urllib.parse.unquote(path, "latin-1"),
        "QUERY_STRING": query,
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": protocol,
        "REMOTE_ADDR": str(peer[0]) if isinstance(peer, tuple) and peer else "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for line in header_lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            return None
        key = name.upper().replace("-", "_")
        key = key if key in ("CONTENT_LENGTH", "CONTENT_TYPE") else "HTTP_" + key
        environ[key] = f"{environ[key]},{value.strip()}" if key in environ else value.strip()
    return environ


def make_http_server(host: str, port: int, app: WsgiApp) -> HttpServer:
    """The server, bound to (host, port); raises ``OSError`` when it cannot bind."""
    return HttpServer(host, port, app)


def _dumps(record: Dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"))


def check_loop(
    checker: Checker, state: State, interval: float, stop: threading.Event, log: Callable[[str], None]
) -> None:
    """Check until ``stop`` is set: once at once, then every ``interval`` seconds."""
    while not stop.is_set():
        state.beat()
        try:
            result = checker.check_once()
        except Exception as e:  # a bug in one check must not end the sidecar: count it, say it, go on
            state.error()
            log(_dumps({"ts": timestamp(time.time()), "event": "check_error", "error": type(e).__name__}))
        else:
            for record in state.record(result):
                log(_dumps(record))
        stop.wait(interval)


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
) -> int:
    """Serve the endpoints and check every ``interval`` seconds until SIGTERM or SIGINT (or ``stop`` is set);
    returns 0. Raises ``OSError`` when the address cannot be bound."""
    stop = stop or threading.Event()
    server = make_http_server(host, port, make_app(state))
    previous: Dict[signal.Signals, Any] = {}
    if install_signals and threading.current_thread() is threading.main_thread():

        def on_signal(signum: int, frame: Optional[FrameType]) -> None:
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    bound = f"{server.server_address[0]!s}:{server.server_address[1]}"
    log(_dumps({"ts": timestamp(time.time()), "event": "start", "listen": bound}))
    http = threading.Thread(target=server.serve_forever, name="envcheck-http", daemon=True)
    loop = threading.Thread(
        target=check_loop, args=(checker, state, interval, stop, log), name="envcheck-check", daemon=True
    )
    http.start()
    loop.start()
    try:
        while not stop.wait(POLL):
            if not loop.is_alive():
                break
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        loop.join(0.3)
        state.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log(_dumps({"ts": timestamp(time.time()), "event": "stop"}))
    return 0
