"""The recommenders' tables and scoring on hand-made sessions: decay, co-visitation, session-kNN, blend, long tail, live folding."""

from __future__ import annotations

import json

import numpy as np

from converters.recommend.events import Session, split_by_time
from converters.recommend.tables import build_tables
from plugins.recommend import scoring
from plugins.recommend.live import LiveEvents

DAY = 86_400.0


def _session(key, items, start):
    return Session(key, None, list(items), [start + i for i in range(len(items))], ["view"] * len(items))


def test_recent_co_visits_outweigh_old_ones():
    old = [_session(f"o{n}", ["a", "old"], 0.0) for n in range(3)]
    new = [_session(f"n{n}", ["a", "new"], 200 * DAY) for n in range(2)]
    t = build_tables(old + new)
    indices, _ = scoring.score_covisit(t, [t.index["a"]])
    assert [t.items[i] for i in indices[:2]] == ["new", "old"], "two recent sessions beat three from 200 days ago"


def test_forward_co_visits_weigh_more_than_backward_ones():
    t = build_tables([_session(f"s{n}", ["x", "y", "z"], 0.0) for n in range(3)])
    indices, scores = scoring.score_covisit(t, [t.index["y"]])
    ranked = dict(zip([t.items[i] for i in indices], scores))
    assert ranked["z"] > ranked["x"] > 0


def test_session_knn_recommends_what_similar_sessions_held():
    sessions = [_session("s1", ["a", "b", "c"], 0), _session("s2", ["a", "b", "d"], 10), _session("s3", ["e", "f"], 20)]
    t = build_tables(sessions)
    indices, _ = scoring.score_sknn(t, [t.index["a"], t.index["b"]])
    found = {t.items[i] for i in indices}
    assert {"c", "d"} <= found and not {"e", "f"} & found


def test_blend_gives_each_item_the_reason_of_its_largest_share():
    parts = {"covisit": (np.array([1, 2]), np.array([1.0, 0.5])), "popular": (np.array([3, 2]), np.array([4.0, 4.0]))}
    indices, scores, reasons = scoring.blend(parts, {"covisit": 1.0, "popular": 0.4})
    assert indices.tolist()[0] == 1 and dict(zip(indices.tolist(), reasons)) == {1: "co-visited", 2: "co-visited", 3: "popular"}
    assert scores.tolist() == sorted(scores.tolist(), reverse=True)


def test_the_long_tail_boost_lifts_rare_items_and_the_tail_is_outside_the_80_percent_head():
    sessions = [_session(f"p{n}", ["hit"], n) for n in range(16)] + [_session("r", ["rare", "rare2"], 100)]
    t = build_tables(sessions)
    assert t.tail.tolist() == [False, True, True]
    indices = np.array([t.index["hit"], t.index["rare"]])
    plain = scoring.boost(t, indices, np.array([1.0, 0.5]), alpha=0.0)
    boosted = scoring.boost(t, indices, np.array([1.0, 0.5]), alpha=1.0)
    assert plain[0] > plain[1] and boosted[1] > boosted[0]


def test_split_by_time_keeps_the_last_sessions_for_testing():
    sessions = [_session(str(n), ["a"], n * DAY) for n in range(10)]
    train, test = split_by_time(sessions[::-1], 0.2)
    assert [s.key for s in test] == ["8", "9"] and len(train) == 8




def test_live_folding_reads_only_new_events_and_counts_pairs_within_the_window(tmp_path):
    import sqlite_utils

    db = sqlite_utils.Database(tmp_path / "e.db")
    db["events"].insert_all([{"id": f"{n:04d}", "kind": "view", "origin": None, "created_at": "2026-01-02T00:00:00",
                              "payload": json.dumps({"session_id": "s", "sku": sku})} for n, sku in enumerate("abcdefg")], pk="id")
    live = LiveEvents(batch=2)
    assert live.catch_up(db.conn) == 7 and live.catch_up(db.conn) == 0
    assert live.covisit()["a"] == {"b": 1.0, "c": 0.5, "d": 1 / 3, "e": 0.25, "f": 0.2}, "g is past the window"
    db["events"].insert({"id": "0100", "kind": "cart", "origin": None, "created_at": "2026-01-02T00:00:00",
                         "payload": json.dumps({"session_id": "s", "sku": "a"})})
    assert live.catch_up(db.conn) == 1 and live.session("s").bought == {"a"}
    assert live.session("unknown").items == []


