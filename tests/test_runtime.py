"""The model runtime: named inputs and outputs, warm-up, and errors that name what was expected."""

from __future__ import annotations

import numpy as np
import pytest

from edge.runtime import ModelError, ModelInputError, load_model
from tests.builders import tiny_onnx_model


@pytest.fixture
def onnx_model(tmp_path):
    return load_model("doubler", tiny_onnx_model(tmp_path / "m.onnx", scale=2.5), threads=2)


def test_onnx_model_runs_on_named_arrays(onnx_model):
    out = onnx_model.run({"x": np.arange(8, dtype=np.float32).reshape(2, 4)})
    assert list(out) == ["y"]
    np.testing.assert_allclose(out["y"], np.arange(8).reshape(2, 4) * 2.5)


def test_signature_and_warmup(onnx_model):
    assert onnx_model.signature() == {"inputs": [{"name": "x", "dtype": "float32", "shape": [None, 4]}],
                                      "outputs": [{"name": "y", "dtype": "float32", "shape": [None, 4]}]}
    assert onnx_model.warmup()["y"].shape == (1, 4)


@pytest.mark.parametrize("feeds", [
    {"image": np.zeros((1, 4), np.float32)},
    {"x": np.zeros((1, 4), np.float64)},
    {"x": np.zeros((1, 5), np.float32)},
    {"x": np.zeros((4,), np.float32)},
    {"x": np.zeros((1, 4), np.float32), "extra": np.zeros(1)},
    [np.zeros((1, 4), np.float32)],
])
def test_wrong_inputs_name_the_expected_ones(onnx_model, feeds):
    with pytest.raises(ModelInputError, match=r"expects inputs x: float32\[\?,4\]"):
        onnx_model.run(feeds)


def test_inference_time_is_reported(onnx_model):
    seen = []
    onnx_model.on_inference = lambda name, seconds: seen.append((name, seconds))
    onnx_model.warmup()
    assert seen and seen[0][0] == "doubler" and seen[0][1] >= 0


def test_missing_or_broken_or_unknown_model_files(tmp_path):
    with pytest.raises(ModelError, match="missing"):
        load_model("m", tmp_path / "nothing.onnx")
    (tmp_path / "broken.onnx").write_bytes(b"junk")
    with pytest.raises(ModelError, match="cannot load ONNX model"):
        load_model("m", tmp_path / "broken.onnx")
    (tmp_path / "model.pt").write_bytes(b"junk")
    with pytest.raises(ModelError, match="unknown model runtime"):
        load_model("m", tmp_path / "model.pt")
    (tmp_path / "broken.tflite").write_bytes(b"junk")
    with pytest.raises(ModelError, match="TFLite"):
        load_model("m", tmp_path / "broken.tflite")


def test_a_model_run_on_several_threads_lets_its_idle_threads_sleep(tmp_path):
    """A spinning thread pool would hold a core that the other worker's request needs."""
    model = load_model("doubler", tiny_onnx_model(tmp_path / "m.onnx", scale=2.0), threads=1, idle_threads=2)
    spinning = lambda session: session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")  # noqa: E731
    assert spinning(model._idle_session) == "0"
    assert model.run({"x": np.ones((1, 4), np.float32)})["y"].tolist() == [[2.0] * 4]
