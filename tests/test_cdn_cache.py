"""A real HTTP cache in front of real nodes: Debian's nginx with the shipped ``deploy/nginx-cdn.conf``
(``proxy_cache``) before gunicorn nodes of two stores on loopback.

A second read of a catalog page and of an image is answered by the cache (the node's request counter
does not move); a catalog update shows after the documented max-age; a key never gets an entry made for
another key or store, and a request without a key never gets a cached answer; two nodes synced with one
hub answer the same catalog with the same ETags.
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from edge.app import create_app
from plugins.catalog.importer import import_catalog
from tests.cdn_cache import nginx_available, nginx_cache, node_requests
from tests.cdn_support import ADMIN, KEYS, bearer, store_config, write_catalog
from tests.servers import gunicorn_node

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not nginx_available(), reason="nginx is not installed (make apt-test)")]
MAX_AGE = 2
LIST, IMAGE = "/v1/catalog/items", "/v1/catalog/images/<sku>/<digest>/<name>"


def node_env(**extra) -> dict:
    env = {"STOREFRONT_EDGE_STORES": "north,south", "STOREFRONT_EDGE_ADMIN_KEY": ADMIN,
           "STOREFRONT_EDGE_PLUGINS": "catalog,events", "STOREFRONT_EDGE_CATALOG_MAX_AGE": str(MAX_AGE),
           "STOREFRONT_EDGE_SYNC_WORKER": "0", **extra}
    env.update({f"STOREFRONT_EDGE_STORE_KEYS__{store}": key for store, key in KEYS.items()})
    return env


def seeded(data_dir, tmp_path):
    """A data folder whose stores hold their catalogs (imported before the node starts)."""
    app = create_app(store_config(data_dir), watch=False)
    node = app.extensions["storefront_edge"]
    media = node.data_dir / "media" / "catalog"
    import_catalog(node.db(), write_catalog(tmp_path / "n", [("A1", "Apple north", 1.0), ("B2", "Bread", 2.0)]), media, "north")
    import_catalog(node.db(), write_catalog(tmp_path / "s", [("A1", "Apple south", 3.0)], colour=(9, 9, 200)), media, "south")
    node.close()
    return data_dir


@pytest.fixture
def cached_node(tmp_path):
    data_dir = seeded(tmp_path / "var", tmp_path)
    with gunicorn_node(data_dir, env=node_env(), ready_status=503, log=tmp_path / "node.log") as (node, _):
        with nginx_cache(tmp_path / "nginx", [node]) as cache:
            yield node, cache, data_dir, tmp_path / "nginx" / "cache"


def test_second_reads_of_a_page_and_an_image_come_from_the_cache(cached_node):
    node, cache, _, _ = cached_node
    url = cache + "/v1/stores/north/catalog/items"
    first = requests.get(url, headers=bearer("north"), timeout=5)
    assert first.status_code == 200 and first.headers["X-Cache-Status"] == "MISS"
    image_url = cache + first.json()["items"][0]["image_urls"][0]
    image = requests.get(image_url, headers=bearer("north"), timeout=5)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    pages, images = node_requests(node, LIST), node_requests(node, IMAGE)
    again = requests.get(url, headers=bearer("north"), timeout=5)
    image_again = requests.get(image_url, headers=bearer("north"), timeout=5)
    assert again.headers["X-Cache-Status"] == "HIT" and again.json() == first.json() and again.headers["ETag"] == first.headers["ETag"]
    assert image_again.headers["X-Cache-Status"] == "HIT" and image_again.content == image.content
    assert (node_requests(node, LIST), node_requests(node, IMAGE)) == (pages, images) == (1, 1)


def test_no_key_and_no_other_stores_key_is_answered_from_a_cached_entry(cached_node):
    node, cache, _, cache_dir = cached_node
    url = cache + "/v1/stores/north/catalog/items"
    for _ in range(2):
        assert requests.get(url, headers=bearer("north"), timeout=5).status_code == 200
    image_url = cache + requests.get(url, headers=bearer("north"), timeout=5).json()["items"][0]["image_urls"][0]
    requests.get(image_url, headers=bearer("north"), timeout=5)
    for target in (url, image_url):
        stranger = requests.get(target, headers=bearer("south"), timeout=5)
        assert stranger.status_code == 403 and stranger.json()["error"]["code"] == "wrong_store"
        assert stranger.headers["X-Cache-Status"] != "HIT" and b"Apple" not in stranger.content
        anonymous = requests.get(target, timeout=5)
        assert anonymous.status_code == 401 and anonymous.headers["X-Cache-Status"] != "HIT"
        forged = requests.get(target, headers={"Authorization": "Bearer guess"}, timeout=5)
        assert forged.status_code == 403
    south = requests.get(cache + "/v1/stores/south/catalog/items", headers=bearer("south"), timeout=5).json()
    assert [i["title"] for i in south["items"]] == ["Apple south"]
    cached_files = [p.read_bytes() for p in cache_dir.rglob("*") if p.is_file()]
    assert cached_files and not any(key.encode() in blob for blob in cached_files for key in (*KEYS.values(), ADMIN))


def test_a_catalog_update_shows_after_the_max_age(cached_node, tmp_path):
    node, cache, data_dir, _ = cached_node
    url = cache + "/v1/stores/north/catalog/items/A1"
    before = requests.get(url, headers=bearer("north"), timeout=5)
    assert before.json()["price"] == 1.0 and before.headers["Cache-Control"] == f"public, max-age={MAX_AGE}, stale-if-error=86400"
    from sqlite_utils import Database

    db = Database(data_dir / "store.db")
    import_catalog(db, write_catalog(tmp_path / "n2", [("A1", "Apple north", 1.25)]), data_dir / "media" / "catalog", "north")
    db.close()
    deadline, seen = time.monotonic() + MAX_AGE + 5, None
    while time.monotonic() < deadline:
        seen = requests.get(url, headers=bearer("north"), timeout=5)
        if seen.json()["price"] == 1.25:
            break
        assert seen.headers["X-Cache-Status"] == "HIT"  # the old answer only while it is fresh
        time.sleep(0.2)
    assert seen.json()["price"] == 1.25 and seen.headers["ETag"] != before.headers["ETag"]
    unchanged = requests.get(cache + "/v1/stores/south/catalog/items/A1", headers=bearer("south"), timeout=5)
    time.sleep(MAX_AGE + 1.5)  # nginx counts whole seconds
    revalidated = requests.get(cache + "/v1/stores/south/catalog/items/A1", headers=bearer("south"), timeout=5)
    assert revalidated.headers["X-Cache-Status"] == "REVALIDATED" and revalidated.json() == unchanged.json()


def test_a_node_outage_keeps_the_cache_serving_what_it_holds_and_nothing_else(tmp_path):
    data_dir = seeded(tmp_path / "var", tmp_path)
    server = gunicorn_node(data_dir, env=node_env(), ready_status=503, log=tmp_path / "node.log")
    node, _ = server.__enter__()
    try:
        with nginx_cache(tmp_path / "nginx", [node]) as cache:
            url = cache + "/v1/stores/north/catalog/items/A1"
            before = requests.get(url, headers=bearer("north"), timeout=5)
            assert before.status_code == 200 and before.headers["X-Cache-Status"] == "MISS"
            server.__exit__(None, None, None)
            server = None
            time.sleep(MAX_AGE + 1.5)  # expired: nginx would revalidate now, and the node is gone
            stale = requests.get(url, headers=bearer("north"), timeout=10)
            assert stale.status_code == 200 and stale.headers["X-Cache-Status"] == "STALE"
            assert stale.json() == before.json() and stale.headers["ETag"] == before.headers["ETag"]
            for target, headers in ((cache + "/v1/stores/south/catalog/items", bearer("south")),
                                    (url, bearer("south")), (url, {}), (url, {"Authorization": "Bearer guess"})):
                answer = requests.get(target, headers=headers, timeout=10)
                assert answer.status_code == 502 and b"Apple" not in answer.content, (target, headers, answer.text)
                assert answer.json()["error"]["code"] == "node_unreachable"
    finally:
        if server is not None:
            server.__exit__(None, None, None)


def test_two_nodes_synced_with_one_hub_answer_the_same_catalog_with_the_same_etags(tmp_path, runner):
    from edge.cli.main import cli
    from edge.sync.worker import sync_once
    from tests.test_sync_support import FlaskTransport, hub_store, make_edge, make_hub, node_of, publish, register

    hub = make_hub(tmp_path / "hub")
    publish(hub, "catalog_items", [{"store": "north", "sku": "A1", "title": "Apple north", "price": 1.0},
                                   {"store": "north", "sku": "B2", "title": "Bread", "price": 2.0},
                                   {"store": "south", "sku": "A1", "title": "Apple south", "price": 3.0}])
    folders = []
    for name in ("pop-1", "pop-2"):
        edge = make_edge(tmp_path / name, register(hub, name, stores="north,south"), STORES="north,south", PLUGINS=["catalog", "events"])
        assert sync_once(node_of(edge), FlaskTransport(hub))["pulled"] == 3
        node_of(edge).close()
        folders.append(tmp_path / name)
    status = runner.invoke(cli, ["hub", "status", "--data-dir", str(tmp_path / "hub")])
    assert status.exit_code == 0 and [n["stores"] for n in json.loads(status.output)["nodes"]] == [["north", "south"]] * 2
    hub_store(hub).close()
    with gunicorn_node(folders[0], env=node_env(), ready_status=503) as (one, _), \
            gunicorn_node(folders[1], env=node_env(), ready_status=503) as (two, _):
        for path, store in (("/v1/stores/north/catalog/items", "north"), ("/v1/stores/south/catalog/items/A1", "south")):
            answers = [requests.get(base + path, headers=bearer(store), timeout=5) for base in (one, two)]
            assert answers[0].json() == answers[1].json() and answers[0].headers["ETag"] == answers[1].headers["ETag"]
        with nginx_cache(tmp_path / "nginx", [one, two]) as cache:
            first = requests.get(cache + "/v1/stores/north/catalog/items", headers=bearer("north"), timeout=5)
            etag = first.headers["ETag"]
            assert [i["sku"] for i in first.json()["items"]] == ["A1", "B2"]
            for base in (one, two):  # a client that read through the cache revalidates against either node
                check = requests.get(base + "/v1/stores/north/catalog/items", headers={**bearer("north"), "If-None-Match": etag}, timeout=5)
                assert check.status_code == 304
