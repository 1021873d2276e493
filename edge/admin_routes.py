"""Bundle operations over HTTP for admins (the admin key): list, install (upload), activate, roll back — per bundle name.

The one-name forms (``/bundles/<version>/activate``, ``/bundles/rollback``) stay: they act on the only
name that fits and answer 422 ``name_required`` when several do.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from flask import Blueprint, current_app, jsonify, request
from pydantic import BaseModel

from . import auth
from .bodies import json_body, validated
from .bundles.manifest import check_version
from .errors import UnsupportedMediaType
from .node import current_node
from .openapi import documented

blueprint = Blueprint("admin", __name__, url_prefix="/v1/admin")
ARCHIVE_TYPES = {"application/gzip", "application/x-gzip", "application/x-tar+gzip", "application/octet-stream"}


class ActivateRequest(BaseModel):
    allow_downgrade: bool = True


class BundleSummary(BaseModel):
    name: str
    version: str
    created: str
    active: bool
    models: list[str]


class BundleList(BaseModel):
    active: dict[str, str]
    history: dict[str, list[str]]
    bundles: list[BundleSummary]


@blueprint.before_request
def _admin_only():
    auth.require(auth.ADMIN)


def _installed_plugins(node) -> set:
    return {p.name for p in node.plugins.usable()}


@blueprint.get("/bundles")
@documented("List installed bundles and the active one", auth="admin", response=BundleList, tags=("admin",))
def list_bundles():
    return jsonify(current_node().registry.listing())


@blueprint.post("/bundles")
@documented("Install a signed bundle (.tar.gz body); activates it unless ?activate=false", auth="admin",
            request={"type": "string", "format": "binary"}, request_media="application/gzip", response=BundleList,
            status=201, errors=(400, 409, 413, 415, 422), tags=("admin",))
def install_bundle():
    if request.mimetype not in ARCHIVE_TYPES:
        raise UnsupportedMediaType(f"send the bundle as application/gzip, not '{request.mimetype or 'nothing'}'")
    request.max_content_length = current_app.config["MAX_BUNDLE_BYTES"]
    node = current_node()
    upload_dir = Path(tempfile.mkdtemp(prefix=".upload-", dir=node.data_dir))
    try:
        archive = upload_dir / "bundle.tar.gz"
        with open(archive, "wb") as out:
            shutil.copyfileobj(request.stream, out, 1 << 20)
        node.registry.install(
            archive, allow_downgrade=request.args.get("allow_downgrade") == "true",
            activate=request.args.get("activate", "true") != "false", available_plugins=_installed_plugins(node),
        )
    finally:
        shutil.rmtree(upload_dir, ignore_errors=True)
    node.watcher.refresh()
    return jsonify(node.registry.listing()), 201


def _activate(name: str | None, version: str):
    check_version(version)
    body = validated(ActivateRequest, json_body(required=False))
    node = current_node()
    node.registry.activate(name, version, allow_downgrade=body.allow_downgrade)
    node.watcher.refresh()
    return jsonify(node.registry.listing())


def _rollback(name: str | None):
    node = current_node()
    node.registry.rollback(name)
    node.watcher.refresh()
    return jsonify(node.registry.listing())


@blueprint.post("/bundles/<name>/<version>/activate")
@documented("Activate an installed version of bundle NAME (the other names stay as they are)", auth="admin",
            request=ActivateRequest, response=BundleList, errors=(400, 404, 409, 415, 422), tags=("admin",))
def activate_named_bundle(name: str, version: str):
    return _activate(name, version)


@blueprint.post("/bundles/<version>/activate")
@documented("Activate an installed bundle version (when only one bundle name has it)", auth="admin",
            request=ActivateRequest, response=BundleList, errors=(400, 404, 409, 415, 422), tags=("admin",))
def activate_bundle(version: str):
    return _activate(None, version)


@blueprint.post("/bundles/<name>/rollback")
@documented("Roll bundle NAME back to its previously active version", auth="admin", response=BundleList,
            errors=(400, 404, 409), tags=("admin",))
def rollback_named_bundle(name: str):
    return _rollback(name)


@blueprint.post("/bundles/rollback")
@documented("Roll back the only active bundle name to its previous version", auth="admin", response=BundleList,
            errors=(409, 422), tags=("admin",))
def rollback_bundle():
    return _rollback(None)
