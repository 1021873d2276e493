"""``POST /v1/fraud/precheck`` (client key) and ``GET /v1/fraud/rules`` (client key)."""

from __future__ import annotations

from flask import Blueprint, jsonify
from pydantic import BaseModel

from edge.api import current_node, current_store, documented, json_body

from . import service
from .payload import Precheck


class Reason(BaseModel):
    code: str
    text: str


class PrecheckAnswer(BaseModel):
    id: str
    decision: str
    score: float
    reasons: list[Reason]
    rule_hits: list[str]
    model_scores: dict[str, float]
    features: dict
    missing_features: list[str] = []
    rules_version: str
    bundle: str | None
    latency_ms: float
    created_at: str
    replayed: bool


class RuleOut(BaseModel):
    id: str
    action: str
    when: str
    reason: str


class RuleListing(BaseModel):
    version: str
    rules: list[RuleOut]
    errors: list[str]


def make_blueprint() -> Blueprint:
    """A fresh Blueprint with the fraud routes."""
    bp = Blueprint("fraud", __name__, url_prefix="/v1/fraud")

    @bp.post("/precheck")
    @documented("Check an order or payment before it leaves the store: allow, review or block, with reasons, "
                "rule hits, model scores and the features used (logged for audit, synced to the hub)",
                request=Precheck, response=PrecheckAnswer, errors=(400, 409, 413, 415, 422, 503), tags=("fraud",))
    def precheck():
        node = current_node()
        response = jsonify(service.precheck(node, json_body(), current_store()))
        if not service.ensure_upkeep(node) and service.claim_prune(node):
            response.call_on_close(lambda: service.prune(node))
        return response

    @bp.get("/rules")
    @documented("The rules in force, in evaluation order (allow, block, review), and why a newer set was refused",
                response=RuleListing, tags=("fraud",))
    def list_rules():
        node = current_node()
        ctx = service.context(node, node.db())
        state = node.slot(service.PLUGIN_NAME)
        return jsonify({"version": ctx.rules.version, "errors": getattr(state, "rule_errors", []),
                        "rules": [{"id": r.id, "action": r.action, "when": r.when, "reason": r.reason} for r in ctx.rules.rules]})

    return bp
