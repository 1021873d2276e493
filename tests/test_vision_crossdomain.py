"""Studio → phone embedding map, white-border trimming, and an exported embedder read at inner layers."""
from __future__ import annotations

import numpy as np
import pytest

from converters.vision.crossdomain import (choose_strength, fit_domain_map, held_out_sku_recall, map_catalog,
                                           sku_means, unit)

SKUS, DIM, VIEWS, PHOTOS = 60, 24, 4, 6


def _two_domains(shared_shift: bool, seed: int = 0):
    """Synthetic studio views ``[SKUS, VIEWS, DIM]`` and phone photos of the same SKUs.

    ``shared_shift``: every SKU's phone photos are its studio look through one rotation of the space
    (a domain change a map can learn and carry to other SKUs); otherwise each SKU's phone look is the
    studio look plus an offset of its own (nothing shared to learn).
    """
    rng = np.random.default_rng(seed)
    look = unit(rng.normal(size=(SKUS, DIM)))
    if shared_shift:
        rotation = np.linalg.qr(rng.normal(size=(DIM, DIM)))[0]
        phone_look = unit(0.2 * look + 0.8 * look @ rotation)
    else:
        phone_look = unit(look + 1.2 * unit(rng.normal(size=(SKUS, DIM))))
    views = unit(look[:, None] + 0.15 * rng.normal(size=(SKUS, VIEWS, DIM)))
    labels = np.repeat(np.arange(SKUS), PHOTOS)
    photos = unit(phone_look[labels] + 0.15 * rng.normal(size=(len(labels), DIM)))
    queries = unit(phone_look[labels] + 0.15 * rng.normal(size=(len(labels), DIM)))
    return views, np.arange(SKUS), photos, labels, queries


def test_the_map_moves_studio_vectors_of_skus_it_never_saw_towards_their_phone_photos():
    views, skus, photos, labels, _ = _two_domains(shared_shift=True)
    phone = sku_means(photos, labels, SKUS)
    fitted = skus < 45
    mapping = fit_domain_map(views[fitted], skus[fitted], phone, strength=1.0)
    unseen = map_catalog(views[~fitted], None)
    mapped = mapping.apply(unseen)
    before = (unseen * phone[~fitted]).sum(axis=1)
    after = (mapped * phone[~fitted]).sum(axis=1)
    assert np.allclose(np.linalg.norm(mapped, axis=1), 1.0, atol=1e-5)
    assert after.mean() > before.mean() + 0.2
    assert (after > before).mean() > 0.9


def test_a_map_that_generalises_is_chosen_and_raises_held_out_recall():
    views, skus, photos, labels, queries = _two_domains(shared_shift=True)
    data = (views, skus, photos, labels, queries, labels)
    choice, table = choose_strength(*data)
    assert choice is not None
    assert table[str(choice)] > table["None"] + 0.2
    assert round(held_out_sku_recall(*data, strength=choice), 4) == table[str(choice)]


def test_a_map_that_only_learns_each_sku_is_not_chosen():
    views, skus, photos, labels, queries = _two_domains(shared_shift=False)
    choice, table = choose_strength(views, skus, photos, labels, queries, labels)
    assert choice is None
    assert max(v for k, v in table.items() if k != "None") <= table["None"]
    # fitted on every SKU, the same map does find them: a per-SKU lookup that the held-out check exposes
    lookup = fit_domain_map(views, skus, sku_means(photos, labels, SKUS), strength=0.1)
    found = skus[np.argmax(queries @ map_catalog(views, lookup).T, axis=1)]
    plain = skus[np.argmax(queries @ map_catalog(views, None).T, axis=1)]
    assert (found == labels).mean() > (plain == labels).mean() + 0.1


def test_a_very_strong_penalty_leaves_only_the_mean_shift():
    views, skus, photos, labels, _ = _two_domains(shared_shift=True)
    mapping = fit_domain_map(views, skus, sku_means(photos, labels, SKUS), strength=1e9)
    assert np.allclose(mapping.weight, np.eye(DIM), atol=1e-4)
    x = map_catalog(views, None)
    assert np.allclose(mapping.apply(x), unit(x - mapping.studio_mean + mapping.phone_mean), atol=1e-5)


def test_the_white_border_of_a_packshot_is_trimmed_to_a_square():
    from converters.vision.studio import trim_white_border

    shot = np.full((200, 300, 3), 255, np.uint8)
    shot[50:150, 120:170] = (30, 90, 200)            # a tall product, 100 x 50
    trimmed = trim_white_border(shot, margin=0.0)
    assert trimmed.shape == (100, 100, 3)
    assert (trimmed[:, 25:75] == (30, 90, 200)).all() and (trimmed[:, :25] == 255).all()
    assert trim_white_border(shot, margin=0.1).shape == (120, 120, 3)
    blank = np.full((40, 60, 3), 255, np.uint8)
    assert trim_white_border(blank) is blank


def _pooling_model(path):
    """A real tiny ONNX embedder ``image [N, 3, 8, 8] -> embedding [N, 2]``: a 1x1 conv, ReLU, global mean."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = np.array([[1, 0, 0], [0, 0, -1]], np.float32).reshape(2, 3, 1, 1)
    nodes = [helper.make_node("Conv", ["image", "w"], ["conv"]),
             helper.make_node("Relu", ["conv"], ["inner"]),
             helper.make_node("ReduceMean", ["inner"], ["pooled"], axes=[2, 3], keepdims=0),
             helper.make_node("Identity", ["pooled"], ["embedding"])]
    graph = helper.make_graph(nodes, "pooling", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", 2])],
                              [numpy_helper.from_array(weight, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


def test_an_exported_embedder_runs_at_another_size_and_returns_a_pooled_inner_layer(tmp_path):
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    pytest.importorskip("onnx", reason="onnx is not installed")
    pytest.importorskip("torch", reason="torch is not installed")
    from converters.vision.data import normalise
    from converters.vision.taps import tapped_embed, tapped_session

    path = _pooling_model(tmp_path / "pool.onnx")
    images = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3)).astype(np.uint8)
    embedding, inner = tapped_embed(tapped_session(path, ("inner",)), images, batch=2)
    import torch
    x = normalise(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255).numpy()
    expected = np.stack([np.maximum(x[:, 0], 0).mean(axis=(1, 2)), np.maximum(-x[:, 2], 0).mean(axis=(1, 2))], 1)
    assert embedding.shape == inner.shape == (3, 2)
    assert np.allclose(embedding, expected, atol=1e-5) and np.allclose(inner, expected, atol=1e-5)
    with pytest.raises(ValueError, match="no tensor named 'nowhere'"):
        tapped_session(path, ("nowhere",))
