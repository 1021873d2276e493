"""``POST /v1/visual-search``: find catalog items by photo, by text, or by both fused."""

from __future__ import annotations

import time

from flask import Blueprint, jsonify
from pydantic import BaseModel, Field

from edge.api import ModelError, ServiceUnavailable, current_node, current_store, documented

from . import search
from .embeddings import embed
from .imaging import decode, to_input
from .params import SearchParams, read_request

def request_doc() -> dict:
    """The request body's description for the OpenAPI document."""
    return {
        "type": "object",
        "description": "multipart/form-data with a file part 'image' and optional fields q, k, category, min_price, "
                       "max_price, in_stock; or a raw image/jpeg, image/png or image/webp body with those as query "
                       "arguments; or a form or application/json {q, k, filters} for text-only search.",
        "properties": {"image": {"type": "string", "format": "binary"}, **SearchParams.model_json_schema()["properties"]},
    }


class ResultItem(BaseModel):
    sku: str
    title: str
    price: float
    currency: str
    image_url: str | None = Field(description="For a photo match: the SKU's catalog photo nearest to the query photo; "
                                              "otherwise its first photo.")
    score: float = Field(description="Photo only: cosine similarity to the mean of the SKU's catalog photos (-1..1). "
                                     "Text only: negated BM25. Photo and text: reciprocal rank fusion score.")


class Timings(BaseModel):
    decode: float
    model: float
    index: float
    total: float


class SearchResponse(BaseModel):
    items: list[ResultItem]
    timings_ms: Timings
    bundle: str


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _image_ranking(conn, index, image: bytes, filters, want: int, config, timings: dict) -> tuple[list, object]:
    started = time.perf_counter()
    pixels = to_input(decode(image, config.max_pixels, index.recipe.resize), index.recipe)
    decoded = time.perf_counter()
    try:
        vector = embed(index.model, pixels)[0]
    except ModelError as exc:  # a bundle whose preprocess does not fit its model: the node's fault, not the client's
        raise ServiceUnavailable(f"the image model cannot run: {exc}", code="model_failed") from None
    embedded = time.perf_counter()
    ranked = search.image_ranking(conn, index, vector, filters, want, config)
    timings.update(decode=_ms(decoded - started), model=_ms(embedded - decoded), index=_ms(time.perf_counter() - embedded))
    return ranked, vector


def run_search(conn, index, image: bytes | None, params: SearchParams, config) -> tuple[list[dict], dict]:
    """The result items and the decode/model/index timings of one request."""
    k = params.k or config.default_k
    filters = search.Filters(params.category, params.min_price, params.max_price, params.in_stock, store=current_store())
    timings = {"decode": 0.0, "model": 0.0, "index": 0.0}
    want = config.candidates if params.q else k
    by_image, vector = _image_ranking(conn, index, image, filters, want, config, timings) if image is not None else ([], None)
    started = time.perf_counter()
    by_text = search.text_ranking(conn, params.q, filters, want) if params.q else []
    if by_image and by_text:
        ranked = search.fuse([[s for s, _ in by_image], [s for s, _ in by_text]], config.rrf_k)[:k]
    else:
        ranked = (by_image or by_text)[:k]
    from_image = {sku for sku, _ in by_image}
    rows = search.rows_for(conn, [s for s, _ in ranked], search.Filters(store=current_store()))
    shown = index.best_images(vector, [s for s, _ in ranked if s in from_image])
    media_dir = current_node().data_dir / "media" / "catalog"
    items = [search.result_item(rows[s], score, shown.get(s), media_dir) for s, score in ranked if s in rows]
    timings["index"] = round(timings["index"] + _ms(time.perf_counter() - started), 3)
    return items, timings


def make_blueprint(indexer_for) -> Blueprint:
    """A fresh Blueprint; ``indexer_for(node)`` gives the worker's indexer."""
    bp = Blueprint("visual_search", __name__, url_prefix="/v1/visual-search")

    @bp.post("")
    @documented("Find catalog items by photo, text or both (reciprocal rank fusion), with filters",
                request=request_doc(), request_media="multipart/form-data", response=SearchResponse,
                errors=(400, 413, 415, 422, 503), tags=("visual_search",))
    def visual_search():
        started = time.perf_counter()
        node = current_node()
        index = indexer_for(node).for_store(current_store()).serving()
        if index is None:
            raise ServiceUnavailable("the catalog index has not been built yet", code="index_not_ready")
        image, params = read_request()
        items, timings = run_search(node.db().conn, index, image, params, node.plugin_config("visual_search"))
        timings["total"] = _ms(time.perf_counter() - started)
        answer = jsonify({"items": items, "timings_ms": timings, "bundle": index.bundle.version})
        answer.headers["Cache-Control"] = "no-store"  # the answer depends on the photo in the request
        return answer

    return bp
