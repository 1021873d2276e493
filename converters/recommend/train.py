"""Train every recommender from sessions and write the ``storefront-recs`` bundle source.

``fit``: the last ``VALIDATION_SHARE`` of the training sessions (by time; at most the last
``MAX_VALIDATION_SESSIONS``) are held out to tune the blend weights and the long-tail bonus on models
trained without them; then every table and the sequential model are trained again on all the sessions
with those weights. The share was 10 %: on the DIGINETICA sample that left 152 validation prefixes, too few
to tell weight settings apart; 25 % leaves 358.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from pathlib import Path

from plugins.recommend import artifacts

from . import evaluate, sequential, tables as tables_mod, tuning
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


def _tune(sessions, *, k: int, seconds: float, epochs: int, log) -> tuple[dict, float, dict]:
    """Blend weights, long-tail bonus and their validation figures, from models trained without the validation split."""
    head, validation = split_by_time(sessions, VALIDATION_SHARE)
    validation = validation[-MAX_VALIDATION_SESSIONS:]
    print(f"tuning the blend on {len(validation)} validation sessions", file=log)
    tables, model = train_models(head, seconds=seconds / 2, epochs=epochs, log=log)
    with _stage("validation cases", log):
        cases = evaluate.build_cases(tables, model, evaluate.test_prefixes(validation, tables.index), log=log)
    with _stage("tuning", log):
        weights = tuning.tune_weights(tables, cases, k)
        bonus = tuning.tune_bonus(tables, cases, weights, k)
    figures = {**evaluate.evaluate_weights(tables, cases, weights, k), "prefixes": len(cases),
               "long_tail": evaluate.evaluate_weights(tables, cases, weights, k, bonus=bonus)}
    print(f"blend weights {weights}, long-tail bonus {bonus}", file=log)
    return weights, bonus, figures


def fit(sessions, *, k: int = 20, seconds: float = 300.0, epochs: int = 8, tune: bool = True, log=None):
    """Train on ``sessions`` with blend weights and long-tail bonus tuned on their last ``VALIDATION_SHARE``."""
    log = log or sys.stderr
    summary = {"sessions": len(sessions), "events": sum(len(s.items) for s in sessions)}
    weights, bonus = None, 0.0
    if tune and len(sessions) >= 20:
        weights, bonus, summary["validation"] = _tune(sessions, k=k, seconds=seconds, epochs=epochs, log=log)
    tables, model = train_models(sessions, seconds=seconds, epochs=epochs, log=log)
    if weights:
        tables.params.weights = weights
    tables.params.long_tail_bonus = bonus
    summary.update(items=len(tables.items), weights=tables.params.weights, long_tail_bonus=bonus,
                   trained_until=max(s.end for s in sessions))
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
        extra = {name: tmp / name for name in (artifacts.TABLES, artifacts.META, artifacts.ANNOY)}
        write_source(out, BUNDLE_NAME, version, models, plugins=["recommend"], extra_files=extra,
                     metrics=summary.get("validation", {}), recipe={"trainer": "converters.recommend", **summary})
    manifest = build_manifest(out)
    if sign_key:
        sign_bundle(out, sign_key)
    return manifest
