"""gunicorn for the hub: one hub app per worker process."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication


class HubServer(BaseApplication):
    """A gunicorn application building the hub app inside each worker."""

    def __init__(self, options: dict, config: dict):
        self.options, self.config = options, config
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from .app import create_hub_app

        return create_hub_app(self.config)


def serve(host: str, port: int, workers: int, config: dict) -> None:
    """Run the hub under gunicorn in the foreground."""
    from .app import create_hub_app

    create_hub_app(config).extensions["storefront_edge_hub"]["store"].close()  # migrate once before the workers start
    options = {"bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}", "workers": workers,
               "timeout": 120, "graceful_timeout": 10, "accesslog": None, "loglevel": "info"}
    HubServer(options, config).run()
