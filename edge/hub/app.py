"""The hub's Flask app factory: ``create_hub_app(config)``; gunicorn serves it (``storefront-edge hub serve``).

Nodes authenticate with ``Authorization: Bearer <node>.<secret>`` (issued once by ``hub register-node``,
stored hashed, compared in constant time) and act only for the stores the operator granted them (``X-Stores``
within the grant, see :mod:`edge.hub.base`); admins with the hub's ``ADMIN_KEY`` (loopback only when unset).
Deltas travel as ``application/zstd`` bodies; routes, media type and headers come from :mod:`edge.sync.protocol`.
A pull names the delta formats the edge reads (``X-Delta-Formats``); the hub answers in the newest it writes,
format ``/2`` to an edge that names none (406 ``unsupported_format`` when it writes none of them).
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, current_app, g, jsonify, request, send_file
from pydantic import BaseModel

from edge import auth, errors
from edge.bodies import json_body, validated
from edge.errors import Unprocessable
from edge.openapi import build_document, documented
from edge.sync import protocol
from edge.sync.protocol import ROUTES

from .base import HubStore, acting_stores, checked_stores, parse_versions

DEFAULTS = {"DATA_DIR": "./var/hub", "DATABASE_URL": None, "ADMIN_KEY": None, "PLUGINS": None, "EXTRA_PLUGINS": (),
            "MAX_CONTENT_LENGTH": 256 * 1024 * 1024, "LOOPBACK_ONLY_WITHOUT_KEYS": True}
MAX_INT = (1 << 63) - 1


class RegisterNode(BaseModel):
    name: str
    group: str
    stores: list[str] | None = None  # the stores the node may sync (default: the store ``default``)


class GrantStores(BaseModel):
    stores: list[str]


def hub_store() -> HubStore:
    """The app's hub store (SQLite or PostgreSQL; connections are per thread)."""
    return current_app.extensions["storefront_edge_hub"]["store"]


def _node() -> dict:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.Unauthorized("missing node token: send 'Authorization: Bearer <token>'", code="missing_token")
    store = hub_store()
    node = store.authenticate(token.strip())
    g.hub_stores = acting_stores(node, request.headers.get(protocol.STORES_HEADER))
    store.touch(node["name"], request.headers.get(protocol.BUNDLE_HEADER),
                bundle_versions=parse_versions(request.headers.get(protocol.BUNDLES_HEADER)), stores=g.hub_stores)
    return node


def _int_arg(name: str, default: int | None) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw) if len(raw) <= 20 else None
    except ValueError:
        value = None
    if value is None or not 0 <= value <= MAX_INT:
        raise Unprocessable(f"'{name}' must be an integer from 0 to {MAX_INT}", code="invalid_request")
    return value


def _pull_request() -> protocol.PullRequest:
    """The edge's pull: its cursor, the mark of the last hub change it applied, the newest format it reads."""
    accepted = request.headers.get(protocol.FORMATS_HEADER)
    chosen = protocol.chosen_format(accepted)
    if chosen is None:
        raise errors.ApiError(f"this hub writes delta formats {', '.join(protocol.WRITES)}; the edge reads {accepted}",
                              code="unsupported_format", status=406)
    return protocol.PullRequest(_int_arg("since", 0), request.args.get("epoch") or None, _int_arg("mark_seq", None),
                                _int_arg("mark_hlc", None), chosen, tuple(g.hub_stores))


PUBLISH_TYPES = {"application/x-ndjson": "jsonl", "application/jsonl": "jsonl", "text/csv": "csv"}
PUBLISH_BODY = {"type": "object", "description": "application/json {\"upsert\": [rows], \"delete\": [keys]}; or the rows "
                "as text/csv or application/x-ndjson (JSON lines), a record with _op 'delete' deleting its key",
                "properties": {"upsert": {"type": "array", "items": {"type": "object"}}, "delete": {"type": "array"}}}


def _publication(store: HubStore, table: str):
    """The checked publication in the request body (JSON object, CSV or JSON lines)."""
    from .publish import publication_from_json, publication_from_text, schema_for

    schema_for(store.schemas, table)
    if request.mimetype in PUBLISH_TYPES:
        try:
            text = request.get_data(cache=False).decode("utf-8")
        except UnicodeDecodeError:
            raise errors.BadRequest("the body is not UTF-8 text", code="bad_encoding") from None
        return publication_from_text(store.schemas, table, text, PUBLISH_TYPES[request.mimetype])
    if request.mimetype != "application/json":
        raise errors.UnsupportedMediaType(f"send application/json, text/csv or application/x-ndjson, not '{request.mimetype or 'nothing'}'")
    return publication_from_json(store.schemas, table, json_body())