def test_live_folding_starts_from_the_last_max_events(tmp_path):
    import sqlite_utils

    db = sqlite_utils.Database(tmp_path / "e.db")
    db["events"].insert_all([{"id": f"{n:04d}", "kind": "view", "origin": None, "created_at": "2026-01-02T00:00:00",
                              "payload": json.dumps({"session_id": f"s{n}", "sku": "x"})} for n in range(10)], pk="id")
    live = LiveEvents(max_events=3, max_sessions=2)
    live.catch_up(db.conn)
    assert live.folded == 3 and list(live.store().sessions) == ["s8", "s9"]


def test_events_the_bundle_was_trained_on_set_the_session_but_are_not_counted_twice(tmp_path):
    import datetime

    import sqlite_utils

    db = sqlite_utils.Database(tmp_path / "e.db")
    db["events"].insert_all([{"id": f"{n:04d}", "kind": "view", "origin": None, "created_at": at,
                              "payload": json.dumps({"session_id": "s", "sku": sku})}
                             for n, (sku, at) in enumerate([("a", "2026-01-01T00:00:00+00:00"), ("b", "2026-01-01T00:00:01+00:00"),
                                                            ("c", "2026-01-03T00:00:00+00:00")])], pk="id")
    since = datetime.datetime(2026, 1, 2, tzinfo=datetime.timezone.utc).timestamp()
    live = LiveEvents(since=since)
    live.catch_up(db.conn)
    assert live.session("s").items == ["a", "b", "c"] and live.folded == 1
    assert "b" not in live.covisit()["a"] and live.covisit()["b"]["c"] == 1.0 and set(live.store().popularity) == {"c"}


def test_the_long_tail_bonus_lifts_tail_items_only_past_head_items_scored_close_to_them():
    t = build_tables([_session(f"h{n}", ["h1", "h2"], n) for n in range(20)] + [_session("t", ["t1", "t2"], 30)])
    assert t.tail[[t.index["h1"], t.index["t1"]]].tolist() == [False, True]
    head, tail = t.index["h1"], t.index["t1"]
    parts = {"covisit": (np.array([head, t.index["h2"], tail, t.index["t2"]]), np.array([1.0, 0.9, 0.85, 0.3], np.float32))}
    plain, _, _ = scoring.blend(parts, {"covisit": 1.0}, t)
    boosted, _, _ = scoring.blend(parts, {"covisit": 1.0}, t, bonus=0.1)
    assert plain.tolist() == [head, t.index["h2"], tail, t.index["t2"]]
    assert boosted.tolist() == [head, tail, t.index["h2"], t.index["t2"]], "t1 passes h2 (within 0.1), t2 stays last"


def test_the_same_session_id_in_two_stores_is_two_sessions():
    from converters.recommend.events import sessions_from_events

    sessions = sessions_from_events([("s", "north", "a", 1.0, "view"), ("s", "south", "b", 2.0, "view"),
                                     ("s", "north", "c", 3.0, "view")])
    assert sorted((x.store, x.items) for x in sessions) == [("north", ["a", "c"]), ("south", ["b"])]


