"""Mount each plugin's Blueprint under ``/v1`` and gate its routes: store, client key, then readiness.

Every plugin route is reachable per store as ``/v1/stores/<store>/...`` (see :mod:`edge.stores`); a store
prefix in front of any other route is 404. Plugin answers say ``Vary: Authorization`` (a key decides
whether and for which store they are given) and, unless the plugin chose its own ``Cache-Control``,
``no-store``: an answer that depends on a session or a photo is never kept by a cache unless its plugin
says it may be.
"""

from __future__ import annotations

import logging

from flask import Flask, g, request

from . import auth
from .errors import NotFound, ServiceUnavailable
from .stores import requested_store, resolve_store

log = logging.getLogger(__name__)


def _prefix(name: str, blueprint) -> str:
    prefix = blueprint.url_prefix or f"/v1/{name}"
    if not prefix.startswith("/v1/"):
        raise ValueError(f"plugin routes must live under /v1/, not '{prefix}'")
    return prefix


def mount(app: Flask, node) -> None:
    """Register every plugin's Blueprint (a blocked one too: its routes answer 503); a failing hook gets no routes and an error."""
    mounted: dict[str, str] = {}
    for name, blueprint in node.plugins.call_each("blueprint", include_blocked=True, node=node).items():
        if blueprint is None:
            continue
        try:
            if isinstance(blueprint, Exception):
                raise blueprint
            app.register_blueprint(blueprint, url_prefix=_prefix(name, blueprint))
            mounted[blueprint.name] = name
        except Exception as exc:
            log.error("plugin %s has no routes: %s", name, exc)
            node.plugins.plugins[name].errors.append(f"routes not mounted: {exc}")

    @app.before_request
    def _gate_plugin_routes():
        top = request.blueprints[-1] if request.blueprints else None
        plugin = mounted.get(top)
        if plugin is None:
            if requested_store() is not None:
                raise NotFound("no such route for a store", code="not_found")
            return
        g.store = resolve_store(app.config["STORES"])
        auth.require(auth.CLIENT, g.store)
        status = node.plugin_status(plugin, store=g.store)
        if not status["ready"]:
            raise ServiceUnavailable(f"plugin '{plugin}' is not ready", code="plugin_not_ready", details=status["reasons"])

    @app.after_request
    def _cache_policy(response):
        top = request.blueprints[-1] if request.blueprints else None
        if top in mounted:
            response.vary.add("Authorization")
            if "Cache-Control" not in response.headers:
                response.headers["Cache-Control"] = "no-store"
        return response
