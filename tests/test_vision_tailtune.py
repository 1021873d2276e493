"""The shipped embedder's last layers: read from the int8 graph, retrained on two domains, written back."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

SHIPPED = Path(__file__).resolve().parents[1] / "models_lite" / "storefront-vision" / "vision_embedder.int8.onnx"
pytestmark = pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped vision embedder")


def _photos(count: int, seed: int = 0) -> np.ndarray:
    """Smooth random colour fields as uint8 model inputs (144 px): not photos, but varied inputs."""
    import cv2

    rng = np.random.default_rng(seed)
    low = rng.integers(0, 256, (count, 6, 6, 3)).astype(np.uint8)
    return np.stack([cv2.resize(x, (144, 144), interpolation=cv2.INTER_CUBIC) for x in low])


def _shipped_embeddings(images: np.ndarray) -> np.ndarray:
    from converters.vision.evaluate import embed_images, onnx_embedder

    return embed_images(onnx_embedder(SHIPPED, 1), images, None)


@pytest.mark.parametrize("frozen", [17, 16])
def test_the_tail_read_from_the_int8_graph_reproduces_the_shipped_embedding(frozen):
    from converters.vision.tailtune import block_maps, embed_maps, shipped_tail, tail_weights

    images = _photos(12)
    ours = embed_maps(shipped_tail(tail_weights(SHIPPED, frozen)), block_maps(SHIPPED, images, threads=1, frozen=frozen))
    cosine = (ours * _shipped_embeddings(images)).sum(axis=1)
    assert cosine.min() > 0.98


@pytest.mark.parametrize("frozen", [17, 16])
def test_written_weights_are_what_onnxruntime_serves(tmp_path, frozen):
    import torch

    from converters.vision.tailtune import block_maps, embed_maps, shipped_tail, tail_weights, write_tuned_onnx

    images = _photos(12, seed=1)
    tail = shipped_tail(tail_weights(SHIPPED, frozen))
    with torch.no_grad():  # a different model: the head's columns reversed, the conv's bias shifted
        tail.head.copy_(tail.head.flip(1))
        tail.conv.bias.add_(0.5)
        if tail.block17 is not None:  # and block 17's int8 and float convolutions changed
            tail.block17["expand"].weight.mul_(1.3)
            tail.block17["depthwise"].bias.add_(0.3)
    path = write_tuned_onnx(SHIPPED, tmp_path / "tuned.onnx", tail)
    from converters.vision.evaluate import embed_images, onnx_embedder

    served = embed_images(onnx_embedder(path, 1), images, None)
    expected = embed_maps(tail, block_maps(SHIPPED, images, threads=1, frozen=frozen))
    assert (served * expected).sum(axis=1).min() > 0.98
    assert (served * _shipped_embeddings(images)).sum(axis=1).mean() < 0.9
    assert path.stat().st_size < SHIPPED.stat().st_size * 1.05  # weights still int8


@pytest.fixture
def one_thread():
    """Train on one thread (a 2-core machine shared with other work runs small batches faster so)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_fitting_brings_a_shifted_second_domain_to_its_classes_and_keeps_the_first(one_thread):
    from converters.vision.tailtune import TailSettings, embed_maps, fit_tail, shipped_tail, tail_weights

    rng = np.random.default_rng(0)
    classes = 8
    base = 0.5 * rng.normal(size=(classes, 320, 5, 5))
    shift = 3.0 * rng.normal(size=(1, 320, 5, 5))  # the second domain: one offset shared by every class

    def domain(per_class, offset):
        labels = np.repeat(np.arange(classes), per_class)
        return (base[labels] + offset + 0.2 * rng.normal(size=(len(labels), 320, 5, 5))).astype(np.float16), labels
    phone, phone_y = domain(12, 0.0)
    studio, studio_y = domain(4, shift)
    held_studio, held_y = domain(4, shift)  # other samples of the second domain, not trained on
    weights = tail_weights(SHIPPED)
    shipped = shipped_tail(weights)

    def studio_recall(tail):
        means = np.zeros((classes, 256))
        np.add.at(means, phone_y, embed_maps(tail, phone))
        best = np.argmax(embed_maps(tail, held_studio) @ means.T, axis=1)
        return float((best == held_y).mean())

    tuned = fit_tail(phone, phone_y, studio, studio_y, weights, TailSettings(epochs=30, batch=32, lr=1e-2), classes)
    assert studio_recall(shipped) < 0.8
    assert studio_recall(tuned) > studio_recall(shipped) + 0.2
    kept = (embed_maps(tuned, phone) * embed_maps(shipped, phone)).sum(axis=1)
    assert kept.mean() > 0.9


@pytest.mark.parametrize("frozen", [17, 16])
def test_a_blend_of_a_tuned_tail_with_the_shipped_one_lies_between_them_in_weight_space(frozen):
    import torch

    from converters.vision.tailtune import block_maps, embed_maps, interpolate_tail, shipped_tail, tail_weights

    weights = tail_weights(SHIPPED, frozen)
    tuned = shipped_tail(weights)
    with torch.no_grad():
        tuned.head.copy_(tuned.head.flip(1))
        tuned.conv.bias.add_(0.5)
    maps = block_maps(SHIPPED, _photos(8, seed=2), threads=1, frozen=frozen)
    start, end = embed_maps(shipped_tail(weights), maps), embed_maps(tuned, maps)
    assert np.allclose(embed_maps(interpolate_tail(weights, tuned, 0.0), maps), start, atol=1e-5)
    assert np.allclose(embed_maps(interpolate_tail(weights, tuned, 1.0), maps), end, atol=1e-5)
    half = interpolate_tail(weights, tuned, 0.5)
    expected = (shipped_tail(weights).head + tuned.head) / 2
    assert torch.allclose(half.head, expected)
    assert torch.allclose(half.conv.bias, shipped_tail(weights).conv.bias + 0.25)
    assert (embed_maps(half, maps) * start).sum(axis=1).mean() > (end * start).sum(axis=1).mean()


def test_a_blend_needs_a_tail_of_the_same_depth():
    from converters.vision.tailtune import interpolate_tail, shipped_tail, tail_weights

    with pytest.raises(ValueError, match="same depth"):
        interpolate_tail(tail_weights(SHIPPED, 17), shipped_tail(tail_weights(SHIPPED, 16)), 0.5)


def _row(split: float, shot: float, augmented: float) -> dict:
    return {"split_studio": {"recall@1": split, "recall@5": 1.0}, "held_out_studio@1": {"shot": shot, "augmented": augmented}}


def test_the_studio_tail_choice_never_takes_a_variant_that_loses_on_held_out_skus():
    from benchmarks.bench_studio_tail import pick

    table = {"shipped": _row(0.69, 0.70, 0.75), "keep_1": _row(0.79, 0.71, 0.70),
             "block17_keep_1": _row(0.97, 0.53, 0.60), "block17_keep_1@0.5": _row(0.85, 0.70, 0.74)}
    assert pick(table) == ("block17_keep_1@0.5", "augmented")  # the best split among those not below 0.70
    table["block17_keep_1@0.5"] = _row(0.85, 0.699, 0.74)
    assert pick(table) == ("keep_1", "shot")  # 0.699 is below the shipped 0.70; keep_1 held out: shot 0.71 > 0.70
    table["keep_1"] = _row(0.79, 0.71, 0.71)
    assert pick(table)[1] == "shot"  # a tie goes to the catalog the node serves
