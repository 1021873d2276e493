"""gunicorn as the server of the node and of the hub: one app per worker (no preload)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from gunicorn.app.base import BaseApplication


def _child_exit(server, worker):
    from prometheus_client import multiprocess

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)


def _worker_exit(server, worker):
    app = getattr(worker, "wsgi", None)
    node = getattr(app, "extensions", {}).get("storefront_edge") if app is not None else None
    if node is not None:
        node.close()


class AppServer(BaseApplication):
    """A gunicorn application that calls ``factory()`` inside each worker to build its WSGI app."""

    def __init__(self, options: dict, factory):
        self.options, self.factory = options, factory
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.factory()


def gunicorn_options(host: str, port: int, workers: int, data_dir: Path, threads: int = 1, timeout: int = 60,
                     worker_class: str = "gthread") -> dict:
    """Settings shared by the node and the hub; the control socket lives in ``<data dir>/run``.

    ``gthread`` (:class:`edge.workers.EdgeThreadWorker`: read deadlines, JSON errors) is the default:
    kiosks and apps talk to the node directly, and only ``gthread`` keeps their connections alive
    between requests (``sync`` closes each one, which suits a reverse proxy in front). Measured once on
    the visual search route, 2 workers, 4 concurrent kept-alive clients: 179 requests/s with gthread
    against 162 with sync. Threads per worker: a thread is held for as long as its request takes to
    arrive (up to the read deadlines), so one thread per worker let two slow clients stall the node;
    ``serve`` runs 8 per worker, which keep /healthz and the plugin routes answering while a handful of
    clients trickle (``make bench``, topic ``http_edge``). Keep-alive: an idle connection waits in the worker's poller,
    not in a thread, for ``keepalive`` seconds, and at most ``worker_connections`` connections per
    worker are open at once (the rest wait in the listen backlog).
    gunicorn itself refuses an unknown ``worker_class``.
    """
    from .workers import WORKER_CLASSES

    (Path(data_dir) / "run").mkdir(parents=True, exist_ok=True)
    threads = 1 if worker_class == "sync" else threads  # gunicorn would swap a threaded sync worker for its own gthread
    return {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers, "threads": threads, "worker_class": WORKER_CLASSES.get(worker_class, worker_class),
        "keepalive": 5, "worker_connections": 256, "limit_request_line": 4094, "limit_request_fields": 100,
        "limit_request_field_size": 8190,
        "timeout": timeout, "graceful_timeout": 10, "accesslog": None, "loglevel": "info",
        "control_socket": str(Path(data_dir) / "run" / "gunicorn.ctl"),  # one per server, not one per user
    }


def set_read_limits(config) -> None:
    """Give the workers the node's read deadlines (``HEADER_TIMEOUT``, ``BODY_TIMEOUT``, ``MIN_BODY_RATE``).

    Set in the arbiter before the workers fork, which inherit it.
    """
    from .workers import EdgeThreadWorker, ReadLimits

    EdgeThreadWorker.limits = ReadLimits(float(config["HEADER_TIMEOUT"]), float(config["BODY_TIMEOUT"]),
                                         float(config["MIN_BODY_RATE"]))


def prepare_metrics_dir(data_dir: Path) -> None:
    """Give gunicorn's workers a fresh shared folder for Prometheus multiprocess metrics."""
    folder = Path(data_dir) / "run" / "prometheus"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def serve(host: str, port: int, workers: int, threads: int, data_dir: Path, overrides: dict,
          worker_class: str = "gthread") -> None:
    """Run the node under gunicorn in the foreground until it is stopped."""
    from .app import create_app
    from .config import DEFAULTS, ENV_PREFIX, load_settings
    from .occupancy import share_across_workers

    set_read_limits(load_settings(ENV_PREFIX, DEFAULTS, overrides))
    prepare_metrics_dir(data_dir)
    share_across_workers()
    options = {**gunicorn_options(host, port, workers, data_dir, threads, worker_class=worker_class),
               "child_exit": _child_exit, "worker_exit": _worker_exit}
    AppServer(options, lambda: create_app(overrides)).run()
