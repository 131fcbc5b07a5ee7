"""A loopback proxy that adds a fixed delay to every request: a stand-in for AWS latency.

It runs in its own process (``python bench/latency_proxy.py UPSTREAM_URL --delay 0.08``),
so its work never competes with the measured client for that client's interpreter lock,
as real network latency would not. One asyncio loop serves every connection with
keep-alive; each request waits ``delay`` seconds (concurrently with all others) and is
then forwarded to the upstream on a fresh HTTP/1.0 connection, the way the emulator
answers best.

It prints ``listening on PORT`` once ready. Control paths (never forwarded or delayed):

- ``/__latency_proxy__/count``: requests forwarded since the last reset;
- ``/__latency_proxy__/reset``: zero the count and forget the recorded requests;
- ``/__latency_proxy__/replay?concurrency=N[&limit=K]``: send every request (or the
  first K) recorded since the last reset straight to the upstream again, N at a time and
  without delay, and answer the seconds it took: how fast the upstream itself can serve
  that exact workload.

It stops by itself after ``--lifetime`` seconds, and on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import urllib.parse

CONTROL = "/__latency_proxy__/"
HOP_BY_HOP = ("connection", "keep-alive", "transfer-encoding", "content-length")


class LatencyProxy:
    """Delays, forwards and counts requests; one instance per process."""

    def __init__(self, upstream: str, delay: float) -> None:
        url = urllib.parse.urlsplit(upstream)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.delay = delay
        self.recorded: list[tuple[bytes, bytes]] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client connection: requests in order, until the client closes it."""
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, headers = _parse_head(head)
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status, reply_headers, data = await self._answer(line, head, body)
                writer.write(_response(status, reply_headers, data))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client closed the connection, or the proxy is stopping
        finally:
            writer.close()

    @property
    def count(self) -> int:
        """Requests forwarded since the last reset."""
        return len(self.recorded)

    async def _answer(self, line: str, head: bytes, body: bytes):
        path = line.split(" ")[1]
        if path.startswith(CONTROL):
            return await self._control(urllib.parse.urlsplit(path))
        self.recorded.append((head, body))
        await asyncio.sleep(self.delay)
        return await self._forward(head, body)

    async def _control(self, url: urllib.parse.SplitResult):
        if url.path.endswith("/reset"):
            self.recorded = []
        if url.path.endswith("/replay"):
            query = urllib.parse.parse_qs(url.query)
            limit = int(query.get("limit", [str(self.count)])[0])
            seconds = await self.replay(int(query.get("concurrency", ["16"])[0]), limit)
            return "200 OK", [("Content-Type", "text/plain")], f"{seconds:.6f}".encode()
        return "200 OK", [("Content-Type", "text/plain")], str(self.count).encode()

    async def replay(self, concurrency: int, limit: int) -> float:
        """Forward the first ``limit`` recorded requests again, ``concurrency`` at a time;
        return the seconds it took."""
        queue = list(reversed(self.recorded[:limit]))

        async def worker() -> None:
            while queue:
                await self._forward(*queue.pop())

        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return loop.time() - start

    async def _forward(self, head: bytes, body: bytes):
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            first, rest = head.split(b"\r\n", 1)
            method, target, _ = first.split(b" ", 2)
            kept = [
                h
                for h in rest.split(b"\r\n")
                if h and h.split(b":", 1)[0].strip().lower() not in (b"connection", b"keep-alive")
            ]
            request = b"\r\n".join([method + b" " + target + b" HTTP/1.0", *kept, b"", b""])
            writer.write(request + body)
            await writer.drain()
            raw = await reader.read(-1)  # HTTP/1.0: the upstream closes after its reply
        finally:
            writer.close()
        reply_head, _, data = raw.partition(b"\r\n\r\n")
        status_line, headers = _parse_head(reply_head + b"\r\n\r\n", keep_case=True)
        return status_line.split(" ", 1)[1], list(headers.items()), data


def _parse_head(head: bytes, keep_case: bool = False) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for text in lines[1:]:
        if ":" in text:
            key, value = text.split(":", 1)
            headers[key.strip() if keep_case else key.strip().lower()] = value.strip()
    return lines[0], headers


def _response(status: str, headers: list[tuple[str, str]], data: bytes) -> bytes:
    lines = [f"HTTP/1.1 {status}"]
    lines += [f"{k}: {v}" for k, v in headers if k.lower() not in HOP_BY_HOP]
    lines += [f"Content-Length: {len(data)}", "", ""]
    return "\r\n".join(lines).encode("latin-1") + data


async def main_async(upstream: str, delay: float, port: int, lifetime: float) -> None:
    """Serve until ``lifetime`` elapses or SIGTERM arrives."""
    proxy = LatencyProxy(upstream, delay)
    server = await asyncio.start_server(proxy.serve, "127.0.0.1", port, backlog=256)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), lifetime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("upstream", help="e.g. http://127.0.0.1:5000")
    parser.add_argument("--delay", type=float, default=0.08, help="seconds added per request")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--lifetime", type=float, default=900.0, help="stop after N seconds")
    args = parser.parse_args()
    asyncio.run(main_async(args.upstream, args.delay, args.port, args.lifetime))
    return 0


if __name__ == "__main__":
    sys.exit(main())
