"""The visual index files: annoy over SKU mean vectors, the photo shown per SKU, format checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from plugins.visual_search import index_files
from plugins.visual_search.search import neighbour_counts


def unit(*values) -> np.ndarray:
    vector = np.asarray(values, np.float32)
    return vector / np.linalg.norm(vector)


def load(folder, vectors, skus, images):
    index_files.write_index(folder, "idx", np.stack(vectors), skus, images, trees=5)
    return index_files.load_index(folder, "idx", bundle=None, model_name="m", recipe=None)


@pytest.fixture
def index(tmp_path):
    # STEADY: three photos, all fairly close to the query (1, 0, 0).
    # SPIKY: one photo closer to the query than any STEADY photo, two pointing elsewhere.
    vectors = [unit(1, 0.6, 0), unit(1, 0, 0.6), unit(1, -0.6, 0),
               unit(1, 0.3, 0), unit(0, 1, 0), unit(0, 0, 1)]
    skus = ["STEADY"] * 3 + ["SPIKY"] * 3
    images = ["s0.jpg", "s1.jpg", "s2.jpg", "p0.jpg", "p1.jpg", "p2.jpg"]
    return load(tmp_path, vectors, skus, images)


def test_skus_are_ranked_by_the_mean_of_their_photos_not_their_nearest_photo(index):
    query = unit(1, 0, 0)
    ranked = index.nearest(query, 2)
    assert [sku for sku, _ in ranked] == ["STEADY", "SPIKY"]
    steady_mean = unit(*(unit(1, 0.6, 0) + unit(1, 0, 0.6) + unit(1, -0.6, 0)))
    assert ranked[0][1] == pytest.approx(float(steady_mean @ query), abs=1e-4)
    # the stored photo vectors put SPIKY's photo nearest: a nearest-photo ranking would have put SPIKY first
    photo_scores = np.asarray(index.vectors) @ query
    assert index.skus[int(np.argmax(photo_scores))] == "SPIKY"


def test_each_sku_shows_its_photo_nearest_to_the_query(index):
    assert index.best_images(unit(1, 0.2, 0), ["SPIKY"]) == {"SPIKY": "p0.jpg"}
    assert index.best_images(unit(0, 0, 1), ["SPIKY"]) == {"SPIKY": "p2.jpg"}
    assert index.best_images(unit(1, 0, 1), ["STEADY"]) == {"STEADY": "s1.jpg"}
    assert index.best_images(unit(1, 0, 0), ["UNKNOWN"]).get("UNKNOWN") is None


def test_the_photos_shown_for_several_skus_are_each_skus_own_nearest(index):
    query = unit(0.2, 0.2, 1)
    shown = index.best_images(query, ["SPIKY", "UNKNOWN", "STEADY", "SPIKY"])
    assert shown == {"SPIKY": "p2.jpg", "STEADY": "s1.jpg"}
    assert index.best_images(unit(1, 0.2, 0), ["STEADY", "SPIKY"]) == {"STEADY": "s0.jpg", "SPIKY": "p0.jpg"}
    assert index.best_images(query, ["UNKNOWN"]) == {}


def test_exact_scores_match_the_annoy_scores_and_skip_unknown_skus(index):
    query = unit(1, 0.1, 0.2)
    assert [(s, round(v, 4)) for s, v in index.exact(query, ["SPIKY", "GONE", "STEADY"])] == \
        [(s, round(v, 4)) for s, v in index.nearest(query, 2)]
    assert index.exact(query, ["GONE"]) == []


def test_sku_means_are_unit_vectors_in_first_seen_order():
    order, means = index_files.sku_means(np.stack([unit(1, 0), unit(0, 1), unit(1, 1)]), ["B", "A", "B"])
    assert order == ["B", "A"]
    np.testing.assert_allclose(np.linalg.norm(means, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(means[0], unit(*(unit(1, 0) + unit(1, 1))), rtol=1e-6)
    order, means = index_files.sku_means(np.stack([unit(3, 4), unit(0, 1)]) * 2, ["A", "B"])  # one photo each
    assert order == ["A", "B"]
    np.testing.assert_allclose(means, np.stack([unit(3, 4), unit(0, 1)]), rtol=1e-6)


def test_an_index_of_another_format_is_refused_and_pruned_with_all_its_files(tmp_path, index):
    meta = json.loads((tmp_path / "idx.json").read_text())
    (tmp_path / "idx.json").write_text(json.dumps({k: v for k, v in meta.items() if k != "format"}))
    with pytest.raises(ValueError, match="format 1"):
        index_files.load_index(tmp_path, "idx", None, "m", None)
    index_files.prune(tmp_path, keep=0, protect=set())
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_empty_catalog_gives_an_empty_index(tmp_path):
    index_files.write_index(tmp_path, "empty", np.zeros((0, 4), np.float32), [], [], trees=2)
    empty = index_files.load_index(tmp_path, "empty", None, "m", None)
    assert empty.nearest(unit(1, 0, 0, 0), 5) == [] and empty.exact(unit(1, 0, 0, 0), ["X"]) == []


def test_unfiltered_queries_ask_for_few_neighbours_first_and_widen_later():
    assert neighbour_counts(10, 100, filtered=False) == (20, 200)
    assert neighbour_counts(10, 100, filtered=True) == (200,)
    assert neighbour_counts(100, 100, filtered=False) == (200,)  # fused with text: wide at once


def _catalog(count: int, dims: int = 32, seed: int = 7):
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, dims)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, [f"S{n}" for n in range(count)]


def test_the_same_catalog_always_builds_a_byte_identical_index(tmp_path):
    vectors, skus = _catalog(600)
    for folder in ("a", "b"):
        index_files.write_index(tmp_path / folder, "idx", vectors, skus, skus, trees=10)
    for suffix in index_files.SUFFIXES:
        first, second = (tmp_path / f / f"idx{suffix}" for f in ("a", "b"))
        assert first.read_bytes() == second.read_bytes(), suffix


def test_a_small_catalog_is_searched_exactly_and_equals_brute_force(tmp_path):
    vectors, skus = _catalog(500)
    index_files.write_index(tmp_path, "idx", vectors, skus, skus, trees=1)  # one tree: annoy alone would miss some
    index = index_files.load_index(tmp_path, "idx", None, "m", None, exact_items=500)
    assert index.searched_exactly
    queries = np.random.default_rng(1).standard_normal((30, 32)).astype(np.float32)
    for query in queries / np.linalg.norm(queries, axis=1, keepdims=True):
        brute = np.argsort(-(vectors @ query), kind="stable")[:10]
        found = index.nearest(query, 10)
        assert [sku for sku, _ in found] == [skus[i] for i in brute]
        assert [score for _, score in found] == pytest.approx([float(vectors[i] @ query) for i in brute], abs=1e-5)


def test_above_the_threshold_the_index_answers_through_annoy(tmp_path):
    vectors, skus = _catalog(200)
    index_files.write_index(tmp_path, "idx", vectors, skus, skus, trees=1)
    index = index_files.load_index(tmp_path, "idx", None, "m", None, exact_items=199)
    assert not index.searched_exactly
    query = vectors[3]
    assert index.nearest(query, 5, search_k=10_000) == index.approximate(query, 5, 10_000)
    assert index.nearest(query, 5)[0][0] == "S3"
