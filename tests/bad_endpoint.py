"""A tiny HTTP server on 127.0.0.1 that answers every request badly, in one way, and stops
by itself: the environment failures ``tests/test_exit_codes.py`` runs each command against.

Modes: ``html`` (200, a web page), ``json`` (200, JSON of no AWS API), ``cut`` (200, a
body cut off mid-answer: the connection closes before ``Content-Length`` bytes),
``500`` (HTTP 500), ``throttle`` (400 Throttling, in the service's own protocol),
``silent`` (accepts and never answers). :func:`refused_url` is a port nobody listens on.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

MODES = ("html", "json", "cut", "500", "throttle", "silent")
PAGE = b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>"
CUT = b'<?xml version="1.0"?><DescribeInstanceTypesResponse><instanceTypeSet><item><instance'
THROTTLE_XML = (
    b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded"
    b"</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
)
THROTTLE_EC2 = (
    b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit "
    b"exceeded.</Message></Error></Errors><RequestID>r-1</RequestID></Response>"
)
THROTTLE_JSON = b'{"__type": "TooManyRequestsException", "message": "Rate exceeded"}'


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # every AWS protocol corral uses is a POST
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        mode = self.server.mode  # type: ignore[attr-defined]
        self.server.hits += 1  # type: ignore[attr-defined]
        if mode == "silent":
            self.server.stopped.wait(self.server.lifetime)  # type: ignore[attr-defined]
            self.close_connection = True
            return
        status, answer, extra = _answer(mode, self.headers.get("X-Amz-Target"), body)
        self.send_response(status)
        self.send_header("Content-Type", "text/html" if answer.startswith(b"<!") else "text/xml")
        self.send_header("Content-Length", str(len(answer) + extra))
        if extra:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(answer)
        self.wfile.flush()
        if extra:
            self.close_connection = True

    do_GET = do_POST

    def log_message(self, *_: object) -> None:
        pass


def _answer(mode: str, target: str | None, body: bytes) -> tuple[int, bytes, int]:
    """(status, body, bytes promised but never sent)."""
    if mode == "html":
        return 200, PAGE, 0
    if mode == "json":
        return 200, b'{"hello": "world", "items": [1, 2, 3]}', 0
    if mode == "cut":
        return 200, CUT, 64
    if mode == "500":
        return 500, PAGE, 0
    if target:  # JSON protocols name the operation in X-Amz-Target
        return 400, THROTTLE_JSON, 0
    return 400, THROTTLE_EC2 if b"Version=2016-11-15" in body else THROTTLE_XML, 0


@contextmanager
def bad_endpoint(mode: str, lifetime: float = 30.0) -> Iterator[str]:
    """Serve ``mode`` on a free loopback port; yield its URL. The server stops on exit and,
    whatever happens, after ``lifetime`` seconds."""
    assert mode in MODES, mode
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.mode, server.hits, server.lifetime = mode, 0, lifetime  # type: ignore[attr-defined]
    server.stopped = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()

    def stop() -> None:
        server.stopped.set()  # type: ignore[attr-defined]
        server.shutdown()

    timer = threading.Timer(lifetime, stop)
    timer.daemon = True
    timer.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        timer.cancel()
        stop()
        server.server_close()


def refused_url() -> str:
    """A loopback URL whose port nobody listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
