"""Run a real node under gunicorn on loopback for tests and benchmarks, and stop it afterwards."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(url: str, status: int = 200, timeout: float = 30.0, in_a_row: int = 1) -> None:
    """Poll ``url`` until it answers ``status`` ``in_a_row`` times running; raise after ``timeout`` seconds.

    Several answers in a row show that every gunicorn worker (each request reaches any one) is there.
    """
    deadline, streak = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        answered = None
        with contextlib.suppress(requests.RequestException):
            answered = requests.get(url, timeout=1).status_code
        streak = streak + 1 if answered == status else 0
        if streak >= in_a_row:
            return
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer {status} within {timeout} s")


@contextlib.contextmanager
def gunicorn_node(data_dir: Path, env: dict | None = None, workers: int = 2, ready_status: int = 200, log: Path | None = None,
                  serve_args: tuple = ()):
    """Start ``storefront-edge serve`` with ``workers`` (and ``serve_args``) on a free loopback port; yield
    ``(base URL, server pid)``."""
    port = free_port()
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    command = [sys.executable, "-m", "edge", "--data-dir", str(data_dir), "serve", "--port", str(port), "--workers", str(workers),
               *serve_args]
    output = open(log or os.devnull, "w")
    process = subprocess.Popen(command, env=environment, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(f"{base}/readyz", ready_status)
        yield base, process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        output.close()
