"""Visual search: a tiny real ONNX embedder in a signed bundle, a catalog of coloured JPEGs, a real store.

The embedder averages each colour channel and projects the three means to 8 dimensions, so a photo's
embedding points the way of its colour: a red query must find the red item.
"""

from __future__ import annotations

import re

import csv
import io
import json
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from tests import builders

CLIENT = "client-key-for-visual-search"
PREPROCESS = {"size": 32, "resize": 36, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
              "layout": "NCHW", "color": "RGB"}
# BGR colours (OpenCV order)
COLOURS = {"red": (0, 0, 230), "green": (0, 200, 0), "blue": (230, 0, 0), "yellow": (0, 220, 230),
           "orange": (0, 140, 255), "maroon": (30, 20, 170), "magenta": (230, 0, 230)}
ITEMS = [  # sku, title, description, price, category, in_stock, colour
    ("RED-1", "Red apple", "A crisp red apple", 1.0, "fruit", 1, "red"),
    ("GREEN-1", "Green pear", "A juicy green pear", 1.5, "fruit", 1, "green"),
    ("BLUE-1", "Blue mug", "A ceramic blue mug for coffee", 8.0, "home", 1, "blue"),
    ("YELLOW-1", "Yellow banana", "A ripe banana", 0.5, "fruit", 1, "yellow"),
    ("ORANGE-1", "Orange juice", "Fresh orange juice", 3.0, "drinks", 0, "orange"),
] + [(f"MAROON-{n}", f"Maroon box {n}", "A plain box", 2.0 + n, "misc", 1, "maroon") for n in range(30)]


