"""Requests in progress across workers: a lone request's model run may use every core, concurrent ones keep to their share."""

from __future__ import annotations

import multiprocessing

import numpy as np
import pytest

from edge import occupancy
from edge.runtime import load_model
from tests.builders import tiny_onnx_model


def test_a_request_is_alone_only_while_no_other_is_in_progress():
    counter = occupancy.Occupancy()
    assert counter.alone
    with counter.serving():
        assert counter.alone and counter.in_progress == 1
        with counter.serving():
            assert not counter.alone and counter.in_progress == 2
    with pytest.raises(RuntimeError), counter.serving():
        raise RuntimeError("the request failed")
    assert counter.in_progress == 0


def _hold(counter, entered, release):
    with counter.serving():
        entered.set()
        release.wait(10)


def test_the_count_is_shared_with_other_worker_processes():
    # gunicorn forks its workers; spawn is used here because libraries loaded by other tests warn on fork
    context = multiprocessing.get_context("spawn")
    counter = occupancy.Occupancy(context.Value("i", 0))
    entered, release = context.Event(), context.Event()
    worker = context.Process(target=_hold, args=(counter, entered, release))
    worker.start()
    try:
        assert entered.wait(10)
        with counter.serving():
            assert not counter.alone
    finally:
        release.set()
        worker.join(10)
    with counter.serving():
        assert counter.alone


class _Spy:
    """Wraps a real onnxruntime session and counts its runs."""

    def __init__(self, session):
        self.session, self.runs = session, 0

    def run(self, *args):
        self.runs += 1
        return self.session.run(*args)


def test_an_onnx_model_runs_on_its_idle_session_only_while_its_request_is_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(occupancy, "_shared", occupancy.Occupancy())
    model = load_model("doubler", tiny_onnx_model(tmp_path / "m.onnx", scale=2.0), threads=1, idle_threads=2)
    model._session, model._idle_session = _Spy(model._session), _Spy(model._idle_session)
    x = {"x": np.ones((1, 4), np.float32)}
    with occupancy.current().serving():
        alone = model.run(x)["y"]
        with occupancy.current().serving():  # a second request arrives
            busy = model.run(x)["y"]
    np.testing.assert_allclose(alone, busy)
    assert (model._idle_session.runs, model._session.runs) == (1, 1)


@pytest.mark.parametrize("idle, counted", [(2, [1]), (1, [0])])
def test_the_app_counts_requests_only_when_idle_threads_are_on(app_config, monkeypatch, idle, counted):
    from edge.app import create_app

    monkeypatch.setattr(occupancy, "_shared", occupancy.Occupancy())
    app = create_app({**app_config, "MODEL_THREADS_IDLE": idle}, watch=False)
    seen = []

    @app.get("/_occupancy_probe")
    def probe():
        seen.append(occupancy.current().in_progress)
        return {"ok": True}

    client = app.test_client()
    try:
        assert client.get("/_occupancy_probe").status_code == 200
        assert client.get("/v1/nothing-here").status_code in (401, 404)  # an early error response is uncounted too
    finally:
        app.extensions["storefront_edge"].close()
    assert seen == counted and occupancy.current().in_progress == 0


def test_idle_threads_setting():
    cores = min(occupancy.available_cores(), 4)
    assert occupancy.idle_threads("auto", 1) == (cores if cores > 1 else 0)
    assert occupancy.idle_threads(3, 1) == 3
    assert occupancy.idle_threads("2", 2) == 0
    with pytest.raises(ValueError, match="MODEL_THREADS_IDLE"):
        occupancy.idle_threads("many", 1)
