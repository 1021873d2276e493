"""Answers an HTTP cache may keep: a strong ``ETag``, ``Cache-Control``, ``Vary`` and ``304 Not Modified``.

The ETag of a JSON answer is a digest of its body, so it changes the moment the data behind it changes (a
sync delta, an import) and two nodes holding the same data give the same ETag: nothing has to be told to
invalidate anything. An answer is marked ``public`` so that a shared cache may keep it even though the
request carried ``Authorization``; ``Vary: Authorization`` (set for every plugin answer) keeps one entry per
key, so a key never gets an entry made for another key, and a request without a key never gets an
authenticated answer. The URL carries the store (``/v1/stores/<store>/...``), so entries never cross stores.
An answer with a ``max_age`` also says ``stale-if-error=STALE_IF_ERROR`` (a day by default; 0 leaves it out):
a cache may keep serving it, expired, while the node is down or failing (RFC 5861), never in place of a 401/403.

Conditional headers are checked before the answer is made: an ``If-None-Match`` or ``If-Match`` that is not
``*`` or a list of entity tags, or an ``If-Modified-Since`` that is not an HTTP date, is 400
``bad_conditional`` (decision: RFC 9110 lets a server ignore a bad ``If-Modified-Since``; the node tells the
app its request is wrong instead, as it does for other malformed headers).
"""

from __future__ import annotations

import hashlib
import re

from flask import Response, jsonify, request

from .errors import BadRequest

_ETAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
_ETAG_LIST = re.compile(rf"\s*(?:\*|{_ETAG}(?:\s*,\s*{_ETAG})*)\s*")
_ONE_ETAG = re.compile(_ETAG)


def check_conditionals() -> None:
    """400 ``bad_conditional`` when ``If-None-Match``, ``If-Match`` or ``If-Modified-Since`` does not parse."""
    from werkzeug.http import parse_date

    for name in ("If-None-Match", "If-Match"):
        value = request.headers.get(name)
        if value is not None and not _ETAG_LIST.fullmatch(value):
            raise BadRequest(f"{name} must be '*' or a list of quoted entity tags", code="bad_conditional")
    since = request.headers.get("If-Modified-Since")
    if since is not None and parse_date(since) is None:
        raise BadRequest("If-Modified-Since must be an HTTP date", code="bad_conditional")


def etag_of(data: bytes) -> str:
    """A strong entity tag (quoted) naming ``data``."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def _matches(etag: str) -> bool:
    value = request.headers.get("If-None-Match")
    if value is None:
        return False
    if value.strip() == "*":
        return True
    bare = etag.strip('"')
    return any(tag.removeprefix("W/").strip('"') == bare for tag in _ONE_ETAG.findall(value))


def _control(max_age: int) -> str:
    from flask import current_app

    stale = int(current_app.config.get("STALE_IF_ERROR") or 0)
    return f"public, max-age={max_age}" + (f", stale-if-error={stale}" if stale > 0 and max_age > 0 else "")


def cacheable(answer, max_age: int | None = None, cache_control: str | None = None, etag: str | None = None) -> Response:
    """``answer`` (a JSON-able payload or a ``Response``) with ``ETag``, ``Cache-Control: public, max-age, stale-if-error`` and
    ``Vary: Authorization``; ``304`` without a body when ``If-None-Match`` names its ETag.

    :param max_age: seconds a cache may keep it (``cache_control`` overrides the whole header).
    :param etag: the entity tag when it is known without the body (a content digest); else the body's digest.
    """
    check_conditionals()
    response = answer if isinstance(answer, Response) else jsonify(answer)
    tag = etag or etag_of(response.get_data())
    control = cache_control or _control(int(max_age or 0))
    if request.method in ("GET", "HEAD") and _matches(tag):
        response.close()
        response = Response(status=304)
    response.headers["ETag"] = tag
    response.headers["Cache-Control"] = control
    response.vary.add("Authorization")
    return response
