"""Shared benchmark tools: where the datasets are, wrk on loopback, and plain statistics."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess

from pathlib import Path

# ``../shared`` beside the checkout (as CI lays it out), or ``$STOREFRONT_SHARED`` for a checkout elsewhere (a
# git worktree); the datasets are read from there, never copied into the project.
SHARED = Path(os.environ.get("STOREFRONT_SHARED") or Path(__file__).resolve().parents[2] / "shared")
DATASETS = SHARED / "datasets"

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * _UNITS[unit]


def wrk(url: str, connections: int, seconds: int = 5, headers: dict | None = None, threads: int = 2,
        script: str | None = None) -> dict:
    """Run wrk against a loopback ``url``; return requests/s and latency percentiles in ms.

    :param script: a wrk Lua script (e.g. ``wrk.method = "POST"``) for requests other than a plain GET.
    """
    if not url.startswith("http://127.0.0.1"):
        raise ValueError("benchmarks send traffic to loopback only")
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian package 'wrk'; `make bench` installs it as root)")
    command = ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    for key, value in (headers or {}).items():
        command += ["-H", f"{key}: {value}"]
    if script:
        command += ["-s", script]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr.strip() or done.stdout.strip()}")
    out = done.stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    total = re.search(r"(\d+) requests in", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "requests": int(total.group(1)) if total else 0,
            "p50_ms": _ms(percentiles["50"]), "p99_ms": _ms(percentiles["99"]),
            "non_2xx": int(errors.group(1)) if errors else 0, "socket_errors": socket_errors.group(1) if socket_errors else ""}


def median(values) -> float:
    return statistics.median(values)


def percentile(values, q: float) -> float:
    """The q-th percentile (0..100) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def worker_rss_mb(server_pid: int) -> float:
    """The resident memory of a gunicorn master's workers, summed, in MB."""
    import os
    from pathlib import Path

    children = subprocess.run(["pgrep", "-P", str(server_pid)], capture_output=True, text=True).stdout.split()
    return sum(int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6 for pid in children)