def test_made_up_skus_cannot_grow_a_stores_live_state_without_end():
    from plugins.recommend.live import LiveStore

    live = LiveStore(max_sessions=10, row_cap=5, max_skus=50)
    for _ in range(20):
        live.count("steady-seller", 1.0)
    items = []
    for n in range(1000):
        live.count(f"made-up-{n}", 0.5)
        live.add_pairs(items, f"made-up-{n}")
        items = (items + [f"made-up-{n}"])[-5:]
    assert len(live.popularity) <= 100 and len(live.covisit) <= 100
    assert live.popularity["steady-seller"] == 20.0, "the most popular SKUs are the ones kept"


def test_gathering_csr_rows_lays_them_end_to_end_each_cut_to_the_limit():
    rng = np.random.default_rng(3)
    rows = [(rng.integers(0, 50, n), rng.uniform(0, 1, n)) for n in rng.integers(0, 7, 30)]  # empty rows too
    csr = scoring.CSR.from_rows(rows)
    picked = np.array([4, 0, 4, 29, 17, 3])
    for limit in (None, 0, 2, 100):
        indices, lengths = csr.gather(picked, limit)
        expected = [csr.row(r)[0][:limit] for r in picked.tolist()]
        assert lengths.tolist() == [len(e) for e in expected]
        assert indices.tolist() == np.concatenate(expected).tolist()
    assert [len(a) for a in csr.gather(np.zeros(0, np.int64))] == [0, 0]


def test_session_knn_and_stan_answer_the_same_whatever_was_asked_before():
    rng = np.random.default_rng(8)
    sessions = [_session(f"s{n}", [f"i{x}" for x in rng.integers(0, 30, rng.integers(2, 7))], n * 60.0) for n in range(200)]
    queries = [rng.integers(0, 30, rng.integers(1, 6)).tolist() for _ in range(12)]

    def answers(t, order):
        found = {}
        for number in order:
            for name, scorer in (("sknn", scoring.score_sknn), ("stan", scoring.score_stan)):
                indices, scores = scorer(t, queries[number], 20)
                found[(number, name)] = (indices.tolist(), scores.tolist())
        return found

    alone = {}
    for number in range(len(queries)):  # fresh tables per query: nothing kept from an earlier one
        alone.update(answers(build_tables(sessions), [number]))
    shared = build_tables(sessions)
    mixed = answers(shared, list(range(len(queries))) + list(range(len(queries)))[::-1])
    assert mixed == alone and any(v[0] for v in alone.values())


def test_session_knn_keeps_its_own_sessions_when_another_request_replaces_the_kept_ones_meanwhile():
    rng = np.random.default_rng(9)
    sessions = [_session(f"s{n}", [f"i{x}" for x in rng.integers(0, 30, rng.integers(2, 7))], n * 60.0) for n in range(200)]
    expected = scoring.score_sknn(build_tables(sessions), [1, 2, 3], 20)
    tables = build_tables(sessions)
    other = (((4, 5), tables.params.sknn_sample), scoring._holders(build_tables(sessions), (4, 5)))

    class Racing(type(tables)):
        def __setattr__(self, name, value):  # another thread's request stores its own right after this one
            super().__setattr__(name, other if name == "_holders_of" else value)

    tables.__class__ = Racing
    got = scoring.score_sknn(tables, [1, 2, 3], 20)
    assert [a.tolist() for a in got] == [a.tolist() for a in expected] and len(expected[0])


def test_session_knn_follows_a_changed_sample_size_of_the_same_tables():
    rng = np.random.default_rng(10)
    sessions = [_session(f"s{n}", [f"i{x}" for x in rng.integers(0, 10, rng.integers(2, 7))], n * 60.0) for n in range(300)]
    tables, fresh = build_tables(sessions), build_tables(sessions)
    scoring.score_sknn(tables, [1, 2, 3], 20)
    tables.params.sknn_sample = fresh.params.sknn_sample = 3
    got, expected = scoring.score_sknn(tables, [1, 2, 3], 20), scoring.score_sknn(fresh, [1, 2, 3], 20)
    assert [a.tolist() for a in got] == [a.tolist() for a in expected]
