"""A real HTTP server on a loopback port, in a thread, whose answer each test scripts; and a lockfile that binds
golden cases."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional

import pytest

import envcheck
from envcheck.golden import record

Answer = Callable[["Handler"], None]


class Handler(http.server.BaseHTTPRequestHandler):
    server: ScriptedServer
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.server.requests.append((self.path, dict(self.headers), json.loads(body)))
        self.server.answer(self)

    def send_json(self, data: Any, status: int = 200) -> None:
        raw = json.dumps(data).encode()
        self.send_raw(raw, status)

    def send_raw(self, raw: bytes, status: int = 200, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ScriptedServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, answer: Answer) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.answer = answer
        self.requests: List[Any] = []
        self.release = threading.Event()
        """Set at teardown: a handler that hangs waits on it."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], OSError):  # a client that hung up on a big answer is the point
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], ScriptedServer]]:
    started: List[ScriptedServer] = []

    def start(answer: Answer) -> ScriptedServer:
        server = ScriptedServer(answer)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.release.set()
        server.shutdown()
        server.server_close()


def predictions(values: Any) -> Answer:
    def answer(h: Handler) -> None:
        h.send_json({"predictions": values})

    return answer


@pytest.fixture
def golden_lock(tmp_path: Path) -> Path:
    """A lockfile binding two golden cases: ``rows`` (numbers) and ``labels`` (strings)."""
    lock = tmp_path / "envcheck.lock"
    record("rows", {"dataframe_split": {"columns": ["a"], "data": [[1.0], [2.0]]}}, [0.25, 0.75], 1e-6, lock=lock)
    record("labels", [[1.0], [2.0]], ["cat", "dog"], lock=lock)
    envcheck.snapshot(lock, golden=True, loaded=False)
    return lock


def by_case(rows: Any, labels: Any, other: Optional[Answer] = None) -> Answer:
    """Answers ``rows`` to the dataframe case and ``labels`` to the other, as an MLflow server would."""

    def answer(h: Handler) -> None:
        body = h.server.requests[-1][2]
        h.send_json({"predictions": rows if "dataframe_split" in body else labels})

    return answer