# -- builders ------------------------------------------------------------------------------------
def tiny_embedder(path: Path, seed: int = 0, dims: int = 8) -> Path:
    """ONNX: ``image`` float32 [N,3,32,32] → channel means → MatMul [3, dims] → L2 normalised ``embedding``."""
    import onnx
    from onnx import TensorProto, helper

    weights = np.eye(3, dims, dtype=np.float32) + np.random.default_rng(seed).normal(0, 0.05, (3, dims)).astype(np.float32)
    nodes = [helper.make_node("ReduceMean", ["image"], ["means"], axes=[2, 3], keepdims=0),
             helper.make_node("MatMul", ["means", "weights"], ["projected"]),
             helper.make_node("LpNormalization", ["projected"], ["embedding"], axis=1, p=2)]
    graph = helper.make_graph(
        nodes, "tiny_embedder",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", dims])],
        [helper.make_tensor("weights", TensorProto.FLOAT, [3, dims], weights.flatten().tolist())],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def embedder_bundle(folder: Path, private_key: Path, version: str = "1.0.0", with_model: bool = True, seed: int = 0) -> Path:
    """A signed bundle with ``vision_embedder`` (or only the tiny ``doubler`` when ``with_model`` is false)."""
    from edge.bundles.builder import build_manifest
    from edge.bundles.signing import sign_bundle

    models = {"doubler": {"file": "doubler.onnx", "runtime": "onnx"}}
    if with_model:
        tiny_embedder(folder / "embedder.onnx", seed)
        models["vision_embedder"] = {"file": "embedder.onnx", "runtime": "onnx", "preprocess": PREPROCESS}
    builders.bundle_source(folder, version=version, name="vision-test", models=models)
    build_manifest(folder)
    sign_bundle(folder, private_key)
    return folder


def colour_jpeg(colour: str, width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    """A JPEG of one colour with a little noise."""
    import cv2

    noise = np.random.default_rng(seed).integers(-10, 10, (height, width, 3))
    image = np.clip(np.array(COLOURS[colour])[None, None, :] + noise, 0, 255).astype(np.uint8)
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def write_catalog(folder: Path, items) -> Path:
    """A catalog CSV with one JPEG per item, in the importer's format."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "catalog.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "title", "description", "price", "currency", "category", "in_stock", "images"])
        for n, (sku, title, description, price, category, in_stock, colour) in enumerate(items):
            (folder / f"{sku}.jpg").write_bytes(colour_jpeg(colour, seed=n))
            writer.writerow([sku, title, description, price, "EUR", category, in_stock, f"{sku}.jpg"])
    return folder / "catalog.csv"


def import_items(node, folder: Path, items) -> int:
    from plugins.catalog.importer import import_catalog

    return import_catalog(node.db(), write_catalog(folder, items), node.data_dir / "media" / "catalog")


def png_bomb(width: int = 50_000, height: int = 50_000) -> bytes:
    """A small PNG whose header claims ``width`` x ``height`` pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b"")


def wait_for(condition, timeout: float = 30.0, interval: float = 0.02):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture
def app_config(data_dir) -> dict:
    """Overrides the shared fixture: the shared ``app`` and ``node`` fixtures serve catalog and visual search."""
    return {"DATA_DIR": str(data_dir), "PLUGINS": ["catalog", "visual_search"], "CLIENT_KEY": CLIENT,
            "ADMIN_KEY": "admin-key-for-visual-search",
            "PLUGIN_CONFIG": {"visual_search": {"poll_ms": 20, "trees": 5, "candidates": 10}}}


@pytest.fixture
def headers() -> dict:
    return {"Authorization": f"Bearer {CLIENT}"}


def indexer(node):
    from plugins.visual_search.plugin import indexer_for

    return indexer_for(node)


@pytest.fixture
def ready_node(node, tmp_path, signing_key):
    """The node with the catalog imported, the embedder bundle active and the first index served."""
    import_items(node, tmp_path / "catalog", ITEMS)
    node.registry.install(embedder_bundle(tmp_path / "bundle-1", signing_key))
    node.watcher.refresh()
    wait_for(lambda: indexer(node).current is not None)
    return node


@pytest.fixture
def client(app, ready_node):
    return app.test_client()


def search_image(client, headers, image: bytes, mimetype: str = "image/jpeg", **params):
    return client.post("/v1/visual-search", data=image, content_type=mimetype, query_string=params, headers=headers)


def skus(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [item["sku"] for item in response.get_json()["items"]]


# -- searching -----------------------------------------------------------------------------------
def test_red_photo_finds_the_red_item_first(client, headers):
    response = search_image(client, headers, colour_jpeg("red", 320, 240, seed=99), k=3)
    body = response.get_json()
    assert skus(response)[0] == "RED-1"
    assert len(body["items"]) == 3 and body["bundle"] == "1.0.0"
    first = body["items"][0]
    assert re.fullmatch(r"/v1/catalog/images/RED-1/[0-9a-f]{16}/0\.jpg", first["image_url"]) and first["price"] == 1.0 and first["currency"] == "EUR"
    assert first["score"] > body["items"][1]["score"]
    assert set(body["timings_ms"]) == {"decode", "model", "index", "total"}
    assert body["timings_ms"]["total"] >= body["timings_ms"]["model"] > 0


@pytest.mark.parametrize("colour, sku", [("green", "GREEN-1"), ("blue", "BLUE-1"), ("yellow", "YELLOW-1")])
def test_each_colour_finds_its_item_as_multipart_png_and_webp(client, headers, colour, sku):
    import cv2

    image = cv2.imdecode(np.frombuffer(colour_jpeg(colour, 80, 60), np.uint8), cv2.IMREAD_COLOR)
    png = cv2.imencode(".png", image)[1].tobytes()
    webp = cv2.imencode(".webp", image)[1].tobytes()
    multipart = client.post("/v1/visual-search", data={"image": (io.BytesIO(png), "photo.png"), "k": "2"}, headers=headers)
    assert skus(multipart)[0] == sku and len(skus(multipart)) == 2
    assert skus(search_image(client, headers, webp, "image/webp"))[0] == sku


def test_text_query_fuses_with_the_image_ranking(client, headers):
    orange = colour_jpeg("orange", seed=5)
    by_image = skus(search_image(client, headers, orange))
    assert by_image[0] == "ORANGE-1" and by_image.index("RED-1") >= 2
    fused = search_image(client, headers, orange, q="apple")
    assert skus(fused)[:2] == ["RED-1", "ORANGE-1"]
    assert fused.get_json()["items"][0]["score"] == pytest.approx(1 / 61 + 1 / (60 + by_image.index("RED-1") + 1), abs=1e-6)
    multipart = client.post("/v1/visual-search", data={"image": (io.BytesIO(orange), "a.jpg"), "q": "apple"}, headers=headers)
    assert skus(multipart)[:2] == ["RED-1", "ORANGE-1"]


def test_text_only_search_by_json_and_by_query_argument(client, headers):
    by_json = client.post("/v1/visual-search", json={"q": "juicy pear", "k": 5}, headers=headers)
    assert skus(by_json)[0] == "GREEN-1"
    assert by_json.get_json()["timings_ms"]["model"] == 0
    by_args = client.post("/v1/visual-search?q=coffee", headers=headers)
    assert skus(by_args) == ["BLUE-1"]
    by_form = client.post("/v1/visual-search", data={"q": "ceramic mug", "category": "home"}, headers=headers)
    assert skus(by_form) == ["BLUE-1"]
    assert skus(client.post("/v1/visual-search", json={"q": '"unbalanced AND (NEAR* -'}, headers=headers)) == []


def test_filters_apply_to_image_and_text_rankings(client, headers):
    red = colour_jpeg("red", seed=7)
    cheap = skus(search_image(client, headers, red, max_price=1.2, k=10))
    assert cheap[0] == "RED-1" and set(cheap) == {"RED-1", "YELLOW-1"}
    fruit = skus(search_image(client, headers, red, category="fruit", min_price=0.8, k=10))
    assert set(fruit) == {"RED-1", "GREEN-1"}
    assert "ORANGE-1" not in skus(search_image(client, headers, red, in_stock="true", k=50))
    assert skus(search_image(client, headers, red, in_stock="false")) == ["ORANGE-1"]
    assert skus(client.post("/v1/visual-search", json={"q": "fruit OR apple OR pear", "category": "home"}, headers=headers)) == []


def test_a_selective_filter_finds_far_items_beyond_the_ann_candidates(client, headers):
    # candidates=10: the 20 nearest images of a red photo are the 30 maroon boxes and the apple, never the mug
    assert skus(search_image(client, headers, colour_jpeg("red"), category="home")) == ["BLUE-1"]


def test_an_imported_item_becomes_findable_without_a_restart(client, headers, ready_node, tmp_path):
    before = indexer(ready_node).current.name
    assert skus(search_image(client, headers, colour_jpeg("magenta")))[0] != "PURPLE-1"
    import_items(ready_node, tmp_path / "more", [("PURPLE-1", "Purple plum", "A plum", 2.5, "fruit", 1, "magenta")])
    wait_for(lambda: indexer(ready_node).current.name != before)
    assert skus(search_image(client, headers, colour_jpeg("magenta", seed=3)))[0] == "PURPLE-1"
    assert skus(client.post("/v1/visual-search", json={"q": "plum"}, headers=headers)) == ["PURPLE-1"]
    cache = ready_node.data_dir / "cache" / "visual_search"
    assert (cache / f"{indexer(ready_node).current.name}.ann").is_file()
    assert indexer(ready_node).current.name.startswith("vision_embedder-1.0.0@default-")


def test_a_second_worker_maps_the_built_index_instead_of_building(app_config, ready_node):
    from edge.app import create_app

    name = indexer(ready_node).current.name
    ann = ready_node.data_dir / "cache" / "visual_search" / f"{name}.ann"
    stamp = ann.stat().st_mtime_ns
    second = create_app(app_config, watch=False)
    try:
        other = second.extensions["storefront_edge"]
        other.watcher.refresh()
        wait_for(lambda: indexer(other).current is not None)
        assert indexer(other).current.name == name and ann.stat().st_mtime_ns == stamp
        response = search_image(second.test_client(), {"Authorization": f"Bearer {CLIENT}"}, colour_jpeg("blue"))
        assert skus(response)[0] == "BLUE-1"
    finally:
        second.extensions["storefront_edge"].close()


def test_a_worker_that_has_not_polled_yet_answers_from_the_index_another_worker_built(ready_node):
    from plugins.visual_search.indexer import Indexer

    idle = Indexer(ready_node, ready_node.plugin_config("visual_search"))  # its poll thread never ran
    assert idle.current is None
    assert idle.health()[0], "the readiness gate of every plugin route asks health() first"
    assert idle.current.name == indexer(ready_node).current.name and idle.serving() is idle.current


def test_a_search_waits_for_its_workers_poll_that_is_loading_the_index(ready_node):
    import threading
    import time

    from plugins.visual_search.indexer import Indexer

    idle = Indexer(ready_node, ready_node.plugin_config("visual_search"))
    idle._poll_lock.acquire()  # the worker's poll thread, in the middle of loading the index

    def finish_loading():
        time.sleep(0.2)
        idle._swap(idle.target())
        idle._poll_lock.release()

    loader = threading.Thread(target=finish_loading)
    loader.start()
    try:
        assert idle.serving() is not None, "a search right after start-up is answered, not refused with 503"
    finally:
        loader.join()


def test_a_target_worked_out_on_a_request_thread_does_not_hide_a_catalog_change_from_the_poll_thread(ready_node):
    """``PRAGMA data_version`` is per connection: a version read on a request thread's connection must not be
    compared with the poll thread's, or a catalog change made in between is missed until the next one."""
    import threading

    from plugins.visual_search.indexer import Indexer

    idle = Indexer(ready_node, ready_node.plugin_config("visual_search"))
    targets = {}

    def work_out_on_a_new_thread(name):  # a new thread opens a connection of its own
        thread = threading.Thread(target=lambda: targets.update({name: idle.target()}))
        thread.start()
        thread.join()

    work_out_on_a_new_thread("request")
    db = ready_node.db()
    first = db.conn.execute("select id from catalog_items where store = 'default' order by rowid limit 1").fetchone()[0]
    with db.conn:
        db.conn.execute("update catalog_items set images = '[]' where id = ?", [first])
    work_out_on_a_new_thread("poll")
    assert targets["poll"].name != targets["request"].name


def test_a_new_bundle_gets_its_own_index_while_the_old_one_keeps_answering(client, headers, ready_node, tmp_path, signing_key):
    ready_node.registry.install(embedder_bundle(tmp_path / "bundle-2", signing_key, version="2.0.0", seed=1))
    ready_node.watcher.refresh()
    assert search_image(client, headers, colour_jpeg("red")).status_code == 200  # never a 503 during the rebuild
    wait_for(lambda: indexer(ready_node).current.bundle.version == "2.0.0")
    response = search_image(client, headers, colour_jpeg("red"))
    assert skus(response)[0] == "RED-1" and response.get_json()["bundle"] == "2.0.0"


# -- readiness -----------------------------------------------------------------------------------
def test_503_json_while_the_active_bundle_lacks_the_model(app, node, tmp_path, signing_key, headers):
    client = app.test_client()
    node.registry.install(embedder_bundle(tmp_path / "plain", signing_key, with_model=False))
    node.watcher.refresh()
    response = search_image(client, headers, colour_jpeg("red"))
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "plugin_not_ready" and "vision_embedder" in " ".join(error["details"])
    ready = client.get("/readyz").get_json()
    assert ready["plugins"]["visual_search"]["ready"] is False


def test_not_ready_before_any_bundle_and_ready_after(app, node, tmp_path, signing_key, headers):
    client = app.test_client()
    assert client.post("/v1/visual-search", json={"q": "apple"}, headers=headers).status_code == 503
    import_items(node, tmp_path / "catalog", ITEMS[:3])
    node.registry.install(embedder_bundle(tmp_path / "b", signing_key))
    node.watcher.refresh()
    wait_for(lambda: client.post("/v1/visual-search", json={"q": "apple"}, headers=headers).status_code == 200)
    assert client.get("/readyz").get_json()["plugins"]["visual_search"]["ready"] is True


def test_the_route_needs_the_client_key(client):
    response = client.post("/v1/visual-search", json={"q": "apple"})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "missing_key"


# -- bad input -----------------------------------------------------------------------------------
def _truncated_jpeg() -> bytes:
    data = colour_jpeg("red", 200, 150)
    return data[: len(data) - 300]


def _claims_7000_square() -> bytes:
    """A JPEG whose header says 7000x7000 but whose scan stops after 15 KB."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (7000, 7000), (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()[:15_000]


def _gif() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(out, format="GIF")
    return out.getvalue()


BAD_BODIES = [
    ("zero bytes", b"", "image/jpeg", 400, "empty_image"),
    ("not an image", b"hello, this is text and not a photo", "image/jpeg", 400, "not_an_image"),
    ("truncated jpeg", None, "image/jpeg", 400, "corrupt_image"),
    ("header only jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg", 400, "corrupt_image"),
    ("jpeg claiming 7000x7000 over a 15 KB scan", None, "image/jpeg", 400, "corrupt_image"),
    ("json nested 10,000 deep", b"[" * 10_000 + b"]" * 10_000, "application/json", 400, "too_deep"),
    ("json with NaN", b'{"q": "milk", "k": NaN}', "application/json", 400, "non_finite_number"),
    ("json k past 64 bits", b'{"q": "milk", "k": 18446744073709551616}', "application/json", 400, "number_out_of_range"),
    ("decompression bomb", None, "image/png", 413, "image_too_large"),
    ("gif", None, "image/gif", 415, "unsupported_media_type"),
    ("gif sent as jpeg", None, "image/jpeg", 415, "unsupported_image_format"),
    ("wrong content type", b"\xff\xd8\xff\xe0", "text/plain", 415, "unsupported_media_type"),
    ("octet stream", colour_jpeg("red"), "application/octet-stream", 415, "unsupported_media_type"),
    ("malformed json", b"{not json", "application/json", 400, "malformed_json"),
    ("json list", b"[1, 2]", "application/json", 400, "malformed_json"),
]


@pytest.mark.parametrize("case, body, mimetype, status, code", BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_bodies_get_a_4xx_json_error_and_the_node_keeps_serving(client, headers, ready_node, case, body, mimetype, status, code):
    body = {"truncated jpeg": _truncated_jpeg, "decompression bomb": png_bomb, "gif": _gif,
            "jpeg claiming 7000x7000 over a 15 KB scan": _claims_7000_square,
            "gif sent as jpeg": _gif}.get(case, lambda: body)()
    count = ready_node.db()["catalog_items"].count
    response = search_image(client, headers, body, mimetype)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == code
    assert ready_node.db()["catalog_items"].count == count
    assert skus(search_image(client, headers, colour_jpeg("red")))[0] == "RED-1"


BAD_PARAMS = [
    ("k zero", {"k": "0"}, 422, "invalid_request"),
    ("k too big", {"k": "101"}, 422, "invalid_request"),
    ("k not a number", {"k": "many"}, 422, "invalid_request"),
    ("negative price", {"min_price": "-1"}, 422, "invalid_request"),
    ("k past 64 bits", {"k": "18446744073709551616"}, 422, "invalid_request"),
    ("infinite price", {"max_price": "inf"}, 422, "invalid_request"),
    ("NaN price", {"min_price": "nan"}, 422, "invalid_request"),
    ("price past a double", {"max_price": "1e400"}, 422, "invalid_request"),
    ("price past the bound", {"max_price": "1e13"}, 422, "invalid_request"),
    ("inverted price range", {"min_price": "5", "max_price": "1"}, 422, "invalid_request"),
    ("in_stock not a bool", {"in_stock": "perhaps"}, 422, "invalid_request"),
    ("unknown field", {"colour": "red"}, 422, "invalid_request"),
]


@pytest.mark.parametrize("case, params, status, code", BAD_PARAMS, ids=[c[0] for c in BAD_PARAMS])
def test_bad_parameters_get_422(client, headers, case, params, status, code):
    response = search_image(client, headers, colour_jpeg("red"), **params)
    assert response.status_code == status and response.get_json()["error"]["code"] == code
    multipart = client.post("/v1/visual-search", data={"image": (io.BytesIO(colour_jpeg("red")), "a.jpg"), **params}, headers=headers)
    assert multipart.status_code == status


def test_requests_without_anything_to_search_get_400(client, headers):
    for response in (client.post("/v1/visual-search", headers=headers),
                     client.post("/v1/visual-search", json={"k": 3}, headers=headers),
                     client.post("/v1/visual-search", data={"q": "  "}, headers=headers)):
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "nothing_to_search"
    for mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        as_field = client.post("/v1/visual-search", data={"image": "not a file"}, content_type=mimetype, headers=headers)
        assert as_field.status_code == 400 and as_field.get_json()["error"]["code"] == "image_not_a_file"
    empty_part = client.post("/v1/visual-search", data={"image": (io.BytesIO(b""), "a.jpg")}, headers=headers)
    assert empty_part.status_code == 400 and empty_part.get_json()["error"]["code"] == "empty_image"


def test_a_body_over_the_size_limit_gets_413(app_config, ready_node, headers):
    from edge.app import create_app

    small = create_app({**app_config, "MAX_CONTENT_LENGTH": 2000}, watch=False)
    try:
        response = search_image(small.test_client(), headers, colour_jpeg("red", 400, 300, seed=1) * 3)
        assert response.status_code == 413 and response.get_json()["error"]["code"] == "request_entity_too_large"
    finally:
        small.extensions["storefront_edge"].close()


# -- decoding ------------------------------------------------------------------------------------
def test_large_jpegs_are_decoded_at_reduced_size_and_preprocessed_from_the_manifest():
    import cv2

    from plugins.visual_search.imaging import Preprocess, decode, header_size, reduced_flag, to_input

    assert reduced_flag("JPEG", 4000, 3000, 256) == cv2.IMREAD_REDUCED_COLOR_8
    assert reduced_flag("JPEG", 1600, 1200, 256) == cv2.IMREAD_REDUCED_COLOR_4
    assert reduced_flag("JPEG", 300, 300, 256) == cv2.IMREAD_COLOR
    assert reduced_flag("PNG", 4000, 3000, 256) == cv2.IMREAD_COLOR
    photo = colour_jpeg("green", 2000, 1500)
    assert header_size(photo, 10**8) == ("JPEG", 2000, 1500)
    decoded = decode(photo, 10**8, 256)
    assert decoded.shape == (375, 500, 3)
    recipe = Preprocess.from_manifest({**PREPROCESS, "size": 224, "resize": 256})
    batch = to_input(decoded, recipe)
    assert batch.shape == (1, 3, 224, 224) and batch.dtype == np.float32
    green = (200 / 255 - 0.456) / 0.224
    assert abs(float(batch[0, 1].mean()) - green) < 0.1  # RGB order: channel 1 is green
    nhwc = to_input(decoded, Preprocess.from_manifest({**PREPROCESS, "layout": "NHWC"}))
    assert nhwc.shape == (1, 32, 32, 3)
    with pytest.raises(ValueError):
        Preprocess.from_manifest({"size": 224})


def test_a_jpeg_over_max_pixels_is_refused_from_its_header():
    from edge.errors import PayloadTooLarge
    from plugins.visual_search.imaging import header_size

    with pytest.raises(PayloadTooLarge) as caught:
        header_size(colour_jpeg("red", 400, 300), max_pixels=100_000)
    assert caught.value.details == {"width": 400, "height": 300, "max_pixels": 100_000}


def test_rrf_fusion_and_fts_queries():
    from plugins.visual_search.search import fts_query, fuse

    fused = fuse([["a", "b", "c"], ["c", "d"]], rrf_k=60)
    assert [s for s, _ in fused][:2] == ["c", "a"]
    assert fts_query('red "apple" NEAR(') == '"red" OR "apple" OR "NEAR"'
    assert fts_query("  ,, ") is None


def test_fts_triggers_are_restored_after_a_transform(node, tmp_path):
    from plugins.visual_search.schema import TRIGGERS, ensure_fts

    import_items(node, tmp_path / "catalog", ITEMS[:2])
    db = node.db()
    db["catalog_items"].transform(types={"in_stock": int})  # sqlite-utils drops every trigger of the table
    assert not set(TRIGGERS) & {t.name for t in db["catalog_items"].triggers}
    assert ensure_fts(db) is True
    db["catalog_items"].update("default/RED-1", {"description": "now with cinnamon"})
    hits = db.execute("select rowid from catalog_items_fts where catalog_items_fts match 'cinnamon'").fetchall()
    assert len(hits) == 1 and ensure_fts(db) is False
    assert json.loads(db["catalog_items"].get("default/RED-1")["images"]) == ["RED-1/0.jpg"]


# -- real server ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_two_gunicorn_workers_build_the_index_once_and_both_serve(app_config, tmp_path, signing_key):
    import requests

    from edge.app import create_app
    from tests.servers import gunicorn_node

    setup = create_app(app_config, watch=False)
    node = setup.extensions["storefront_edge"]
    import_items(node, tmp_path / "catalog", ITEMS)
    node.registry.install(embedder_bundle(tmp_path / "bundle", signing_key))
    node.close()
    env = {"STOREFRONT_EDGE_PLUGINS": "catalog,visual_search", "STOREFRONT_EDGE_CLIENT_KEY": CLIENT,
           "STOREFRONT_EDGE_ADMIN_KEY": "admin-key-for-visual-search", "STOREFRONT_EDGE_PLUGIN_CONFIG__visual_search__poll_ms": "50"}
    log = tmp_path / "server.log"
    with gunicorn_node(Path(app_config["DATA_DIR"]), env=env, workers=2, log=log) as (base, _server_pid):
        answers, deadline = [], time.monotonic() + 60
        while sum(a.status_code == 200 for a in answers) < 12 and time.monotonic() < deadline:
            answers.append(requests.post(f"{base}/v1/visual-search", data=colour_jpeg("blue", seed=len(answers)), timeout=10,
                                         headers={"Content-Type": "image/jpeg", "Authorization": f"Bearer {CLIENT}"}))
    # /readyz answered 200 from one worker; the other may still be mapping the index: it says so in JSON
    waiting = [a for a in answers if a.status_code != 200]
    assert all(a.status_code == 503 and a.json()["error"]["code"] == "plugin_not_ready" for a in waiting)
    served = [a for a in answers if a.status_code == 200]
    assert len(served) == 12 and all(a.json()["items"][0]["sku"] == "BLUE-1" for a in served)
    cache = Path(app_config["DATA_DIR"]) / "cache" / "visual_search"
    assert len(list(cache.glob("*.ann"))) == 1
    assert log.read_text().count("built visual index") == 1


def test_a_bundle_whose_preprocess_does_not_fit_its_model_is_reported_not_ready(app, node, tmp_path, signing_key, headers, monkeypatch):
    monkeypatch.setitem(PREPROCESS, "size", 48)  # the model wants 32 x 32
    import_items(node, tmp_path / "catalog", ITEMS[:2])
    node.registry.install(embedder_bundle(tmp_path / "misfit", signing_key))
    node.watcher.refresh()
    wait_for(lambda: "failed" in indexer(node).problem)
    response = app.test_client().post("/v1/visual-search", data=colour_jpeg("red"), content_type="image/jpeg", headers=headers)
    assert response.status_code == 503 and "failed" in " ".join(response.get_json()["error"]["details"])


def test_a_store_without_an_index_yet_does_not_hold_up_another_stores_searches(tmp_path, data_dir, signing_key, monkeypatch):
    from edge.app import create_app
    from plugins.visual_search.indexer import Indexer

    built = Indexer.build

    def build_all_but_south(self, target):
        if self.store == "south":
            raise RuntimeError("south's images are still being copied")
        return built(self, target)

    monkeypatch.setattr(Indexer, "build", build_all_but_south)
    config = {"DATA_DIR": str(data_dir), "PLUGINS": ["catalog", "visual_search"], "STORES": "north,south",
              "CLIENT_KEY": CLIENT, "PLUGIN_CONFIG": {"visual_search": {"poll_ms": 20, "trees": 5, "candidates": 10}}}
    app = create_app(config, watch=False)
    node = app.extensions["storefront_edge"]
    try:
        from plugins.catalog.importer import import_catalog

        for store in ("north", "south"):
            import_catalog(node.db(), write_catalog(tmp_path / store, ITEMS[:4]), node.data_dir / "media" / "catalog", store)
        node.registry.install(embedder_bundle(tmp_path / "bundle-1", signing_key))
        node.watcher.refresh()
        indexers = indexer(node)
        wait_for(lambda: indexers.stores["north"].current is not None and "failed" in indexers.stores["south"].problem)
        client, headers = app.test_client(), {"Authorization": f"Bearer {CLIENT}"}
        north = client.post("/v1/stores/north/visual-search", data=colour_jpeg("red"), content_type="image/jpeg", headers=headers)
        assert skus(north)[0] == "RED-1"
        south = client.post("/v1/stores/south/visual-search", data=colour_jpeg("red"), content_type="image/jpeg", headers=headers)
        assert south.status_code == 503 and south.get_json()["error"]["code"] == "plugin_not_ready"
        assert "still being copied" in json.dumps(south.get_json())
        ready = node.readiness()["plugins"]["visual_search"]
        assert not ready["ready"] and any("south" in reason for reason in ready["reasons"])
    finally:
        node.close()


def test_a_reopened_connection_does_not_hide_a_catalog_change_made_before_it_opened(ready_node):
    """Two fresh connections both report ``data_version`` 1 whatever was committed between them, and a closed
    connection's ``id`` may come back for the next one: the cached fingerprint must not be keyed by it."""
    import sqlite3

    from plugins.visual_search.indexer import Indexer

    idle = Indexer(ready_node, ready_node.plugin_config("visual_search"))
    store, reused = ready_node.store, False
    for attempt in range(50):
        store.close()
        before = idle.target().name
        seen = id(ready_node.db().conn)
        with sqlite3.connect(store.path) as other:  # another process's write
            other.execute("update catalog_items set images = images || ' ' where store = 'default'")
        store.close()
        if id(ready_node.db().conn) == seen:
            reused = True
            assert idle.target().name != before, attempt
    if not reused:
        pytest.skip("no connection id came back in 50 reopenings")
