"""The canary against real (scripted) HTTP servers: what makes a target lost, the bounds, redirects, and
credentials that never show."""

from __future__ import annotations

import socket
import time
from typing import Callable

import pytest

from envcheck.canary import CanaryError, TargetLost, parse_endpoint, post_json
from tests.canary.conftest import Answer, Handler, ScriptedServer

Serve = Callable[[Answer], ScriptedServer]


def post(url: str, *, timeout: float = 5.0, max_bytes: int = 1 << 20, path: str = "/invocations") -> object:
    return post_json(parse_endpoint(url), path, {"inputs": [1]}, timeout=timeout, max_bytes=max_bytes)


def test_answer_is_parsed_and_only_the_body_given_is_sent(serve: Serve) -> None:
    server = serve(lambda h: h.send_json({"predictions": [1, 2]}))
    assert post(server.url) == {"predictions": [1, 2]}
    ((path, headers, body),) = server.requests
    assert (path, body, headers["Content-Type"]) == ("/invocations", {"inputs": [1]}, "application/json")
    assert "Authorization" not in headers


def test_credentials_are_sent_as_basic_auth_and_never_shown(serve: Serve) -> None:
    server = serve(lambda h: h.send_raw(b"", status=503))
    url = server.url.replace("http://", "http://alice:s3cr3t-pw@")
    with pytest.raises(TargetLost) as e:
        post(url)
    assert "s3cr3t" not in str(e.value) and "alice" not in str(e.value)
    assert "HTTP 503" in str(e.value)
    assert server.requests[0][1]["Authorization"] == "Basic YWxpY2U6czNjcjN0LXB3"


def endless(h: Handler) -> None:
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.end_headers()  # no length: the body runs until the connection closes, which it never does
    try:
        h.wfile.write(b'{"predictions": [')
        while not h.server.release.is_set():
            h.wfile.write(b"0.5, " * 10_000)
    except OSError:
        pass  # the client went away: as it should
    h.close_connection = True


HUGE = b'{"predictions": [' + b"0.5, " * 2_000_000 + b"0.5]}"  # 10 MB


def huge_declared(h: Handler) -> None:
    h.send_raw(HUGE)  # Content-Length says so


def huge_chunked(h: Handler) -> None:
    h.send_response(200)
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    chunk = b"0.5, " * 20_000
    try:
        for _ in range(100):  # 10 MB
            h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        h.wfile.write(b"0\r\n\r\n")
    except OSError:
        pass


def hang(h: Handler) -> None:
    h.server.release.wait(30)


def drip(h: Handler) -> None:
    h.send_response(200)
    h.end_headers()
    try:
        while not h.server.release.is_set():
            h.wfile.write(b" ")
            h.wfile.flush()
            time.sleep(0.05)
    except OSError:
        pass
    h.close_connection = True


def redirect_elsewhere(h: Handler) -> None:
    h.send_response(307)
    h.send_header("Location", f"http://127.0.0.2:{h.server.server_address[1]}/invocations")
    h.send_header("Content-Length", "0")
    h.end_headers()


def redirect_get(h: Handler) -> None:
    h.send_response(302)
    h.send_header("Location", "/elsewhere")
    h.send_header("Content-Length", "0")
    h.end_headers()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (endless, "more than the limit of 1048576 bytes: cut there"),
        (huge_declared, r"is \d+ bytes, more than the limit of 1048576"),
        (huge_chunked, "more than the limit of 1048576 bytes: cut there"),
        (hang, "no answer within 0.5 s"),
        (drip, "did not end within the timeout"),
        (redirect_elsewhere, r"redirected to another host \(http://127.0.0.2:\d+/invocations\): not followed"),
        (redirect_get, "HTTP 302 .a redirect that drops the request.: not followed"),
        (lambda h: h.send_raw(b"<html>oops</html>", content_type="text/html"), "the answer is not JSON"),
        (lambda h: h.send_raw(b'{"error": "boom"}', status=500), "HTTP 500 Internal Server Error"),
        (lambda h: h.send_raw(b"not found", status=404), "HTTP 404"),
    ],
    ids=[
        "endless",
        "10MB-declared",
        "10MB-chunked",
        "hang",
        "drip",
        "redirect-host",
        "redirect-302",
        "html",
        "500",
        "404",
    ],
)
def test_what_makes_a_target_lost(serve: Serve, answer: Answer, message: str) -> None:
    server = serve(answer)
    with pytest.raises(TargetLost, match=message) as e:
        post(server.url, timeout=0.5)
    assert "\n" not in str(e.value)
    assert len(server.requests) == 1  # one request, and no follow-up anywhere


def test_same_origin_307_is_followed_with_the_same_body(serve: Serve) -> None:
    def answer(h: Handler) -> None:
        if h.path == "/invocations":
            h.send_response(307)
            h.send_header("Location", "/v2/invocations")
            h.send_header("Content-Length", "0")
            h.end_headers()
        else:
            h.send_json({"predictions": [3]})

    server = serve(answer)
    assert post(server.url) == {"predictions": [3]}
    assert [(p, b) for p, _, b in server.requests] == [
        ("/invocations", {"inputs": [1]}),
        ("/v2/invocations", {"inputs": [1]}),
    ]


def test_a_server_that_is_down() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: refused
        with pytest.raises(TargetLost, match=r"cannot reach the server \(.*refused"):
            post(f"http://127.0.0.1:{port}")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://host/x", "give an http:// or https:// URL"),
        ("localhost:8080", "give an http:// or https:// URL"),
        ("http://bob:hunter2@host:99999", "not a URL"),
    ],
)
def test_bad_endpoints(url: str, message: str) -> None:
    with pytest.raises(CanaryError, match=message) as e:
        parse_endpoint(url)
    assert "hunter2" not in str(e.value)


def test_endpoint_keeps_a_path_prefix_and_drops_credentials() -> None:
    endpoint = parse_endpoint("https://u:p@models.example:8443/serving/")
    assert endpoint.url == "https://models.example:8443/serving"
    assert endpoint.authorization.startswith("Basic ")
