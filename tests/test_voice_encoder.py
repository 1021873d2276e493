"""The FAQ sentence encoder: a real tiny ONNX encoder in a signed voice bundle, run through the node's model
runtime, and the converter turning BERT-shaped weights into an int8 ONNX encoder with its tokenizer."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.builders import mean_pool_encoder, topic_encoder_bundle, word_tokenizer
from tests.conftest import ADMIN_KEY, CLIENT_KEY

HEADERS = {"Authorization": f"Bearer {CLIENT_KEY}"}
# Word -> topic: words of one topic share an embedding direction, so synonyms the keywords lack still match.
TOPICS = {"parking": 0, "park": 0, "car": 0, "automobile": 0, "vehicle": 0, "wifi": 1, "internet": 1, "online": 1,
          "toilets": 2, "toilet": 2, "restroom": 2, "lavatory": 2, "card": 3, "pay": 3, "plastic": 3}


def _encoder_bundle(folder: Path, key: Path) -> Path:
    """A signed voice bundle whose tiny encoder puts each topic's words on one direction, other words on a faint one."""
    filler = ["is", "there", "any", "space", "for", "my", "where", "the", "can", "i", "by", "free"]
    return topic_encoder_bundle(folder, key, TOPICS, filler)


@pytest.fixture
def voice_node(data_dir):
    from edge.app import create_app

    from plugins.voice.plugin import load_demo

    app = create_app({"DATA_DIR": str(data_dir), "PLUGINS": ["catalog", "voice"], "CLIENT_KEY": CLIENT_KEY,
                      "ADMIN_KEY": ADMIN_KEY}, watch=False)
    node = app.extensions["storefront_edge"]
    load_demo(node, None)
    yield app, node
    node.close()


def _ask(app, text):
    return app.test_client().post("/v1/voice/text", json={"text": text}, headers=HEADERS).get_json()


def test_faq_matches_by_meaning_with_the_bundle_encoder_and_by_keywords_without(voice_node, signing_key, tmp_path):
    app, node = voice_node
    without = _ask(app, "is there any space for my automobile")
    assert without["intent"] is None and without["intent_source"] == "faq_keywords"
    node.registry.install(_encoder_bundle(tmp_path / "encoder-bundle", signing_key))
    node.watcher.refresh()
    turn = _ask(app, "is there any space for my automobile")
    assert turn["intent"] == "FAQ" and turn["intent_source"] == "semantic" and turn["slots"]["faq_id"] == "parking-en"
    assert _ask(app, "where is the lavatory")["slots"]["faq_id"] == "toilet-en"
    assert _ask(app, "can i pay by plastic")["slots"]["faq_id"] == "card-en"


def _tiny_bert(folder: Path) -> Path:
    """BERT-shaped random weights (the converter's 6 x 384 layout, a 40-word vocabulary) and a tokenizer."""
    from safetensors.numpy import save_file

    from converters.voice.encoder import LAYERS, WIDTH

    rng = np.random.default_rng(3)
    w = lambda *shape: (rng.standard_normal(shape) * 0.05).astype(np.float32)  # noqa: E731
    tensors = {"embeddings.word_embeddings.weight": w(42, WIDTH), "embeddings.position_embeddings.weight": w(512, WIDTH),
               "embeddings.token_type_embeddings.weight": w(2, WIDTH),
               "embeddings.LayerNorm.weight": np.ones(WIDTH, np.float32), "embeddings.LayerNorm.bias": w(WIDTH)}
    for i in range(LAYERS):
        p = f"encoder.layer.{i}"
        for name, shape in (("attention.self.query", (WIDTH, WIDTH)), ("attention.self.key", (WIDTH, WIDTH)),
                            ("attention.self.value", (WIDTH, WIDTH)), ("attention.output.dense", (WIDTH, WIDTH)),
                            ("intermediate.dense", (4 * WIDTH, WIDTH)), ("output.dense", (WIDTH, 4 * WIDTH))):
            tensors[f"{p}.{name}.weight"], tensors[f"{p}.{name}.bias"] = w(*shape), w(shape[0])
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            tensors[f"{p}.{norm}.weight"], tensors[f"{p}.{norm}.bias"] = np.ones(WIDTH, np.float32), w(WIDTH)
    folder.mkdir(parents=True)
    save_file(tensors, str(folder / "model.safetensors"))
    word_tokenizer(folder / "tokenizer.json", sorted(TOPICS) + ["is", "there", "do", "you", "have", "free", "where", "are", "the",
                                                             "can", "i", "by", "what", "time", "close", "want", "a",
                                                             "refund", "deliver", "to", "my", "home", "leave", "toilet"])
    return folder


@pytest.mark.slow
def test_the_converter_writes_an_int8_encoder_the_node_runtime_loads(tmp_path):
    pytest.importorskip("torch", reason="the converter needs the convert extra")
    from edge.runtime import load_model

    from converters.voice.encoder import convert
    from plugins.voice.encoder import SentenceEncoder

    report = convert(tmp_path / "out", _tiny_bert(tmp_path / "bert"))
    assert report["cosine_int8_fp32_min"] > 0.9 and report["size_mb"] < 20
    model = load_model("voice_encoder", tmp_path / "out" / "voice_encoder.int8.onnx", "onnx")
    assert [i["name"] for i in model.signature()["inputs"]] == ["input_ids", "attention_mask"]
    encoder = SentenceEncoder(model, tmp_path / "out" / "voice_tokenizer.json")
    vectors = encoder.embed(["is there parking", "is there parking", "do you have free wifi"])
    assert vectors.shape == (3, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert np.allclose(vectors[0], vectors[1]) and not np.allclose(vectors[0], vectors[2])
    assert not (tmp_path / "out" / "voice_encoder.fp32.onnx").exists()
    shutil.rmtree(tmp_path / "bert")


def test_each_stores_faq_questions_are_embedded_once_while_stores_alternate(tmp_path):
    from edge.runtime import load_model

    from plugins.voice.encoder import SentenceEncoder

    words = sorted(TOPICS) + ["is", "there", "do", "you", "have", "free", "where", "are", "the"]
    table = np.full((len(words) + 2, 8), 0.01, np.float32)
    for i, word in enumerate(words):
        table[i + 2, TOPICS.get(word, 4 + i % 4)] = 1.0
    model = load_model("voice_encoder", mean_pool_encoder(tmp_path / "e.onnx", table), "onnx")
    encoder = SentenceEncoder(model, word_tokenizer(tmp_path / "t.json", words))
    embedded = []
    real_embed = encoder.embed
    encoder.embed = lambda texts: embedded.append(len(texts)) or real_embed(texts)
    north, south = ["is there parking", "where are the toilets"], ["do you have free wifi"]
    for _ in range(3):
        parking, toilets = encoder.scores("can i park my car", north)
        assert parking > toilets
        assert len(encoder.scores("is there internet", south)) == 1
    assert embedded == [2, 1, 1, 1, 1, 1, 1, 1]  # each store's questions once, then only the utterances
