"""gunicorn as the node's server: one app per worker (no preload: models and threads per process)."""

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


class NodeServer(BaseApplication):
    """A gunicorn application that builds the node app inside each worker."""

    def __init__(self, options: dict, overrides: dict):
        self.options, self.overrides = options, overrides
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)
        self.cfg.set("child_exit", _child_exit)
        self.cfg.set("worker_exit", _worker_exit)

    def load(self):
        from .app import create_app

        return create_app(self.overrides)


def prepare_metrics_dir(data_dir: Path) -> None:
    """Give gunicorn's workers a fresh shared folder for Prometheus multiprocess metrics."""
    folder = Path(data_dir) / "run" / "prometheus"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def serve(host: str, port: int, workers: int, threads: int, data_dir: Path, overrides: dict) -> None:
    """Run gunicorn in the foreground until it is stopped."""
    prepare_metrics_dir(data_dir)
    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers, "threads": threads, "worker_class": "gthread" if threads > 1 else "sync",
        "timeout": 60, "graceful_timeout": 10, "accesslog": None, "loglevel": "info",
        "control_socket": str(Path(data_dir) / "run" / "gunicorn.ctl"),  # one per node, not one per user
    }
    NodeServer(options, overrides).run()
