"""API keys: ``Authorization: Bearer <key>``, compared in constant time.

The client key opens ``/v1`` plugin routes; the admin key opens bundle and sync operations (and the
plugin routes too). With no key configured the node answers only loopback clients.

Stores (CDN edge mode, :mod:`edge.stores`): a store's key (``STORE_KEYS``) opens that store's plugin
routes only; on another store it is 403 ``wrong_store``. ``CLIENT_KEY`` and ``ADMIN_KEY`` open every
store. The presented key is compared with every configured key, each in constant time, whatever
matches, so the time taken does not tell which store's key came close.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from flask import current_app, request

from .errors import Forbidden, Unauthorized

log = logging.getLogger(__name__)

CLIENT, ADMIN = "client", "admin"


def _presented_key() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if not header:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'", code="missing_key")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("malformed Authorization header: expected 'Bearer <key>'", code="malformed_key")
    return key.strip()


def _matches(presented: str, expected: str | None) -> bool:
    return bool(expected) and hmac.compare_digest(presented.encode(), expected.encode())


def is_loopback(address: str | None) -> bool:
    """True for 127.0.0.0/8 and ::1 (and for a Unix socket, which has no address)."""
    if not address:
        return True
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return address in {"localhost"}


def keys_configured(config) -> bool:
    """Whether any API key is set."""
    return bool(config.get("CLIENT_KEY") or config.get("ADMIN_KEY") or config.get("STORE_KEYS"))


def _stores_of(presented: str, store_keys: dict) -> set:
    """The stores whose key is ``presented`` (every key compared, each in constant time)."""
    return {store for store, key in sorted(store_keys.items()) if _matches(presented, key)}


def require(role: str, store: str | None = None) -> None:
    """Check the request's key for ``role`` (``client`` or ``admin``) and, for a client, ``store``; raise 401/403 otherwise."""
    config = current_app.config
    if not keys_configured(config):
        if not is_loopback(request.remote_addr):
            raise Forbidden("no API keys are configured: this node answers loopback clients only", code="loopback_only")
        return
    presented = _presented_key()
    admin_ok = _matches(presented, config.get("ADMIN_KEY"))
    if role == ADMIN:
        if not admin_ok:
            raise Forbidden("this operation needs the admin key", code="wrong_key")
        return
    client_ok = _matches(presented, config.get("CLIENT_KEY"))
    stores = _stores_of(presented, config.get("STORE_KEYS") or {})
    if admin_ok or client_ok or (store is not None and store in stores):
        return
    if stores:
        raise Forbidden("the API key does not cover this store", code="wrong_store")
    raise Forbidden("the API key is not valid for this route", code="wrong_key")


def require_admin() -> None:
    """Check that the request carries the admin key (for a plugin's admin route); 401/403 otherwise."""
    require(ADMIN)
