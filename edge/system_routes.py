"""The node's own routes: liveness, readiness, metrics and the OpenAPI document (no key needed)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from .node import current_node
from .openapi import build_document, documented

blueprint = Blueprint("system", __name__)

_READY_SCHEMA = {"type": "object", "properties": {"ready": {"type": "boolean"}, "bundle": {"type": "object"}, "plugins": {"type": "object"}}}


@blueprint.get("/healthz")
@documented("Liveness: the process answers", auth=None, response={"type": "object", "properties": {"status": {"type": "string"}}}, tags=("system",))
def healthz():
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
@documented("Readiness: a bundle is active and every plugin is ready, with per-plugin detail", auth=None,
            response=_READY_SCHEMA, errors=(503,), tags=("system",))
def readyz():
    report = current_node().readiness()
    return jsonify(report), (200 if report["ready"] else 503)


@blueprint.get("/metrics")
@documented("Prometheus metrics (text exposition format)", auth=None, response={"type": "string"}, tags=("system",))
def metrics():
    return current_node().metrics.response()


@blueprint.get("/openapi.json")
@documented("This OpenAPI 3.1 document", auth=None, response={"type": "object"}, tags=("system",))
def openapi():
    return jsonify(build_document(current_app))
