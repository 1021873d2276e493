"""The app factory: ``create_app(config=None)`` wires config, errors, the node, and every route."""

from __future__ import annotations

import logging

from flask import Flask

from . import admin_routes, console, errors, node, occupancy, plugin_routes, sync_routes, system_routes
from .auth import keys_configured
from .config import load_config
from .stores import StorePrefix

log = logging.getLogger(__name__)


def create_app(config: dict | None = None, *, watch: bool = True) -> Flask:
    """Build a node app. ``config`` overrides defaults, the instance file and the environment.

    :param watch: poll for bundle activations in a background thread (tests may refresh by hand).
    """
    app = Flask("edge")
    load_config(app, config)
    occupancy.init_app(app)
    errors.init_app(app)
    the_node = node.init_app(app, watch=watch)
    app.register_blueprint(system_routes.blueprint)
    app.register_blueprint(admin_routes.blueprint)
    app.register_blueprint(sync_routes.blueprint)
    app.register_blueprint(console.blueprint)
    plugin_routes.mount(app, the_node)
    app.wsgi_app = StorePrefix(app.wsgi_app)
    if not keys_configured(app.config):
        log.warning("NO API KEYS CONFIGURED: this node answers loopback clients only. "
                    "Set STOREFRONT_EDGE_CLIENT_KEY and STOREFRONT_EDGE_ADMIN_KEY before exposing it.")
    return app
