"""gunicorn for the hub: one hub app per worker process (the node's ``AppServer``)."""

from __future__ import annotations

from pathlib import Path


def serve(host: str, port: int, workers: int, config: dict) -> None:
    """Run the hub under gunicorn in the foreground."""
    from ..server import AppServer, gunicorn_options
    from .app import create_hub_app

    create_hub_app(config).extensions["storefront_edge_hub"]["store"].close()  # migrate once before the workers start
    options = gunicorn_options(host, port, workers, Path(config["DATA_DIR"]), timeout=120)
    AppServer(options, lambda: create_hub_app(config)).run()
