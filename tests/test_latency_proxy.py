"""bench/latency_proxy.py: delays, forwards, counts and replays, on loopback only."""

from __future__ import annotations

import http.client
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

PROXY = Path(__file__).resolve().parent.parent / "bench" / "latency_proxy.py"
DELAY = 0.05


class _Upstream(BaseHTTPRequestHandler):
    """Answers every POST with its own body, upper-cased, and remembers it."""

    seen: list[bytes] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(body)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.upper())


@pytest.fixture
def proxy() -> Iterator[int]:
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    _Upstream.seen = []
    url = f"http://127.0.0.1:{upstream.server_address[1]}"
    command = [sys.executable, str(PROXY), url, "--delay", str(DELAY), "--lifetime", "60"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("listening on ")
        yield int(line.split()[-1])
    finally:
        process.terminate()
        process.wait(timeout=10)
        upstream.shutdown()


def _get(conn: http.client.HTTPConnection, path: str) -> str:
    conn.request("GET", path)
    return conn.getresponse().read().decode()


def test_requests_are_delayed_forwarded_counted_and_replayed(proxy: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", proxy, timeout=10)
    answers, took = [], []
    for body in (b"one", b"two"):  # both on one kept-alive connection
        start = time.perf_counter()
        conn.request("POST", "/", body=body)
        answers.append(conn.getresponse().read())
        took.append(time.perf_counter() - start)
    assert answers == [b"ONE", b"TWO"]
    assert min(took) >= DELAY
    assert _get(conn, "/__latency_proxy__/count") == "2"
    assert float(_get(conn, "/__latency_proxy__/replay?concurrency=2")) > 0
    # The replay sends every recorded request once; with two workers their order is the
    # scheduler's, so compare the replayed requests as a multiset.
    assert _Upstream.seen[:2] == [b"one", b"two"]
    assert sorted(_Upstream.seen[2:]) == [b"one", b"two"]
    float(_get(conn, "/__latency_proxy__/replay?concurrency=1&limit=1"))
    assert _Upstream.seen[-1] == b"one" and len(_Upstream.seen) == 5
    assert _get(conn, "/__latency_proxy__/reset") == "0"
    assert _get(conn, "/__latency_proxy__/count") == "0"
