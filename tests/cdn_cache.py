"""Run Debian's nginx with the shipped ``deploy/nginx-cdn.conf`` in front of nodes on loopback (tests, benchmarks)."""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import requests

from tests.servers import ROOT, free_port

SHIPPED = ROOT / "deploy" / "nginx-cdn.conf"


def nginx_available() -> bool:
    return shutil.which("nginx") is not None


def render(folder: Path, nodes: list[str], port: int) -> Path:
    """An nginx.conf in ``folder``: the shipped site with its cache folder, nodes and port set, inside a
    minimal main block that keeps every file nginx writes in ``folder``."""
    site = SHIPPED.read_text()
    site = site.replace("/var/cache/storefront-edge", str(folder / "cache"), 1)
    site = re.sub(r"    server 127\.0\.0\.1:8080;[^\n]*\n", "".join(f"    server {n.split('://')[-1]};\n" for n in nodes), site, count=1)
    site = re.sub(r"listen 8081;", f"listen 127.0.0.1:{port};", site, count=1)
    temp = "".join(f"{kind}_temp_path {folder / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = folder / "nginx.conf"
    conf.write_text(f"daemon off;\nmaster_process off;\nworker_processes 1;\npid {folder / 'nginx.pid'};\n"
                    f"error_log {folder / 'error.log'} warn;\nevents {{ worker_connections 512; }}\n"
                    f"http {{\naccess_log off;\n{temp}{site}\n}}\n")
    return conf


@contextlib.contextmanager
def nginx_cache(folder: Path, nodes: list[str]):
    """nginx on a free loopback port caching for ``nodes`` (base URLs) into ``folder/cache``; yields its base URL."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = render(folder, nodes, port)
    errors = open(folder / "stderr.log", "w")
    process = subprocess.Popen(["nginx", "-p", str(folder), "-c", str(conf)], stdout=subprocess.DEVNULL,
                               stderr=errors, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            with contextlib.suppress(requests.RequestException):
                requests.get(base + "/healthz", timeout=1)
                break
            if process.poll() is not None:
                raise RuntimeError(f"nginx stopped: {(folder / 'stderr.log').read_text()[-500:]}")
            time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        errors.close()


def node_requests(base: str, route: str) -> float:
    """How many requests the node at ``base`` has answered on ``route`` (its Prometheus counter, all workers)."""
    text = requests.get(base + "/metrics", timeout=5).text
    pattern = re.compile(r'^storefront_edge_request_duration_seconds_count\{([^}]*)\} ([0-9.e+]+)$', re.M)
    return sum(float(v) for labels, v in pattern.findall(text) if f'route="{route}"' in labels)
