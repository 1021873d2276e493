"""``GET /v1/admin/sync/status`` (admin key): the node's sync status, read-only, for the staff console."""

from __future__ import annotations

from flask import Blueprint, jsonify
from pydantic import BaseModel

from . import auth
from .node import current_node
from .openapi import documented

blueprint = Blueprint("sync_admin", __name__, url_prefix="/v1/admin/sync")


class SyncStatus(BaseModel):
    origin: str | None
    epoch: str | None
    pending_changes: int
    acked_seq: int
    last_seq: int
    hub_cursor: int
    capturing: bool
    hub_url: str | None
    joined: bool
    lag_seconds: float | None
    last_round: dict


@blueprint.before_request
def _admin_only():
    auth.require(auth.ADMIN)


@blueprint.get("/status")
@documented("Sync status: pending changes, cursors, the last round and the lag since its last success",
            auth="admin", response=SyncStatus, tags=("admin",))
def sync_status():
    """The report of :func:`edge.sync.report.status_report` as JSON."""
    from .sync.report import status_report

    return jsonify(status_report(current_node()))
