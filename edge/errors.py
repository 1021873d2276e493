"""JSON errors: exceptions carry their HTTP status; one handler turns them into responses.

Every error body has the shape ``{"error": {"code": ..., "message": ..., "details": ...}}``. A message
never shows a path of the server: a path inside the data folder is shortened to its file name.
A body that breaks HTTP framing while the app reads it (a chunk size of ``zz``, a chunk that does not
end where it says) is 400 ``malformed_body``; gunicorn closes that connection.
"""

from __future__ import annotations

import logging
import re

from flask import Flask, current_app, has_app_context, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with an HTTP status, a machine-readable code and a message for people."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, details=None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.details = details
        self.status = status or self.status


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class Unprocessable(ApiError):
    status, code = 422, "unprocessable"


class ServiceUnavailable(ApiError):
    status, code = 503, "not_ready"


def without_server_paths(message: str) -> str:
    """``message`` with every path inside the data folder shortened to its file name: an error never
    shows where the node keeps its files."""
    data_dir = current_app.config.get("DATA_DIR") if has_app_context() else None
    if not data_dir or not isinstance(message, str) or data_dir not in message:
        return message
    shorten = (lambda m: "<data dir>" if m.group(0).rstrip("/") == data_dir else m.group(0).rstrip("/").rsplit("/", 1)[-1])
    return re.sub(re.escape(data_dir) + r"[^\s'\":,;]*", shorten, message)


def error_response(status: int, code: str, message: str, details=None):
    """Build the JSON error response every route and handler uses."""
    message = without_server_paths(message)
    response = jsonify({"error": {"code": code, "message": message, "details": details}})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="storefront-edge"'
    return response


def _code_for(exc: HTTPException) -> str:
    return (exc.name or "error").lower().replace(" ", "_").replace("'", "")


def init_app(app: Flask) -> None:
    """Register the JSON error handlers on ``app``."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        message = exc.description or exc.name
        if exc.code == 413:
            limit = request.max_content_length or app.config.get("MAX_CONTENT_LENGTH")
            message = f"request body is larger than the limit of {limit} bytes"
        return error_response(exc.code or 500, _code_for(exc), message)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if type(exc).__module__ == "gunicorn.http.errors":  # the body broke HTTP framing while it was read
            return error_response(400, "malformed_body", f"the request body is malformed: {type(exc).__name__}")
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal server error")
