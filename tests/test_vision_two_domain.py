"""Studio shots as a second training domain: shelf composites, cached-map fine-tuning, blends, fusion."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install storefront-edge[convert])")
pytest.importorskip("cv2", reason="opencv is not installed")


def _shot(size=64, inner_white=True):
    """A packshot: white background, a dark product with a white label fully inside it."""
    shot = np.full((size, size, 3), 255, np.uint8)
    shot[16:48, 16:48] = (30, 30, 160)
    if inner_white:
        shot[28:36, 28:36] = 255
    return shot


def test_product_mask_keeps_white_inside_the_product_and_drops_the_white_background():
    from converters.vision.shelf import product_mask

    mask = product_mask(_shot())
    assert mask[2, 2] < 0.05 and mask[60, 60] < 0.05       # background
    assert mask[20, 20] > 0.95 and mask[32, 32] > 0.95     # product, and its white label
    assert product_mask(np.full((32, 32, 3), 255, np.uint8)).max() < 0.05


def test_shelf_composites_use_other_skus_backgrounds_and_are_seeded():
    from converters.vision.shelf import shelf_views

    green = np.zeros((64, 64, 3), np.uint8)
    green[..., 1] = 200
    blue = np.zeros((64, 64, 3), np.uint8)
    blue[..., 2] = 200
    backgrounds, labels = np.stack([green, blue]), np.array([0, 1])
    views = shelf_views(_shot()[None], backgrounds, 6, seed=4, avoid=(np.array([0]), labels))
    assert views.shape == (1, 6, 64, 64, 3)
    means = views[0].reshape(6, -1, 3).mean(axis=1)
    assert (means[:, 2] > means[:, 1] + 40).all()          # always the blue shelf: green is the shot's own SKU
    assert (views[0].reshape(6, -1, 3).min(axis=2) > 240).mean() < 0.05   # the white background is gone
    assert np.array_equal(shelf_views(_shot()[None], backgrounds, 6, seed=4, avoid=(np.array([0]), labels)), views)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A random MobileNetV2 in torchvision's layout (batch norms recalibrated so activations stay scaled)."""
    from converters.vision.architectures import MobileNetV2

    torch.manual_seed(0)
    model = MobileNetV2()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.rand(8, 3, 64, 64) * 4 - 2)
    path = tmp_path_factory.mktemp("weights") / "mobilenet_v2.pth"
    torch.save(model.state_dict(), path)
    return str(path)


def _maps(weights, tmp_path):
    from converters.vision.twodomain import TwoDomainRecipe, build_maps, split_teacher

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (6, 72, 72, 3), dtype=np.uint8)
    labels = np.array([0, 0, 1, 1, 2, 2])
    shots = np.stack([_shot(72)] * 3)
    recipe = TwoDomainRecipe(size=48, phone_views=2, studio_views=2, epochs=1, batch=4, seed=3)
    trunk, _ = split_teacher(recipe.trunk, weights)
    return build_maps(trunk, pixels, labels, shots, np.array([0, 1, 2]), recipe, tmp_path), recipe


def test_cached_maps_hold_both_domains_and_leave_out_held_out_skus(weights, tmp_path):
    maps, recipe = _maps(weights, tmp_path)
    assert maps.phone.shape[:2] == (2, 6) and maps.studio.shape[:2] == (3, 2)
    assert maps.phone.dtype == np.float16 and len(list(tmp_path.glob("maps-*.npz"))) == 1
    again, _ = _maps(weights, tmp_path)                     # read back from the cache
    assert np.array_equal(again.phone, maps.phone) and np.array_equal(again.studio, maps.studio)
    held = maps.without(np.array([1]))
    assert 1 not in held.phone_labels and 1 not in held.studio_labels
    assert held.phone.shape[1] == 4 and held.studio.shape[0] == 2


def test_two_domain_fine_tune_changes_only_the_last_blocks_and_a_zero_blend_is_imagenet(weights, tmp_path):
    from converters.vision.twodomain import finetune_two_domain, split_teacher

    maps, recipe = _maps(weights, tmp_path)
    trunk, raw = split_teacher(recipe.trunk, weights)
    tuned = finetune_two_domain(maps.without(np.array([2])), recipe, 1.0, weights)
    blended = finetune_two_domain(maps, recipe, 0.0, weights)
    first = recipe.trunk
    assert all(torch.equal(a, b) for a, b in zip(tuned[:first].state_dict().values(), trunk.state_dict().values()))
    assert not all(torch.equal(a, b) for a, b in zip(tuned[first:].state_dict().values(), raw.state_dict().values()))
    assert all(torch.allclose(a.float(), b.float()) for a, b in zip(blended[first:].state_dict().values(),
                                                                   raw.state_dict().values()))
    assert tuned(torch.zeros(1, 3, 48, 48)).shape[1] == 1280


def test_leave_one_out_recall_scores_each_catalog_photo_against_its_sku_without_itself():
    from converters.vision.twodomain import sku_recall

    catalog = np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1], [0.9, 0.2]])
    labels = np.array([0, 0, 1, 1, 1])   # the last photo looks like SKU 0
    assert sku_recall(catalog, labels, catalog, labels)["recall@1"] < 1
    loo = sku_recall(catalog, labels, catalog, labels, leave_one_out=True)
    assert loo["recall@1"] == 0.8        # the outlier is found under SKU 0 once its own vector is removed


def test_the_fusion_weight_is_chosen_on_the_validation_scores():
    from converters.vision.studio import choose_weight, fuse, validation_split

    truth = np.array([0, 1, 0, 1])
    right = np.eye(2)[truth] * 0.2             # small margins, always right
    wrong = np.eye(2)[1 - truth]               # large margins, always wrong
    weight, table = choose_weight([(right, wrong, truth)])
    assert table[1.0] == 1.0 and table[0.0] == 0.0 and weight == 1.0
    assert np.allclose(fuse(right, wrong, 0.25), 0.25 * right + 0.75 * wrong)
    catalog, queries = validation_split(np.array([0] * 8 + [1] * 4))
    assert len(queries) == 3 and not set(catalog) & set(queries) and len(catalog) + len(queries) == 12


def test_map_augment_crops_and_mirrors_each_map_inside_its_bounds():
    from converters.vision.twodomain import map_augment

    x = torch.arange(2 * 1 * 9 * 9, dtype=torch.float32).view(2, 1, 9, 9)
    out = map_augment(x, np.random.default_rng(1), keep=0.75)
    assert out.shape[:2] == (2, 1) and 7 <= out.shape[-1] <= 9 and 7 <= out.shape[-2] <= 9
    for i in range(2):
        values = set(out[i].flatten().tolist())
        assert values <= set(x[i].flatten().tolist())   # every value comes from the sample's own map


def test_without_views_the_photos_train_on_their_serving_crops(weights, tmp_path):
    from converters.vision.twodomain import TwoDomainRecipe, _forward_maps, build_maps, split_teacher

    rng = np.random.default_rng(2)
    serving = rng.integers(0, 255, (4, 48, 48, 3), dtype=np.uint8)
    recipe = TwoDomainRecipe(size=48, phone_views=0, studio_views=0)
    trunk, _ = split_teacher(recipe.trunk, weights)
    maps = build_maps(trunk, serving, np.array([0, 0, 1, 1]), None, None, recipe, None, serving)
    assert maps.phone.shape[0] == 1 and maps.studio is None
    assert np.array_equal(maps.phone[0], _forward_maps(trunk, serving))
