"""The recommendations plugin on a node: a real trained, signed storefront-recs bundle, real SQLite, the routes."""

from __future__ import annotations

import pytest

from tests import recommend_helpers as rh
from tests.conftest import ADMIN_KEY, CLIENT_KEY

HEADERS = {"Authorization": f"Bearer {CLIENT_KEY}"}
REASONS = {"co-visited", "similar", "sequence", "popular", "new item"}


@pytest.fixture(scope="module")
def recs_bundle(tmp_path_factory):
    from edge.bundles.signing import generate_keypair

    folder = tmp_path_factory.mktemp("recs")
    private, public = generate_keypair(folder / "keys")
    return rh.train_bundle(folder / "train", private), public


def _app(data_dir, **plugin_config):
    from edge.app import create_app

    return create_app({"DATA_DIR": str(data_dir), "PLUGINS": ["catalog", "events", "recommend"], "CLIENT_KEY": CLIENT_KEY,
                       "ADMIN_KEY": ADMIN_KEY, "PLUGIN_CONFIG": {"recommend": {"catalog_refresh_s": 0, **plugin_config}}},
                      watch=False)


@pytest.fixture
def recs_app(data_dir, recs_bundle):
    bundle, public = recs_bundle
    rh.trust(data_dir, public)
    app = _app(data_dir)
    node = app.extensions["storefront_edge"]
    rh.put_catalog(node.db(), rh.catalog_rows())
    node.registry.install(bundle)
    node.watcher.refresh()
    yield app
    node.close()


def _get(app, **params):
    response = app.test_client().get("/v1/recommendations", query_string=params, headers=HEADERS)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _events(app, *events):
    response = app.test_client().post("/v1/events", json=list(events), headers=HEADERS)
    assert response.status_code == 201, response.get_json()


def test_results_carry_score_reason_and_the_kiosk_fields(recs_app):
    answer = _get(recs_app, sku="fruit-0", k=6)
    assert answer["bundle"] == "1.0.0" and 0 < len(answer["results"]) <= 6
    first = answer["results"][0]
    assert set(first) >= {"sku", "score", "reason", "title", "price", "image_url"}
    assert first["image_url"].startswith("/v1/catalog/images/") and first["reason"] in REASONS
    assert "fruit-0" not in [r["sku"] for r in answer["results"]], "the product on screen is not recommended"
    scores = [r["score"] for r in answer["results"]]
    assert scores == sorted(scores, reverse=True)


def test_co_visited_items_of_the_session_come_first(recs_app):
    results = _get(recs_app, sku="bread-0", k=3)["results"]
    assert sum(r["sku"].startswith("bread-") for r in results) >= 2, results


def test_category_diversity_caps_a_category_in_the_top_k(data_dir, recs_bundle):
    bundle, public = recs_bundle
    rh.trust(data_dir, public)
    app = _app(data_dir, max_per_category=2)
    node = app.extensions["storefront_edge"]
    try:
        rh.put_catalog(node.db(), rh.catalog_rows())
        node.registry.install(bundle)
        node.watcher.refresh()
        results = _get(app, sku="dairy-1", k=6)["results"]
        counts = {}
        for r in results:
            counts[r["category"]] = counts.get(r["category"], 0) + 1
        assert len(results) == 6 and max(counts.values()) <= 2, counts
    finally:
        node.close()


def test_out_of_stock_items_and_the_sessions_cart_are_never_recommended(recs_app):
    db = recs_app.extensions["storefront_edge"].db()
    before = [r["sku"] for r in _get(recs_app, sku="veg-0", k=5)["results"]]
    gone, carted = before[0], before[1]
    db["catalog_items"].update(f"default/{gone}", {"in_stock": 0})
    _events(recs_app, {"kind": "view", "session_id": "s9", "sku": "veg-0"},
            {"kind": "cart", "session_id": "s9", "sku": carted})
    after = [r["sku"] for r in _get(recs_app, session_id="s9", sku="veg-0", k=5)["results"]]
    assert gone not in after and carted not in after and after


def test_a_new_session_and_unknown_ids_get_fallbacks_never_errors(recs_app):
    fresh = _get(recs_app, session_id="never-seen", k=5)["results"]
    assert fresh and {r["reason"] for r in fresh} == {"popular"}
    unknown = _get(recs_app, session_id="nobody", sku="no-such-sku", k=5)["results"]
    assert unknown and all(r["reason"] == "popular" for r in unknown)


def test_an_item_the_bundle_never_saw_gets_content_neighbours_as_new_items(recs_app):
    db = recs_app.extensions["storefront_edge"].db()
    rh.put_catalog(db, [{**rh.catalog_rows()[0], "sku": "fruit-new", "title": "Fruit number new"},
                        {**rh.catalog_rows()[0], "sku": "fruit-newer", "title": "Fruit number newer"}])
    results = _get(recs_app, sku="fruit-new", k=5)["results"]
    assert results[0]["sku"].startswith("fruit-") and results[0]["reason"] in {"similar", "new item"}
    others = _get(recs_app, sku="fruit-1", k=20)["results"]
    assert any(r["sku"] in ("fruit-new", "fruit-newer") and r["reason"] == "new item" for r in others)


