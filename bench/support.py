"""What the benchmarks share: a loopback ``moto_server``, readiness polling and timing."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, what: str, seconds: float = 30.0) -> None:
    """Poll ``url`` until it answers; stop with a message if ``process`` exits or time runs out."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            if process.poll() is not None:
                raise SystemExit(
                    f"{what} exited with {process.returncode} before it was ready"
                ) from None
            if time.monotonic() > deadline:
                raise SystemExit(f"{what} did not answer {url} within {seconds:.0f} s") from None
            time.sleep(0.05)


@contextmanager
def moto_server() -> Iterator[tuple[subprocess.Popen, str]]:
    """``moto_server`` on a free loopback port, without EC2's ~1,300 default images per
    region; yields the process and its URL, and always stops it."""
    binary = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    url = f"http://127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", url.rsplit(":", 1)[1]],
        env={**os.environ, "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(f"{url}/moto-api/", process, "moto_server")
        yield process, url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def best_of(repeats: int, work: Callable[[], object]) -> float:
    """The fastest of ``repeats`` timed runs of ``work``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def profiled(command: list[str], label: str) -> list[str]:
    """``command`` under ``py-spy record`` when ``BENCH_PYSPY`` names a directory: samples of
    whichever thread holds the GIL (Python CPU), collapsed stacks in ``<dir>/<label>-<n>.txt``
    (``pip install py-spy``). Sampling from outside costs the measured process little, but it
    takes CPU on the shared cores: a profiled run's figures find costs, they are no ratio."""
    folder = os.environ.get("BENCH_PYSPY")
    if not folder:
        return command
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    Path(folder).mkdir(parents=True, exist_ok=True)
    n = len(list(Path(folder).glob(f"{label}-*.txt")))
    out = str(Path(folder) / f"{label}-{n}.txt")
    spy_options = ["--format", "raw", "--rate", "250", "--gil", "--output", out]
    return [spy, "record", *spy_options, "--", *command]
