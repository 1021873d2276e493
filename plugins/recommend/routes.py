"""``GET /v1/recommendations?session_id=&sku=&k=`` and ``POST /v1/recommendations`` (client key).

Either names a session (its views, clicks and carts posted to ``POST /v1/events``), an anchor ``sku``
(the product on screen), or, with POST, the session's recent SKUs when the app keeps them itself. Any
of them may be unknown to the node: the answer falls back on content neighbours and what is popular.
"""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from edge.api import Unprocessable, current_node, current_store, documented, json_body, node_origin, validated

SKU = r"^[^\x00-\x1f]{1,128}$"
Reason = Literal["co-visited", "similar", "sequence", "popular", "new item"]


class RecommendQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    session_id: str | None = Field(None, pattern=SKU, description="The shopper's session")
    sku: str | None = Field(None, pattern=SKU, description="The product on screen (left out of the results)")
    k: int = Field(10, ge=1, le=100, description="How many results (at most the plugin's max_k)")


class RecommendRequest(RecommendQuery):
    skus: list[str] = Field(default_factory=list, max_length=50,
                            description="The session's recent SKUs, oldest first (beside what the node saw of it)")


class Recommendation(BaseModel):
    sku: str
    score: float
    reason: Reason
    title: str
    price: float | None = None
    currency: str | None = None
    category: str | None = None
    image_url: str | None = None


class Recommendations(BaseModel):
    session_id: str | None
    sku: str | None
    k: int
    bundle: str | None = Field(description="The storefront-recs version answering (null: live events and catalog only)")
    results: list[Recommendation]


def _answer(body: RecommendQuery, recent=()):
    node = current_node()
    config = node.plugin_config("recommend")
    if body.k > config.max_k:
        raise Unprocessable(f"k is at most {config.max_k}", code="invalid_request",
                            details=[{"field": "k", "problem": f"at most {config.max_k}"}])
    if any(not isinstance(s, str) or not s or len(s) > 128 for s in recent):
        raise Unprocessable("every recent SKU is a string of 1 to 128 characters", code="invalid_request")
    from .plugin import recommender

    origin = node_origin(node.db()) if current_store() == "default" else None  # a store's own figures otherwise
    answer = recommender(node).recommend(node, session_id=body.session_id, recent=list(recent), sku=body.sku,
                                         k=body.k, origin=origin)
    return jsonify(answer)


def make_blueprint() -> Blueprint:
    """A fresh Blueprint with the recommendation routes."""
    bp = Blueprint("recommend", __name__, url_prefix="/v1/recommendations")

    @bp.get("")
    @documented("Recommendations for a session and/or the product on screen (in stock, diverse, never an error "
                "for an unknown id)", response=Recommendations, errors=(400, 422, 503),
                tags=("recommendations",))
    def get_recommendations():
        return _answer(validated(RecommendQuery, request.args.to_dict()))

    @bp.post("")
    @documented("Recommendations for the session's recent SKUs (and/or its session id and the product on screen)",
                request=RecommendRequest, response=Recommendations, errors=(400, 413, 415, 422, 503),
                tags=("recommendations",))
    def post_recommendations():
        body = validated(RecommendRequest, json_body())
        return _answer(body, body.skus)

    return bp
