"""Stores on one node (CDN edge mode): which stores a node serves, how a request names its store, and
which keys open which stores.

Configuration: ``STORES`` (comma-separated store ids; default ``default``, a node of one store) and
``STORE_KEYS`` (``STOREFRONT_EDGE_STORE_KEYS__<store>=<client key>``, one client key per store). The
node-wide ``CLIENT_KEY`` and ``ADMIN_KEY`` open every store.

Routing (decision: a path prefix, not a header, so that a URL names one answer and any HTTP cache keys
it by store without being told about a header): ``/v1/stores/<store>/<plugin>/...`` reaches the plugin
route ``/v1/<plugin>/...`` for that store. A node of one store also answers the plain ``/v1/<plugin>/...``
routes for it; a node of several stores answers them with 400 ``store_required``. A store id is 1-64
characters of lower-case letters, digits and ``-``, starting with a letter or digit; anything else is
400 ``bad_store``, a well-formed id the node does not serve 404 ``unknown_store``.

The prefix is taken off by a small WSGI middleware before Flask routes the request, so every plugin
route is reachable per store without registering it twice; ``current_store()`` says which store the
request is for, and ``store_path(path)`` writes a URL in the same form the request used.
"""

from __future__ import annotations

import re

from flask import current_app, g, has_request_context, request

from .errors import ApiError, BadRequest, NotFound

STORE_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
DEFAULT_STORE = "default"
PREFIX = "/v1/stores/"
ENVIRON_KEY = "storefront_edge.store"


def is_store_id(text) -> bool:
    """Whether ``text`` is a well-formed store id."""
    return isinstance(text, str) and STORE_ID.fullmatch(text) is not None


def parse_stores(value) -> list[str]:
    """The configured store ids (``"a,b"`` or a list), checked; ``[DEFAULT_STORE]`` when none is set."""
    names = [s.strip() for s in value.split(",")] if isinstance(value, str) else list(value or ())
    names = [n for n in names if n] or [DEFAULT_STORE]
    bad = [n for n in names if not STORE_ID.fullmatch(n)]
    if bad:
        shown = ", ".join(repr(n[:64]) for n in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise ValueError(f"STORES: {shown} is not a store id (lower-case letters, digits, '-')")
    if len(set(names)) != len(names):
        raise ValueError("STORES names a store twice")
    return names


def parse_store_keys(value, stores: list[str]) -> dict[str, str]:
    """``{store: client key}`` from ``STORE_KEYS``; a key for a store the node does not serve is an error."""
    keys = {str(k): str(v) for k, v in (value or {}).items() if v not in (None, "")}
    unknown = sorted(set(keys) - set(stores))
    if unknown:
        raise ValueError(f"STORE_KEYS names stores this node does not serve: {', '.join(unknown)}")
    return keys


class StorePrefix:
    """WSGI middleware: ``/v1/stores/<store>/<rest>`` becomes ``/v1/<rest>`` with the store in the environ."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(PREFIX):
            store, _, rest = path[len(PREFIX):].partition("/")
            environ[ENVIRON_KEY] = store
            environ["PATH_INFO"] = "/v1/" + rest if rest else "/v1/stores/"
        return self.app(environ, start_response)


def requested_store() -> str | None:
    """The store named by the request's path prefix (unchecked), or ``None`` when it has none."""
    return request.environ.get(ENVIRON_KEY)


def resolve_store(stores: list[str]) -> str:
    """The request's store, checked against ``stores``: 400 ``bad_store`` / ``store_required``, 404 ``unknown_store``."""
    named = requested_store()
    if named is None:
        if len(stores) == 1:
            return stores[0]
        raise BadRequest(f"this node serves {len(stores)} stores: name one with {PREFIX}<store>/...",
                         code="store_required", details={"stores": stores})
    if not STORE_ID.fullmatch(named):
        raise BadRequest("malformed store id: lower-case letters, digits and '-', at most 64", code="bad_store")
    if named not in stores:
        raise NotFound("this node does not serve that store", code="unknown_store")
    return named


def current_store() -> str:
    """The store of the current request (the node's only store outside a request or on a one-store node)."""
    if has_request_context() and "store" in g:
        return g.store
    stores = current_app.config["STORES"]
    if len(stores) == 1:
        return stores[0]
    raise ApiError("no store is chosen outside a store-scoped request", code="store_required", status=400)


def rebuild_per_store(db, table: str, create: str, columns: str, old_key: str, own_key: str | None = None) -> None:
    """Re-create ``table`` keyed by ``id`` = ``<store>/<old key>`` (a migration to per-store rows, CDN edge mode).

    Its rows so far belong to the store ``default``. ``create`` is the new table's ``CREATE TABLE`` (with ``id``
    and ``store``), ``columns`` the columns copied as they are; ``own_key``, when given, is the new column that
    keeps the old key (``faq_id`` keeps a FAQ entry's ``id``).
    """
    kept = f"{own_key}, {columns}" if own_key else columns
    source = f"{old_key}, {columns}" if own_key else columns
    db.execute(f"ALTER TABLE [{table}] RENAME TO [_{table}_single]")
    db.execute(create)
    db.execute(f"INSERT INTO [{table}] (id, store, {kept}) SELECT '{DEFAULT_STORE}/' || {old_key}, '{DEFAULT_STORE}', "
               f"{source} FROM [_{table}_single]")
    db.execute(f"DROP TABLE [_{table}_single]")


def store_path(path: str) -> str:
    """``path`` (``/v1/...``) in the form the request named its store: prefixed, or plain on a one-store node."""
    if has_request_context() and requested_store() is not None:
        return f"{PREFIX}{current_store()}/{path.removeprefix('/v1/')}"
    return path
