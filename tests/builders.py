"""Build real, tiny artefacts at test time: ONNX models, signed bundles, key pairs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def tiny_onnx_model(path: Path, scale: float = 2.0, width: int = 4, input_name: str = "x", output_name: str = "y") -> Path:
    """An ONNX model computing ``y = x * scale`` over float32 ``[N, width]``."""
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Mul", [input_name, "scale"], [output_name])
    graph = helper.make_graph(
        [node], "tiny",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["N", width])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["N", width])],
        [helper.make_tensor("scale", TensorProto.FLOAT, [1], [scale])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def bundle_source(folder: Path, version: str = "1.0.0", scale: float = 2.0, name: str = "test-bundle",
                  plugins=(), models: dict | None = None) -> Path:
    """A bundle folder with one tiny ONNX model ``doubler`` and its ``bundle.json``."""
    folder.mkdir(parents=True, exist_ok=True)
    tiny_onnx_model(folder / "doubler.onnx", scale)
    spec = {"name": name, "version": version, "plugins": list(plugins),
            "models": models or {"doubler": {"file": "doubler.onnx", "runtime": "onnx"}},
            "metrics": {"scale": scale}}
    (folder / "bundle.json").write_text(json.dumps(spec))
    return folder


def write_golden(folder: Path, scale: float, name: str = "golden.npz") -> dict:
    """Golden inputs/outputs for the doubler model; returns the model entry's ``golden`` spec."""
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.savez(folder / name, **{"input:x": x, "output:y": x * scale})
    return {"file": name, "atol": 1e-5}


def signed_bundle(folder: Path, private_key: Path, **kwargs) -> Path:
    """Build and sign a tiny bundle folder."""
    from edge.bundles.builder import build_manifest
    from edge.bundles.signing import sign_bundle

    bundle_source(folder, **kwargs)
    build_manifest(folder)
    sign_bundle(folder, private_key)
    return folder


def run_doubler(model) -> np.ndarray:
    """Run a tiny model on ones and return its output."""
    return model.run({"x": np.ones((1, 4), dtype=np.float32)})["y"]


def word_tokenizer(path: Path, words) -> Path:
    """A Hugging Face ``tokenizers`` file: one id per whole word (``[PAD]`` 0, ``[UNK]`` 1, then ``words``)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[PAD]": 0, "[UNK]": 1, **{w: i + 2 for i, w in enumerate(words)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(path))
    return path


def mean_pool_encoder(path: Path, table: np.ndarray) -> Path:
    """A real ONNX sentence encoder: masked mean of per-token rows of ``table`` (input_ids, attention_mask ->
    sentence_embedding)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["vectors"]),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "last"], ["mask3"]),
        helper.make_node("Mul", ["vectors", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "tokens"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask3", "tokens"], ["count"], keepdims=0),
        helper.make_node("Max", ["count", "one"], ["safe"]),
        helper.make_node("Div", ["summed", "safe"], ["sentence_embedding"]),
    ]
    inits = [numpy_helper.from_array(table.astype(np.float32), "table"), numpy_helper.from_array(np.array([-1]), "last"),
             numpy_helper.from_array(np.array([1]), "tokens"), numpy_helper.from_array(np.array([1.0], np.float32), "one")]
    graph = helper.make_graph(nodes, "tiny_encoder",
                              [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
                               helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "tokens"])],
                              [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", table.shape[1]])],
                              inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def topic_encoder_bundle(folder: Path, private_key: Path, topics: dict, filler=()) -> Path:
    """A signed voice bundle (the shipped spec plus ``voice_encoder``) whose tiny encoder maps each word of
    ``topics`` onto its topic's direction and the ``filler`` words (and unknown ones) onto a faint shared one."""
    from edge.bundles.builder import build_manifest
    from edge.bundles.signing import sign_bundle
    from edge.paths import models_lite_dir

    from converters.voice.bundle import encoder_spec

    folder.mkdir(parents=True)
    words = sorted(topics) + sorted(set(filler) - set(topics))
    width = max(topics.values()) + 2
    table = np.zeros((len(words) + 2, width), np.float32)
    table[1, -1] = table[len(topics) + 2:, -1] = 0.2  # unknown and filler words: a faint direction of their own
    for i, word in enumerate(sorted(topics)):
        table[i + 2, topics[word]] = 1.0
    word_tokenizer(folder / "voice_tokenizer.json", words)
    mean_pool_encoder(folder / "voice_encoder.int8.onnx", table)
    spec = encoder_spec(json.loads((models_lite_dir() / "storefront-voice" / "bundle.json").read_text()))
    (folder / "bundle.json").write_text(json.dumps(spec))
    build_manifest(folder)
    sign_bundle(folder, private_key)
    return folder
