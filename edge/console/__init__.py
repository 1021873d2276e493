"""The kiosk console: the node's own web page at ``/`` and its assets under ``/console/``.

The page is static (HTML, ES modules, CSS, one JSON string catalogue per language) and talks to the node
only through the public ``/v1`` API, ``/readyz`` and ``/metrics``, with the key the person types in (kept
in the browser's session storage, never written into the page). A Content-Security-Policy that allows
nothing but this node (``'self'``) makes the "no request to another host" rule hold in the browser too.

Decision: the console is part of the node, not a plugin: it must show which plugins are loaded, including
when none is. Each plugin's panel is a module under ``static/js/panels/`` that declares the plugins it
needs; the page mounts it only when ``/readyz`` lists them (see ``static/js/panels/index.js``).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, send_from_directory

from ..openapi import documented

STATIC = Path(__file__).resolve().parent / "static"
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' blob: data:",
    "media-src 'self' blob: mediastream:", "connect-src 'self'", "manifest-src 'self'",
    "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
))
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(self), microphone=(self), geolocation=()",
}

blueprint = Blueprint("console", __name__)


@blueprint.after_request
def _security_headers(response):
    response.headers.update(HEADERS)
    return response


@blueprint.get("/")
@documented("The kiosk console (an HTML page using the /v1 API with the key typed into it)", auth=None,
            response={"type": "string", "description": "text/html"}, tags=("console",))
def index():
    """The page itself (no key in it: the browser asks for one when the node first refuses)."""
    return send_from_directory(STATIC, "index.html", max_age=0)


@blueprint.get("/console/<path:filename>")
@documented("The console's static files: scripts, styles and string catalogues", auth=None,
            response={"type": "string"}, errors=(404,), tags=("console",))
def asset(filename: str):
    """One file under ``static/``; ``send_from_directory`` answers 404 for anything outside it."""
    return send_from_directory(STATIC, filename, max_age=0)
