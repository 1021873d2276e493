"""The hub's Flask app factory: ``create_hub_app(config)``; gunicorn serves it (``storefront-edge hub serve``).

Nodes authenticate with ``Authorization: Bearer <node>.<secret>`` (issued once by ``hub register-node``,
stored hashed, compared in constant time); admins with the hub's ``ADMIN_KEY`` (loopback only when unset).
Deltas travel as ``application/zstd`` bodies.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, current_app, jsonify, request, send_file
from pydantic import BaseModel

from edge import auth, errors
from edge.bodies import json_body, validated
from edge.errors import Unprocessable
from edge.openapi import build_document, documented

from .base import HubStore, parse_versions

DEFAULTS = {"DATA_DIR": "./var/hub", "DATABASE_URL": None, "ADMIN_KEY": None, "PLUGINS": None, "EXTRA_PLUGINS": (),
            "MAX_CONTENT_LENGTH": 256 * 1024 * 1024, "LOOPBACK_ONLY_WITHOUT_KEYS": True}
DELTA_TYPES = {"application/zstd", "application/octet-stream"}


class RegisterNode(BaseModel):
    name: str
    group: str


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
    store.touch(node["name"], request.headers.get("X-Bundle-Version"),
                bundle_versions=parse_versions(request.headers.get("X-Bundle-Versions")))
    return node


def _workdir() -> Path:
    folder = Path(current_app.config["DATA_DIR"]) / "run"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _int_arg(name: str, default: int) -> int:
    try:
        value = int(request.args.get(name, default))
    except ValueError:
        raise Unprocessable(f"'{name}' must be an integer", code="invalid_request") from None
    if not 0 <= value <= 2 ** 63 - 1:
        raise Unprocessable(f"'{name}' must be an integer from 0 to 2**63-1", code="invalid_request")
    return value


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
    try:
        body = json_body()
    except RecursionError:  # nested thousands deep: refused, never a 500
        raise errors.BadRequest("malformed JSON: nested too deeply", code="malformed_json") from None
    return publication_from_json(store.schemas, table, body)


def _register_sync_routes(app: Flask) -> None:
    @app.get("/v1/hub/sync/cursor")
    @documented("What the hub has applied from the calling node", auth="node", tags=("sync",))
    def cursor():
        return jsonify(hub_store().cursor_of(_node()["name"]))

    @app.post("/v1/hub/sync/push")
    @documented("Push an edge delta (zstd-compressed SQLite file)", auth="node", request={"type": "string", "format": "binary"},
                request_media="application/zstd", errors=(400, 409, 413, 415, 422), tags=("sync",))
    def push():
        node = _node()
        if request.mimetype not in DELTA_TYPES:
            raise errors.UnsupportedMediaType(f"expected application/zstd, got '{request.mimetype or 'nothing'}'")
        return jsonify(hub_store().push(request.get_data(cache=False), node["name"], _workdir()))

    @app.get("/v1/hub/sync/pull")
    @documented("Pull hub changes after a cursor (204 when up to date)", auth="node",
                response={"type": "string", "format": "binary"}, errors=(422,), tags=("sync",))
    def pull():
        node = _node()
        since, epoch = _int_arg("since", 0), request.args.get("epoch") or None
        store = hub_store()
        store.touch(node["name"], pulled_seq=since)
        data = store.pull(since, epoch, _workdir())
        return Response(status=204) if data is None else Response(data, mimetype="application/zstd")

    @app.get("/v1/hub/rollout")
    @documented("The bundles targeted at the calling node's group, one per bundle name", auth="node", tags=("bundles",))
    def rollout():
        node = _node()
        return jsonify(hub_store().rollout_for(node["grp"]))

    @app.get("/v1/hub/bundles/<digest>")
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
        token = hub_store().register_node(body.name, body.group)
        return jsonify({"name": body.name, "group": body.group, "token": token}), 201

    @app.post("/v1/hub/tables/<table>/publish")
    @documented("Publish rows of a hub-owned table (upserts and deletes) to every edge; every bad row is reported",
                auth="admin", request=PUBLISH_BODY, request_media="application/json", status=200,
                errors=(400, 404, 413, 415, 422), tags=("admin",))
    def publish(table):
        auth.require(auth.ADMIN)
        store = hub_store()
        return jsonify(store.publish(table, _publication(store, table)))

    @app.get("/v1/hub/status")
    @documented("Per node: last seen, cursor lag, its version of every bundle name, its group's targets", auth="admin",
                tags=("admin",))
    def status():
        auth.require(auth.ADMIN)
        return jsonify({"nodes": hub_store().status()})

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
