"""What a plugin may use from ``edge``: the one list (``__all__``), kept stable for plugin authors.

Import from here (``from edge.api import hookimpl, PluginInfo, current_node``); anything else in ``edge``
may change without notice. Names resolve on first use, so importing this module costs nothing (a
plugin's command module can import it when the command line starts).

- the contract: ``hookimpl``, ``PluginInfo``, ``SyncedTable``, ``HealthReport`` (see :mod:`edge.hookspecs`);
- in a request: ``current_node()`` (models by name, config, state slot, store; ``.metrics.count_event(plugin,
  event)`` counts an event in ``/metrics``), ``json_body`` (JSON with
  the node's depth, size and number limits), ``read_body`` (a raw body counted against its limit),
  ``validated``, ``require_admin()`` (an admin-only plugin route), ``documented`` (describe a route for ``/openapi.json``), and the bounds ``SQLITE_INT_MAX``
  (the largest integer a query parameter may carry) and ``MAX_PRICE``;
- stores (CDN edge mode, :mod:`edge.stores`): ``current_store()`` (the store a request is for: scope every
  per-store row by it), ``is_store_id(text)``, ``store_path(path)`` (a ``/v1/...`` URL in the form the request named its store),
  ``rebuild_per_store(db, ...)`` (a migration re-keying a table's rows ``<store>/<key>``) and
  ``cacheable(payload_or_response, ...)`` (ETag, ``Cache-Control``, ``Vary`` and 304 for an answer a cache may keep);
- writing the store: ``write_transaction(db)`` (``BEGIN IMMEDIATE`` with retries, writers queued: never
  "database is locked" under a burst), ``writers_paused(db)`` (no write starts in the block: a WAL checkpoint's
  last pages); ``node_origin(db)`` (this node's name at its hub, ``None`` before it joined one: stamp it on the rows it
  writes); ``sha256_file(path)`` (a file's digest, as bundle manifests record it);
- a private store (replays, backtests): ``connect(path)`` (WAL, busy timeout) and ``migrate(db, [migrations])``;
- errors that become JSON answers with their status: ``ApiError``, ``BadRequest``, ``NotFound``,
  ``Conflict``, ``PayloadTooLarge``, ``UnsupportedMediaType``, ``Unprocessable``, ``ServiceUnavailable``,
  and ``ModelError`` (a model called wrongly);
- for ``cli_commands``: ``open_node(ctx)`` (this data folder's node, no sync worker), ``hub_options`` (the
  ``--data-dir``/``--database-url`` options of hub commands), ``open_hub_store(hub_dir, database_url)`` and
  ``checked_publication(store, table, [(line, row)])`` (rows of a hub-owned table, checked for ``store.publish``).
"""

from __future__ import annotations

import importlib

_WHERE = {
    "hookimpl": "edge.hookspecs", "PluginInfo": "edge.hookspecs", "SyncedTable": "edge.hookspecs",
    "HealthReport": "edge.hookspecs",
    "current_node": "edge.node", "json_body": "edge.bodies", "validated": "edge.bodies", "documented": "edge.openapi",
    "read_body": "edge.bodies", "SQLITE_INT_MAX": "edge.bodies", "MAX_PRICE": "edge.bodies",
    "write_transaction": "edge.store", "sha256_file": "edge.bundles.builder",
    "connect": "edge.store", "migrate": "edge.store", "writers_paused": "edge.store",
    "current_store": "edge.stores", "store_path": "edge.stores", "is_store_id": "edge.stores",
    "rebuild_per_store": "edge.stores",
    "cacheable": "edge.caching", "node_origin": "edge.sync.capture",
    "require_admin": "edge.auth",
    "ApiError": "edge.errors", "BadRequest": "edge.errors", "NotFound": "edge.errors", "Conflict": "edge.errors",
    "PayloadTooLarge": "edge.errors", "UnsupportedMediaType": "edge.errors", "Unprocessable": "edge.errors",
    "ServiceUnavailable": "edge.errors", "ModelError": "edge.runtime",
    "open_node": "edge.api_cli", "hub_options": "edge.api_cli", "open_hub_store": "edge.api_cli",
    "checked_publication": "edge.api_cli",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"edge.api has no {name!r}; plugins may use only {', '.join(__all__)}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
