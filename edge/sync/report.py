"""What a technician asks about sync, in one JSON object: the store's side (pending changes, cursors) and
the last round's outcome, with the lag since the last successful round, and the newest notices (a hub
restored from a backup).

Both ``storefront-edge sync status`` and ``GET /v1/admin/sync/status`` answer with it.
"""

from __future__ import annotations

import time


NOT_CAPTURING = {"origin": None, "epoch": None, "pending_changes": 0, "retained_changes": 0, "acked_seq": 0, "last_seq": 0,
                 "hub_cursor": 0}


def status_report(node, now: float | None = None) -> dict:
    """The sync status of ``node``; ``lag_seconds`` is ``None`` before the first successful round.

    ``capturing`` is false on a store whose change capture was never set up (no plugin with events
    loaded yet): nothing is pending there.
    """
    from ..hub.base import redact
    from .worker import local_status, read_status

    db = node.db()
    capturing = db["_sync_state"].exists()
    last_round = read_status(node.data_dir)
    success = last_round.get("last_success")
    lag = None if success is None else round(max(0.0, (now or time.time()) - success), 3)
    hub_url = node.config.get("HUB_URL")
    return {**(local_status(db) if capturing else NOT_CAPTURING), "capturing": capturing, "hub_url": redact(hub_url),
            "joined": bool(hub_url), "lag_seconds": lag, "notices": last_round.get("last_notices"), "last_round": last_round}
