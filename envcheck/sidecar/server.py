"""The sidecar's HTTP server: HTTP/1.0 for a WSGI application, one request per connection, one asyncio loop in
one thread.

Why this and not a maintained server. It has one client that matters, the kubelet's probe, and it must keep
answering it under abuse. wsgiref's threading server spends a burst of 200 scrapes handing the GIL from thread to
thread (p99 near 200 ms on two CPUs). waitress stops accepting at its ``connection_limit`` (100) and closes idle
connections only after ``channel_timeout`` (120 s): 100 idle connections shut the probe out for two minutes;
cheroot reads a request head in one of its worker threads (10 by default), which a slow head holds up to its
socket timeout. Here one loop answers the burst one request after the other in well under a millisecond each,
and a new connection at the limit displaces the oldest open one instead of waiting. The application is called
inline, so it must not block (the sidecar's endpoints only read the state).

What a hostile client meets:

- The request head must fit ``max_head`` bytes (else 431) and arrive within ``timeout`` seconds (else the
  connection is dropped); a body is never read. Lines end in CRLF or in a bare LF (RFC 9112 lets a server take LF
  alone); a bare CR, or a first line that is not a request line, is answered 400 at once, without waiting for
  more.
- At most ``max_connections`` connections are open at once (by default all the process's file descriptors but a
  reserve for the checks: see ``connection_cap``). A new connection at the limit makes the server drop the
  oldest open one, so a flood of idle connections cannot lock the probes out; when ``accept`` fails for want of
  descriptors all the same, the oldest is dropped too (and accepting pauses a moment when there is none). Either
  condition writes one ``connection_limit`` log line a minute, with how often it happened meanwhile.
- An endpoint that raises is answered 500 and logged as one ``http_error`` line with its traceback, once a minute
  per bug; an error inside the loop itself likewise as ``server_error``. Nothing from a request's headers is ever
  written into a response.
"""

from __future__ import annotations

import asyncio
import errno
import io
import re
import socket
import threading
import time
import urllib.parse
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from envcheck.sidecar.logs import Log, Throttle, dumps, error_fields, error_key, record

