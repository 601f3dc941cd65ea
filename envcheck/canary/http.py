"""The canary's one HTTP exchange: POST a JSON body, read a bounded JSON answer. Stdlib (``urllib``) only.

Bounds and manners: a timeout on connecting and on every read, and a deadline for the whole answer (a server that
drips bytes forever is cut there); at most ``max_bytes`` of answer (an endless or huge body is cut there and
refused); redirects followed only to the same scheme, host and port and only when they keep the POST (307,
308), at most ``MAX_REDIRECTS``; no proxy (the canary talks to the server it was given); credentials in the URL
sent as basic authentication, never shown: every message quotes the URL through ``envcheck.probe.scrub_value``.
Any failure is ``TargetLost``: nothing was compared.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import IO, Any, Dict, List, Optional, Tuple

from envcheck.canary.interface import CanaryError, TargetLost
from envcheck.probe import scrub_value

MAX_REDIRECTS = 3
_CHUNK = 64 << 10


@dataclass(frozen=True)
class Endpoint:
    """A server's base URL without its credentials, and the ``Authorization`` they make."""

    url: str
    authorization: str = ""

    @property
    def shown(self) -> str:
        return scrub_value(self.url)


def parse_endpoint(text: str) -> Endpoint:
    """``http(s)://[user:password@]host[:port][/prefix]``; raises ``CanaryError`` (the URL scrubbed)."""
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as e:
        raise CanaryError(f"--endpoint {scrub_value(text)}: not a URL ({e})") from e
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CanaryError(f"--endpoint {scrub_value(text)}: give an http:// or https:// URL with a host")
    auth = ""
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host if port is None else f"{host}:{port}"
    url = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), parts.query, ""))
    return Endpoint(url, auth)


def _origin(url: str) -> Tuple[str, str, Optional[int]]:
    parts = urllib.parse.urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


class _SameOrigin(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only to the same origin and only when it keeps the method and body (307, 308)."""

    max_redirections = MAX_REDIRECTS

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: Any, newurl: str
    ) -> Optional[urllib.request.Request]:
        if _origin(newurl) != _origin(req.full_url) or code not in (307, 308):
            fp.close()  # refused: its connection is not read again
        if _origin(newurl) != _origin(req.full_url):
            raise TargetLost(f"the server redirected to another host ({scrub_value(newurl)}): not followed")
        if code not in (307, 308):
            raise TargetLost(f"the server answered HTTP {code} (a redirect that drops the request): not followed")
        return urllib.request.Request(
            newurl, data=req.data, headers=dict(req.header_items()), method=req.get_method()
        )


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _SameOrigin())


def post_json(endpoint: Endpoint, path: str, body: Any, *, timeout: float, max_bytes: int) -> Any:
    """POST ``body`` to the endpoint's ``path`` and return the parsed JSON answer; ``TargetLost`` otherwise."""
    url = endpoint.url + path
    shown = scrub_value(url)
    data = json.dumps(body, allow_nan=True).encode("utf-8")
    headers: Dict[str, str] = {"Content-Type": "application/json", "Accept": "application/json"}
    if endpoint.authorization:
        headers["Authorization"] = endpoint.authorization
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    deadline = time.monotonic() + timeout
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            raw = _read_bounded(response, max_bytes, deadline, shown)
    except TargetLost:
        raise
    except urllib.error.HTTPError as e:
        e.close()
        raise TargetLost(f"{shown}: HTTP {e.code} {e.reason}") from None
    except (socket.timeout, TimeoutError) as e:
        raise TargetLost(f"{shown}: no answer within {timeout:g} s") from e
    except urllib.error.URLError as e:
        raise TargetLost(f"{shown}: cannot reach the server ({scrub_value(str(e.reason))})") from e
    except (http.client.HTTPException, OSError) as e:
        raise TargetLost(
            f"{shown}: the connection failed ({type(e).__name__}: {scrub_value(str(e))[:120]})"
        ) from e
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise TargetLost(f"{shown}: the answer is not JSON") from e


def _read_bounded(response: Any, max_bytes: int, deadline: float, shown: str) -> bytes:
    length = response.headers.get("Content-Length")
    if length is not None and length.strip().isdigit() and int(length) > max_bytes:
        raise TargetLost(f"{shown}: the answer is {int(length)} bytes, more than the limit of {max_bytes}")
    chunks: List[bytes] = []
    total = 0
    while True:
        chunk = response.read1(_CHUNK) if hasattr(response, "read1") else response.read(_CHUNK)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            raise TargetLost(f"{shown}: the answer is more than the limit of {max_bytes} bytes: cut there")
        if time.monotonic() > deadline:
            raise TargetLost(f"{shown}: the answer did not end within the timeout: cut there")
        chunks.append(chunk)