def test_new_events_are_folded_into_co_visitation(data_dir, recs_bundle):
    bundle, public = recs_bundle
    rh.trust(data_dir, public)
    app = _app(data_dir, live_weight=3.0, long_tail_alpha=0.0, long_tail_bonus=0.0)  # the tuned boost would reorder the rest
    node = app.extensions["storefront_edge"]
    try:
        rh.put_catalog(node.db(), rh.catalog_rows())
        node.registry.install(bundle)
        node.watcher.refresh()
        before = [r["sku"] for r in _get(app, sku="fruit-5", k=3)["results"]]
        partner = next(r["sku"] for r in rh.catalog_rows() if r["category"] == "veg" and r["sku"] not in before)
        _events(app, *[e for n in range(30) for e in ({"kind": "view", "session_id": f"f{n}", "sku": "fruit-5"},
                                                      {"kind": "view", "session_id": f"f{n}", "sku": partner})])
        after = _get(app, sku="fruit-5", k=3)["results"]
        assert after[0]["sku"] == partner and after[0]["reason"] == "co-visited", (before, after)
    finally:
        node.close()


def test_post_takes_the_recent_skus_and_checks_its_body(recs_app):
    client = recs_app.test_client()
    response = client.post("/v1/recommendations", json={"skus": ["dairy-0", "dairy-1"], "k": 4}, headers=HEADERS)
    assert response.status_code == 200 and len(response.get_json()["results"]) == 4
    assert sum(r["sku"].startswith("dairy-") for r in response.get_json()["results"]) >= 2, "the recent SKUs steer it"
    for body, status in (({"skus": "x"}, 422), ({"skus": ["a"] * 51}, 422), ({"k": 0}, 422), ({"k": 51}, 422),
                         ({"k": 2 ** 70}, 400)):
        assert client.post("/v1/recommendations", json=body, headers=HEADERS).status_code == status, body
    assert client.post("/v1/recommendations", data="{", content_type="application/json", headers=HEADERS).status_code == 400
    assert client.post("/v1/recommendations", data="x", content_type="text/plain", headers=HEADERS).status_code == 415
    assert client.get("/v1/recommendations?k=abc", headers=HEADERS).status_code == 422
    assert client.get("/v1/recommendations", query_string={"sku": "\x01"}, headers=HEADERS).status_code == 422
    assert client.get("/v1/recommendations").status_code == 401


def test_without_a_bundle_the_node_serves_live_popularity(data_dir):
    app = _app(data_dir)
    node = app.extensions["storefront_edge"]
    try:
        rh.put_catalog(node.db(), rh.catalog_rows())
        assert _get(app, k=3)["results"] == [], "nothing has happened yet"
        _events(app, *[{"kind": "view", "session_id": f"p{n}", "sku": "bread-3"} for n in range(3)])
        answer = _get(app, session_id="fresh", k=3)
        assert answer["bundle"] is None and answer["results"][0]["sku"] == "bread-3"
        assert node.plugin_status("recommend")["ready"]
    finally:
        node.close()


def test_in_cdn_mode_one_stores_events_do_not_change_another_stores_recommendations(data_dir, recs_bundle):
    from edge.app import create_app
    from tests.cdn_support import bearer, store_config

    bundle, public = recs_bundle
    rh.trust(data_dir, public)
    app = create_app(store_config(data_dir, PLUGINS=["catalog", "events", "recommend"],
                                  PLUGIN_CONFIG={"recommend": {"catalog_refresh_s": 0, "live_weight": 3.0,
                                                               "long_tail_alpha": 0.0, "long_tail_bonus": 0.0}}),
                     watch=False)
    node, client = app.extensions["storefront_edge"], app.test_client()
    try:
        for store in ("north", "south"):
            rh.put_catalog(node.db(), rh.catalog_rows(), store=store)
        node.registry.install(bundle)
        node.watcher.refresh()

        def skus(store, **params):
            response = client.get(f"/v1/stores/{store}/recommendations", query_string=params, headers=bearer(store))
            assert response.status_code == 200, response.get_json()
            return [r["sku"] for r in response.get_json()["results"]]

        before = {store: skus(store, sku="fruit-5", k=3) for store in ("north", "south")}
        partner = next(r["sku"] for r in rh.catalog_rows() if r["category"] == "veg" and r["sku"] not in before["north"])
        events = [e for n in range(30) for e in ({"kind": "view", "session_id": f"n{n}", "sku": "fruit-5"},
                                                 {"kind": "view", "session_id": f"n{n}", "sku": partner})]
        events += [{"kind": "view", "session_id": "shopper", "sku": "dairy-2"}]
        assert client.post("/v1/stores/north/events", json=events, headers=bearer("north")).status_code == 201
        assert skus("north", sku="fruit-5", k=3)[0] == partner, "north's own events count at once"
        assert skus("south", sku="fruit-5", k=3) == before["south"], "south never saw them"
        assert skus("north", session_id="shopper", k=3) != skus("south", session_id="shopper", k=3), \
            "a session lives in its own store"
    finally:
        node.close()


def test_a_catalog_reload_leaves_the_garbage_collector_alone(recs_app, monkeypatch):
    import gc

    _get(recs_app, sku="veg-0", k=5)
    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(1))
    db = recs_app.extensions["storefront_edge"].db()
    gone = _get(recs_app, sku="veg-0", k=5)["results"][0]["sku"]
    db["catalog_items"].update(f"default/{gone}", {"in_stock": 0})
    assert gone not in [r["sku"] for r in _get(recs_app, sku="veg-0", k=5)["results"]], "the view was reloaded"
    assert not frozen, "a catalog reload must not freeze the whole process's objects"



def test_post_refuses_hostile_bodies_without_a_500(recs_app):
    client = recs_app.test_client()
    for data in ("[" * 10_000 + "]" * 10_000, '{"skus": ["a", 1]}', '{"skus": [%d]}' % 2 ** 64,
                 '{"k": %d}' % 2 ** 64, '{"skus": [' + '"a",' * 49 + '"' + "x" * 129 + '"]}', "[]", "null"):
        response = client.post("/v1/recommendations", data=data, content_type="application/json", headers=HEADERS)
        assert 400 <= response.status_code < 500, (data[:40], response.status_code)
