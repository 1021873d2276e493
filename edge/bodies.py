"""Request bodies: JSON with the right media type, and validation through pydantic models."""

from __future__ import annotations

import json

from flask import request
from pydantic import BaseModel, ValidationError

from .errors import BadRequest, Unprocessable, UnsupportedMediaType


def json_body(required: bool = True):
    """Return the parsed JSON body; 415 for another media type, 400 for malformed JSON."""
    if not request.content_length and not required and not request.data:
        return {}
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(
            f"expected 'application/json', got '{request.mimetype or 'nothing'}'",
            details={"accepted": ["application/json"]},
        )
    raw = request.get_data(cache=True)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"malformed JSON: {exc}", code="malformed_json") from None


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