def _register_sync_routes(app: Flask) -> None:
    @app.get(ROUTES["cursor"])
    @documented("What the hub has applied from the calling node, and the delta formats it reads", auth="node", tags=("sync",))
    def cursor():
        return jsonify({**hub_store().cursor_of(_node()["name"]), "reads": list(protocol.READS)})

    @app.post(ROUTES["push"])
    @documented("Push an edge delta (zstd-compressed SQLite file)", auth="node", request={"type": "string", "format": "binary"},
                request_media=protocol.MEDIA_TYPE, errors=(400, 403, 409, 413, 415, 422), tags=("sync",))
    def push():
        node = _node()
        if request.mimetype not in protocol.MEDIA_TYPES:
            raise errors.UnsupportedMediaType(f"expected {protocol.MEDIA_TYPE}, got '{request.mimetype or 'nothing'}'")
        return jsonify(hub_store().push(request.get_data(cache=False), node["name"], g.hub_stores))

    @app.get(ROUTES["pull"])
    @documented("Pull hub changes after a cursor (204 when up to date)", auth="node",
                response={"type": "string", "format": "binary"}, errors=(406, 422), tags=("sync",))
    def pull():
        node = _node()
        wanted, store = _pull_request(), hub_store()
        store.touch(node["name"], pulled_seq=wanted.since)
        data = store.pull(node["name"], wanted)
        return Response(status=204) if data is None else Response(data, mimetype=protocol.MEDIA_TYPE)

    @app.get(ROUTES["rollout"])
    @documented("The bundles targeted at the calling node's group, one per bundle name", auth="node", tags=("bundles",))
    def rollout():
        node = _node()
        return jsonify(hub_store().rollout_for(node["grp"]))

    @app.get(ROUTES["bundle"])
    @documented("Download a bundle archive by its sha256", auth="node", response={"type": "string", "format": "binary"},
                errors=(404,), tags=("bundles",))
    def bundle(digest):
        _node()
        return send_file(hub_store().bundle_path(digest), mimetype="application/gzip")


def _register_admin_routes(app: Flask) -> None:
    @app.post("/v1/hub/nodes")
    @documented("Register a node; its token is shown once", auth="admin", request=RegisterNode, status=201,
                errors=(409, 415, 422), tags=("admin",))
    def register():
        auth.require(auth.ADMIN)
        body = validated(RegisterNode, json_body())
        token = hub_store().register_node(body.name, body.group, body.stores)
        return jsonify({"name": body.name, "group": body.group, "stores": checked_stores(body.stores), "token": token}), 201

    @app.put("/v1/hub/nodes/<name>/stores")
    @documented("Replace the stores a node may sync (its X-Stores must stay within them)", auth="admin",
                request=GrantStores, errors=(404, 415, 422), tags=("admin",))
    def grant(name):
        auth.require(auth.ADMIN)
        body = validated(GrantStores, json_body())
        return jsonify({"name": name, "stores": hub_store().grant_stores(name, body.stores)})

    @app.post("/v1/hub/tables/<table>/publish")
    @documented("Publish rows of a hub-owned table (upserts and deletes) to every edge; every bad row is reported",
                auth="admin", request=PUBLISH_BODY, request_media="application/json", status=200,
                errors=(400, 404, 413, 415, 422), tags=("admin",))
    def publish(table):
        auth.require(auth.ADMIN)
        store = hub_store()
        return jsonify(store.publish(table, _publication(store, table)))

    @app.get("/v1/hub/status")
    @documented("The hub's sync state and notices (a restore from a backup); per node: last seen, cursor lag, its "
                "version of every bundle name, its group's targets", auth="admin", tags=("admin",))
    def status():
        auth.require(auth.ADMIN)
        return jsonify({"hub": hub_store().hub_state(), "nodes": hub_store().status()})

    @app.get("/healthz")
    @documented("Liveness", auth=None)
    def healthz():
        return jsonify({"status": "ok"})

    @app.get("/openapi.json")
    @documented("This document", auth=None)
    def openapi():
        return jsonify(build_document(app))


def create_hub_app(config: dict | None = None) -> Flask:
    """Build the hub app; ``config`` overrides the defaults (``DATA_DIR``, ``DATABASE_URL``, ``ADMIN_KEY`` ...).

    ``DATABASE_URL`` (env ``STOREFRONT_EDGE_HUB_DATABASE_URL``) selects PostgreSQL; without it the hub keeps
    ``<DATA_DIR>/hub.db``.
    """
    from edge.config import HUB_ENV_PREFIX, load_settings

    from .backends import open_store

    app = Flask("edge.hub")
    app.config.update(load_settings(HUB_ENV_PREFIX, DEFAULTS, config))
    errors.init_app(app)
    store = open_store(Path(app.config["DATA_DIR"]), app.config["DATABASE_URL"], app.config["PLUGINS"], app.config["EXTRA_PLUGINS"])
    app.extensions["storefront_edge_hub"] = {"store": store, "tables": store.tables}
    _register_sync_routes(app)
    _register_admin_routes(app)
    return app
