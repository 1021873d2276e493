"""Reading a visual search request: the image (multipart ``image`` part or a raw image body), the
text query, ``k`` and filters (form fields, query arguments, or a JSON body for text-only search)."""

from __future__ import annotations

from flask import request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from edge.api import MAX_PRICE, BadRequest, UnsupportedMediaType, json_body, read_body, validated

IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp")
BODY_TYPES = (*IMAGE_TYPES, "multipart/form-data", "application/x-www-form-urlencoded", "application/json")


class SearchParams(BaseModel):
    """Everything but the image."""

    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(None, max_length=500, description="Text matched against titles and descriptions (BM25).")
    k: int | None = Field(None, ge=1, le=100, description="How many results (default: the plugin's default_k).")
    category: str | None = Field(None, max_length=200)
    min_price: float | None = Field(None, ge=0, le=MAX_PRICE, allow_inf_nan=False)
    max_price: float | None = Field(None, ge=0, le=MAX_PRICE, allow_inf_nan=False)
    in_stock: bool | None = None

    @model_validator(mode="after")
    def _price_range(self):
        if self.min_price is not None and self.max_price is not None and self.min_price > self.max_price:
            raise ValueError("min_price is larger than max_price")
        return self


def _fields(extra: dict) -> dict:
    merged = {**request.args.to_dict(), **extra}
    return {k: v for k, v in merged.items() if not (isinstance(v, str) and not v.strip())}


def _from_body() -> tuple[bytes | None, dict]:
    mimetype = request.mimetype
    if mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        upload = request.files.get("image")
        if upload is None and "image" in request.form:
            raise BadRequest("send the image as a multipart file part named 'image'", code="image_not_a_file")
        return (upload.read() if upload is not None else None), request.form.to_dict()
    if mimetype in IMAGE_TYPES:
        return read_body(), {}
    if mimetype == "application/json":
        body = json_body()
        if not isinstance(body, dict):
            raise BadRequest("the JSON body must be an object", code="malformed_json")
        return None, body
    if not mimetype and not request.content_length:
        return None, {}
    raise UnsupportedMediaType(f"send an image as {', '.join(IMAGE_TYPES)} or multipart/form-data, or a text "
                               f"query as a form or application/json; got '{mimetype or 'nothing'}'",
                               details={"accepted": list(BODY_TYPES)})


def read_request() -> tuple[bytes | None, SearchParams]:
    """``(image bytes or None, params)``; 400/415/422 for what does not fit."""
    image, extra = _from_body()
    params = validated(SearchParams, _fields(extra))
    if image is None and not (params.q and params.q.strip()):
        raise BadRequest("send an image, a text query 'q', or both", code="nothing_to_search")
    return image, params
