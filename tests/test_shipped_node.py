"""The node as shipped: the default bundle in models_lite/ verifies, both its runtimes agree, and a demo
node built by `init --demo` finds products from photos it has never seen.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edge.paths import models_lite_dir

MODELS = models_lite_dir()
VISION = MODELS / "storefront-vision"
GROCERY = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "grocery-store"
pytestmark = pytest.mark.skipif(not (VISION / "manifest.sig").is_file(), reason="no shipped vision bundle in models_lite/")


def _manifest_and_key():
    from edge.bundles.signing import trusted_keys
    from edge.bundles.verify import verify_bundle

    return verify_bundle(VISION, trusted_keys(MODELS / "keys"))


def test_shipped_bundle_verifies_with_the_shipped_key_and_fits_the_budget():
    manifest, _ = _manifest_and_key()
    onnx = manifest.models["vision_embedder"]
    assert onnx.runtime == "onnx" and (VISION / onnx.file).stat().st_size <= 5 * 1024 * 1024
    assert "visual_search" in manifest.plugins
    assert manifest.metrics and manifest.recipe


def _demo_photo():
    import cv2

    path = sorted((MODELS / "demo_catalog" / "images").rglob("*.jpg"))[0]
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_onnx_and_litert_runtimes_agree_on_a_real_photo():
    from edge.runtime import load_model
    from plugins.visual_search.imaging import Preprocess, to_input

    manifest, _ = _manifest_and_key()
    embeddings = {}
    for name in ("vision_embedder", "vision_embedder_tflite"):
        entry = manifest.models[name]
        model = load_model(name, VISION / entry.file, entry.runtime)
        assert model.runtime == entry.runtime
        pixels = to_input(_demo_photo(), Preprocess.from_manifest(entry.preprocess))
        embeddings[name] = model.run({"image": pixels})["embedding"][0]
    a, b = embeddings.values()
    assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) > 0.9


@pytest.fixture(scope="module")
def demo_node(tmp_path_factory):
    """A node set up exactly as `make run` does (init --demo), served through the Flask test client."""
    from edge.app import create_app
    from edge.cli.main import cli

    data = tmp_path_factory.mktemp("shipped") / "var"
    result = CliRunner().invoke(cli, ["--data-dir", str(data), "init", "--demo"])
    assert result.exit_code == 0, result.output
    app = create_app({"DATA_DIR": str(data), "PLUGINS": ["catalog", "visual_search"]})
    client = app.test_client()
    for _ in range(600):  # the index builds in the background; bounded wait
        if client.get("/readyz").status_code == 200:
            break
        time.sleep(0.2)
    yield client
    app.extensions["storefront_edge"].close()


def _search(client, jpeg: bytes, k: int = 5) -> list[str]:
    response = client.post(f"/v1/visual-search?k={k}", data=jpeg, content_type="image/jpeg")
    assert response.status_code == 200, response.get_json()
    return [item["sku"] for item in response.get_json()["items"]]


def test_demo_node_is_ready_with_the_shipped_bundle(demo_node):
    report = demo_node.get("/readyz").get_json()
    assert report["ready"] is True, report
    name = _manifest_and_key()[0].name
    assert report["bundles"][name]["version"] == _manifest_and_key()[0].version
    assert report["plugins"]["visual_search"]["models"]["vision_embedder"]["bundle"] == name


@pytest.mark.skipif(not GROCERY.is_dir(), reason="../shared/datasets/grocery-store is absent")
def test_demo_node_finds_products_from_unseen_photos(demo_node):
    import csv

    with open(GROCERY / "classes.csv", newline="") as handle:
        names = {row["Class ID (int)"]: row["Class Name (str)"] for row in csv.DictReader(handle)}
    lines = [line.split(",") for line in (GROCERY / "val.txt").read_text().splitlines() if line.strip()]
    sample = lines[::6]  # about 50 held-back photos, spread over the classes
    hits1 = hits5 = 0
    for path, fine, _ in sample:
        found = _search(demo_node, (GROCERY / path.strip()).read_bytes())
        hits1 += found[:1] == [names[fine.strip()]]
        hits5 += names[fine.strip()] in found
    assert hits1 / len(sample) >= 0.7 and hits5 / len(sample) >= 0.9, (hits1, hits5, len(sample))  # all 296: 0.855 and 0.976 (bundle 1.3.0)
