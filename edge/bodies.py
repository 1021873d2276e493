"""Request bodies: JSON with the right media type and within limits, and validation through pydantic models.

Every JSON body goes through :func:`edge.jsonlimits.loads`: at most ``MAX_JSON_BYTES`` (413
``request_entity_too_large``), nested at most ``MAX_JSON_DEPTH`` deep (400 ``too_deep``), no ``NaN``/``Infinity``,
no integer outside 64 bits, no lone surrogate (400). A chunked body is read up to its limit and refused
with 413 beyond it, never cut and parsed.
"""

from __future__ import annotations

from flask import current_app, request
from pydantic import BaseModel, ValidationError

from .errors import BadRequest, PayloadTooLarge, Unprocessable, UnsupportedMediaType
from .jsonlimits import MAX_DEPTH, JsonRefused, loads

MAX_JSON_BYTES = 1024 * 1024
SQLITE_INT_MAX = 2 ** 63 - 1  # the bound of every integer query parameter that reaches SQL
MAX_PRICE = 1e12  # the bound of every price filter (finite: NaN and infinity are refused)
CHUNK = 64 * 1024


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body is larger than the limit of {limit} bytes", code="request_entity_too_large",
                           details={"limit": limit})


def read_body(limit: int | None = None) -> bytes:
    """The whole request body, at most ``limit`` bytes (default: the request's limit); 413 beyond it.

    A declared ``Content-Length`` over the limit is refused before a byte is read; a chunked body
    is counted while it is read.
    """
    limit = limit if limit is not None else (request.max_content_length or current_app.config["MAX_CONTENT_LENGTH"])
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    chunks, total = [], 0
    while chunk := request.stream.read(CHUNK):
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def json_body(required: bool = True):
    """Return the parsed JSON body; 415 for another media type, 400 for malformed JSON, 413 when too large."""
    if not request.content_length and not required and request.headers.get("Transfer-Encoding") is None:
        return {}
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(
            f"expected 'application/json', got '{request.mimetype or 'nothing'}'",
            details={"accepted": ["application/json"]},
        )
    config = current_app.config
    limit = min(config.get("MAX_JSON_BYTES", MAX_JSON_BYTES), request.max_content_length or config["MAX_CONTENT_LENGTH"])
    raw = read_body(limit)
    if not raw and not required:
        return {}
    try:
        return loads(raw, max_bytes=limit, max_depth=config.get("MAX_JSON_DEPTH", MAX_DEPTH))
    except JsonRefused as exc:
        if exc.code == "too_large":
            raise _too_large(limit) from None
        raise BadRequest(str(exc), code="malformed_json" if exc.code == "malformed_json" else exc.code) from None


def validated(model: type[BaseModel], data) -> BaseModel:
    """Validate ``data`` with ``model``; 422 listing every problem when it does not fit."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(p) for p in err["loc"]), "problem": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise Unprocessable("the request does not fit the schema", code="invalid_request", details=problems) from None