#: A WSGI application (PEP 3333), as ``make_app`` builds it.
WsgiApp = Callable[[Dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: After refusing a request with a body: how long to wait for the client to close, and how much to discard.
LINGER = 1.0
DISCARD_LIMIT = 1 << 20
#: The most connections held open at once, whatever the descriptor limit.
MAX_CONNECTIONS = 1024
#: Connections accepted per wake-up of the listening socket, before the loop serves the others.
ACCEPT_BATCH = 64
#: How long accepting pauses when it cannot proceed (out of descriptors, nothing to drop).
PAUSE_S = 0.1
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def connection_cap(descriptors: int) -> int:
    """How many connections to hold open at once in a process allowed ``descriptors`` open files: all but a
    reserve (a quarter of them, at least 8 and at most 64) for the checks' files, pipes and sockets, and at most
    ``MAX_CONNECTIONS``."""
    reserve = max(8, min(64, descriptors // 4))
    return max(1, min(MAX_CONNECTIONS, descriptors - reserve))


def descriptor_limit() -> int:
    """This process's soft limit on open files (``RLIMIT_NOFILE``); a large number when it has none."""
    unlimited = MAX_CONNECTIONS + 64
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return unlimited
    return unlimited if soft == resource.RLIM_INFINITY else int(soft)


def _bind(host: str, port: int, backlog: int) -> socket.socket:
    """A listening, non-blocking socket on the first address ``host`` resolves to."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class HttpServer:
    """A small HTTP/1.0 server for a WSGI application (see the module's docstring for what it bounds).

    ``log`` takes one JSON line per record; ``clock`` gives the Unix time for their ``ts``.
    """

    def __init__(
        self,
        host: str,
        port: int,
        app: WsgiApp,
        *,
        max_head: int = 16384,
        timeout: float = 10.0,
        max_connections: Optional[int] = None,
        log: Optional[Log] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app = app
        self.max_head = max_head
        self.timeout = timeout
        self.max_connections = connection_cap(descriptor_limit()) if max_connections is None else max_connections
        self._log = log
        self._clock = clock
        self._limits = Throttle()
        self._errors = Throttle()
        self._sock = _bind(host, port, backlog=1024)
        self.server_address: Tuple[Any, ...] = self._sock.getsockname()
        try:
            self.loop = asyncio.new_event_loop()
        except BaseException:
            self._sock.close()
            raise
        self.loop.set_exception_handler(self._loop_error)
        self._open: Dict[_Connection, None] = {}  # with a transport; insertion order: the oldest first
        self._sockets = 0  # accepted and not yet closed: what the connections hold in file descriptors
        self._paused = False
        self._closing = False
        self._done = threading.Event()
        self.loop.add_reader(self._sock.fileno(), self._accept)

    # --- life -------------------------------------------------------------------------------------------------

    def serve_forever(self) -> None:
        """Answer requests until ``shutdown``; run it in its own thread."""
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            self._closing = True
            self._stop_listening()
            for connection in list(self._open):
                if connection.transport is not None:
                    connection.transport.abort()
            pending = asyncio.all_tasks(self.loop)
            for task in pending:
                task.cancel()
            self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()
            self._done.set()

    def shutdown(self, timeout: float = 1.0) -> None:
        """Stop ``serve_forever`` and wait (at most ``timeout`` seconds) until it has."""
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._done.wait(timeout)

    def server_close(self) -> None:
        """Release the socket of a server that never served (``serve_forever`` releases its own)."""
        if not self.loop.is_running() and not self.loop.is_closed():
            self._stop_listening()
            self.loop.close()

    def _stop_listening(self) -> None:
        if self._sock.fileno() >= 0:
            if not self.loop.is_closed():
                self.loop.remove_reader(self._sock.fileno())
            self._sock.close()

    # --- connections ------------------------------------------------------------------------------------------

    @property
    def open_connections(self) -> int:
        """Connections accepted and not closed yet."""
        return self._sockets

    def _accept(self) -> None:
        """The listening socket is readable: accept what waits, within the connection limit."""
        for _ in range(ACCEPT_BATCH):
            try:
                sock, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno == errno.ECONNABORTED:
                    continue
                if e.errno in _OUT_OF_RESOURCES:
                    self._at_limit(f"accept failed: {e.strerror or e}")
                    if not self._drop_oldest():
                        self._pause()
                else:
                    self._report("server_error", e, message="accept failed")
                    self._pause()
                return
            full = self._sockets >= self.max_connections
            if full:
                self._at_limit(f"{self._sockets} connections open, the most allowed")
                if not self._drop_oldest():  # none to displace yet (all being set up): refuse this one
                    sock.close()
                    self._pause()
                    return
            sock.setblocking(False)
            self._sockets += 1
            self.loop.create_task(self._connect(sock))
            if full:
                # The displaced connection's descriptor is released at the loop's next turn: take no more before.
                return

    async def _connect(self, sock: socket.socket) -> None:
        connection = _Connection(self)
        try:
            await self.loop.connect_accepted_socket(lambda: connection, sock)
        except BaseException as e:  # the client left, or shutdown: the transport, when made, closes the socket
            if connection.transport is None:
                self._sockets -= 1
                sock.close()
            if not isinstance(e, Exception):
                raise  # cancelled

    def _drop_oldest(self) -> bool:
        """Drop the connection open the longest (not one already closing); False when there is none."""
        for connection in self._open:
            transport = connection.transport
            if transport is not None and not transport.is_closing():
                transport.abort()
                return True
        return False

    def _pause(self) -> None:
        if self._paused or self._closing:
            return
        self._paused = True
        self.loop.remove_reader(self._sock.fileno())
        self.loop.call_later(PAUSE_S, self._resume)

    def _resume(self) -> None:
        self._paused = False
        if not self._closing and self._sock.fileno() >= 0:
            self.loop.add_reader(self._sock.fileno(), self._accept)

    # --- requests ---------------------------------------------------------------------------------------------

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
        except Exception as e:  # a bug in an endpoint: answer it, say it, and keep serving the others
            self._report("http_error", e, method=environ["REQUEST_METHOD"], path=environ["PATH_INFO"][:200])
            return _plain(500, "Internal Server Error")
        lines = [f"HTTP/1.0 {status}", *(f"{k}: {v}" for k, v in headers), "Connection: close", "", ""]
        return "\r\n".join(lines).encode("latin-1") + body

    # --- logs -------------------------------------------------------------------------------------------------

    def _emit(self, event: str, **fields: Any) -> None:
        if self._log is not None:
            self._log(dumps(record(event, self._clock(), **fields)))

    def _at_limit(self, cause: str) -> None:
        repeats = self._limits.admit()
        if repeats is not None:
            self._emit(
                "connection_limit",
                cause=cause,
                limit=self.max_connections,
                open=self.open_connections,
                repeats_since_last=repeats,
            )

    def _report(self, event: str, error: BaseException, **fields: Any) -> None:
        repeats = self._errors.admit((event, error_key(error)))
        if repeats is not None:
            self._emit(event, **fields, **error_fields(error), repeats_since_last=repeats)

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: Dict[str, Any]) -> None:
        """asyncio's own errors (a protocol callback that raised, a transport that failed): one line each."""
        error = context.get("exception")
        message = str(context.get("message", ""))
        if isinstance(error, BaseException):
            self._report("server_error", error, message=message)
        elif self._errors.admit(("server_error", message)) is not None:
            self._emit("server_error", message=message)


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
        self.server._open[self] = None
        self.deadline = self.server.loop.call_later(self.server.timeout, transport.abort)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if self.answered:
            self.discarded += len(data)
            if self.discarded > DISCARD_LIMIT:
                self.transport.abort()
            return
        self.buffer += data
        end = head_end(self.buffer)
        max_head = self.server.max_head
        if end < 0 and len(self.buffer) <= max_head and not refused_early(self.buffer):
            return  # more to come
        if end < 0 and len(self.buffer) <= max_head:
            answer = _plain(400, "Bad Request")
        elif end < 0 or end > max_head:
            answer = _plain(431, "Request Header Fields Too Large")
        else:
            answer = self.server.respond(self.buffer[:end], self.transport.get_extra_info("peername"))
        head = self.buffer[:end] if end >= 0 else self.buffer
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
        self.server._open.pop(self, None)
        self.server._sockets -= 1
        if self.deadline is not None:
            self.deadline.cancel()


_HEAD_END = re.compile(rb"\r?\n\r?\n")
_BARE_CR = re.compile(rb"\r(?!\n)")
_LINE_END = re.compile(r"\r?\n")
_BODY = re.compile(rb"\n(content-length:[ \t]*0*[1-9]|transfer-encoding:)", re.IGNORECASE)


def head_end(data: bytes) -> int:
    """Where the request head in ``data`` ends (just past its empty line, CRLF or bare LF), or -1."""
    found = _HEAD_END.search(data)
    return -1 if found is None else found.end()


def refused_early(data: bytes) -> bool:
    """Whether an incomplete head can be refused already: it holds a bare CR, or a first line that is not a
    request line (``GET /path HTTP/1.1``). A CR at the very end may be the start of a CRLF still in flight."""
    bare = _BARE_CR.search(data)
    if bare is not None and bare.start() < len(data) - 1:
        return True
    line, sep, _ = data.partition(b"\n")
    return bool(sep) and _request_line(line.rstrip(b"\r").decode("latin-1")) is None


def _announces_body(head: bytes) -> bool:
    """Whether a request head says a body follows (a non-zero Content-Length, or Transfer-Encoding)."""
    return _BODY.search(head) is not None


def _plain(code: int, reason: str) -> bytes:
    return f"HTTP/1.0 {code} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode("ascii")


def _request_line(line: str) -> Optional[Tuple[str, str, str]]:
    parts = line.split(" ")
    if len(parts) != 3:
        return None
    method, target, protocol = parts
    if not protocol.startswith("HTTP/") or not method.isalpha() or not target:
        return None
    return method, target, protocol


def parse_head(head: bytes, server: Tuple[Any, ...], peer: Any) -> Optional[Dict[str, Any]]:
    """A request head (request line and headers, each ending in CRLF or LF) as a WSGI environ; None when
    malformed (a bare CR, a bad request line, a header line with no name or a folded one)."""
    if _BARE_CR.search(head) is not None:
        return None
    request_line, *header_lines = _LINE_END.split(head.decode("latin-1"))
    parsed = _request_line(request_line)
    if parsed is None:
        return None
    method, target, protocol = parsed
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
