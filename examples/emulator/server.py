"""A moto_server on 127.0.0.1, on a free port, that always stops."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
SERVER_ENV = {
    # moto's ~1,300 default AMIs and snapshots per region would dominate every EC2 call.
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    # botocore knows regions newer than moto's own list (e.g. me-west-1).
    "MOTO_ALLOW_NONEXISTENT_REGION": "true",
}


class ServerError(RuntimeError):
    """moto_server did not start."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def moto_server(timeout: float = 20.0) -> Iterator[str]:
    """Start moto_server on 127.0.0.1; yield its URL; stop it whatever happens."""
    port = free_port()
    binary = Path(sys.executable).parent / "moto_server"
    env = {**os.environ, **SERVER_ENV}
    proc = subprocess.Popen(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise ServerError(f"moto_server did not start on {url}.") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def reset(url: str) -> None:
    """Empty the emulator (every account, every region)."""
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=30)
