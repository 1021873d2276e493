"""Train every recommender from sessions and write the ``storefront-recs`` bundle source.

``fit``: the last ``VALIDATION_SHARE`` of the training sessions (by time; at most the last
``MAX_VALIDATION_SESSIONS``) are held out to tune the linear blend's weights on models trained without
them; the last ``VALIDATION_SHARE`` of the sessions before those make a second, earlier fold (models
trained on the rest before it). The learned blend (:mod:`.reranker`) is fitted on the earlier fold and
scored on the later one, which tunes the long-tail bonus and gives the validation figures; the shipped
learned blend is fitted on both folds. Then every table and the sequential model are trained again on
all the sessions. The share was 10 %: on the DIGINETICA sample that left 152 validation prefixes, too few
to tell weight settings apart; 25 % leaves 358 (and 215 in the earlier fold).
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from pathlib import Path

from plugins.recommend import artifacts, rerank

from . import evaluate, reranker, sequential, tables as tables_mod, tuning
from .events import split_by_time

BUNDLE_NAME = "storefront-recs"
VALIDATION_SHARE = 0.25
MAX_VALIDATION_SESSIONS = 1000  # the most recent of the held-out tenth: enough to tune, bounded time


def train_models(sessions, *, seconds: float, epochs: int, log=None):
    """Tables and the sequential model from ``sessions`` (the tables carry the model's item vectors)."""
    log = log or sys.stderr
    with _stage("tables", log):
        tables = tables_mod.build_tables(sessions)
    print(f"tables: {len(tables.items)} items, {tables.sessions.rows} sessions", file=log)
    with _stage("sequential model", log):
        model = sequential.train(sessions, tables.index, seconds=seconds, epochs=epochs, log=log)
    tables.vectors = sequential.item_vectors(model)
    return tables, model


def _fold(sessions, *, seconds: float, epochs: int, log):
    """``(tables, cases)`` of a validation fold: models trained on all but the last ``VALIDATION_SHARE`` of
    ``sessions`` (at most ``MAX_VALIDATION_SESSIONS`` of those), cases from those last ones; and the rest."""
    head, validation = split_by_time(sessions, VALIDATION_SHARE)
    validation = validation[-MAX_VALIDATION_SESSIONS:]
    print(f"validation fold of {len(validation)} sessions", file=log)
    tables, model = train_models(head, seconds=seconds, epochs=epochs, log=log)
    with _stage("validation cases", log):
        cases = evaluate.build_cases(tables, model, evaluate.test_prefixes(validation, tables.index), log=log)
    return (tables, cases), head


def _tune(sessions, *, k: int, seconds: float, epochs: int, log) -> tuple[dict, float, bytes | None, dict]:
    """Linear blend weights, long-tail bonus, the learned blend and their validation figures, from models trained
    without the validation folds."""
    (tables, cases), head = _fold(sessions, seconds=seconds / 2, epochs=epochs, log=log)
    earlier = _fold(head, seconds=seconds / 4, epochs=epochs, log=log)[0] if len(head) >= 20 else None
    with _stage("tuning", log):
        weights = tuning.tune_weights(tables, cases, k)
        held_out = reranker.fit([earlier]) if earlier else None
        predict = reranker.OnnxScorer(held_out) if held_out else None
        bonus = tuning.tune_bonus(tables, cases, weights, k, predict=predict)
        learned = reranker.fit([(tables, cases), earlier]) if held_out else None
    figures = {**evaluate.evaluate_weights(tables, cases, weights, k, predict=predict), "prefixes": len(cases),
               "linear": evaluate.evaluate_weights(tables, cases, weights, k),
               "long_tail": evaluate.evaluate_weights(tables, cases, weights, k, bonus=bonus, predict=predict)}
    print(f"blend weights {weights}, long-tail bonus {bonus}, learned blend {'fitted' if learned else 'none'}", file=log)
    return weights, bonus, learned, figures


def fit(sessions, *, k: int = 20, seconds: float = 300.0, epochs: int = 40, tune: bool = True, log=None):
    """Train on ``sessions`` with the blend (weights, learned blend, long-tail bonus) tuned on their last sessions.

    Returns ``(tables, model, summary)``; ``tables.reranker`` holds the learned blend's ONNX model (bytes) or
    ``None`` (then the linear blend ranks)."""
    log = log or sys.stderr
    summary = {"sessions": len(sessions), "events": sum(len(s.items) for s in sessions)}
    weights, bonus, learned = None, 0.0, None
    if tune and len(sessions) >= 20:
        weights, bonus, learned, summary["validation"] = _tune(sessions, k=k, seconds=seconds, epochs=epochs, log=log)
    tables, model = train_models(sessions, seconds=seconds, epochs=epochs, log=log)
    if weights:
        tables.params.weights = weights
    tables.params.long_tail_bonus = bonus
    tables.params.blend = "learned" if learned else "linear"
    tables.params.rerank_features = list(rerank.FEATURES) if learned else []
    tables.reranker = learned
    summary.update(items=len(tables.items), weights=tables.params.weights, long_tail_bonus=bonus,
                   blend=tables.params.blend, trained_until=max(s.end for s in sessions))
    return tables, model, summary


@contextlib.contextmanager
def _stage(name: str, log):
    """Print ``timing: <name> <seconds> s`` to ``log`` once the block is done (what the benchmark reports)."""
    started = time.monotonic()
    yield
    print(f"timing: {name} {time.monotonic() - started:.1f} s", file=log)


def write_bundle(tables, model, summary: dict, out: Path, version: str, sign_key: Path | None = None) -> dict:
    """Write (and with ``sign_key`` sign) the ``storefront-recs`` bundle folder ``out``; return its manifest."""
    from edge.bundles.builder import build_manifest, write_source
    from edge.bundles.signing import sign_bundle

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sequential.export_onnx(model, tmp / artifacts.MODEL_FILE)
        artifacts.save_tables(tables, tmp, summary)
        artifacts.build_annoy(tables.vectors, tmp / artifacts.ANNOY)
        models = {artifacts.MODEL_NAME: {"source": tmp / artifacts.MODEL_FILE, "file": artifacts.MODEL_FILE,
                                         "runtime": "onnx"}}
        if getattr(tables, "reranker", None):
            (tmp / artifacts.RERANK_FILE).write_bytes(tables.reranker)
            models[artifacts.RERANK_NAME] = {"source": tmp / artifacts.RERANK_FILE, "file": artifacts.RERANK_FILE,
                                             "runtime": "onnx"}
        extra = {name: tmp / name for name in (artifacts.TABLES, artifacts.META, artifacts.ANNOY)}
        write_source(out, BUNDLE_NAME, version, models, plugins=["recommend"], extra_files=extra,
                     metrics=summary.get("validation", {}), recipe={"trainer": "converters.recommend", **summary})
    manifest = build_manifest(out)
    if sign_key:
        sign_bundle(out, sign_key)
    return manifest
