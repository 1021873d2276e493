"""Recommendations: quality on the DIGINETICA sample, endpoint latency and memory at scale, hub training time.

- quality: ``../shared/datasets/diginetica-sample`` split by time (the sessions' last event; the last 20 %
  of sessions are the test), ``storefront-edge recommend evaluate --k 20``; the targets as ratios.
- serving: a node with a 100,000-item catalog and 1,000,000 stored events (synthetic sessions: mostly within
  one of 1,000 categories, Zipf-like item picks), the bundle ``hub train recommend`` built from those events,
  gunicorn with 2 workers, wrk on GET /v1/recommendations over 200 (session, sku) pairs; worker memory.
- in process: the same node and requests through the Flask test client, the learned and the linear blend
  alternating in blocks (wall and CPU time of each request, side by side in one run).
- hub training: wall time and peak memory of ``storefront-edge hub train recommend`` on the same events.
Sizes: ``BENCH_RECS_EVENTS`` / ``BENCH_RECS_ITEMS`` override 1,000,000 / 100,000; ``BENCH_RECS_QUALITY=0``
keeps the quality figures of the last run (in ``results/latest.json``) and measures only the scale part;
``BENCH_RECS_SECONDS`` is the sequential model's time budget in ``hub train recommend`` (default 120) and
``BENCH_RECS_QUALITY_SECONDS`` its budget in ``recommend evaluate`` (default 300, the command's default).
``BENCH_RECS_SCALE=0`` keeps the scale figures of the last run and measures only the quality part;
``BENCH_RECS_TRIALS=1`` adds the learned blend's design trials on validation folds (:mod:`benchmarks.recs_trials`).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import DATASETS, wrk
from tests.servers import ROOT, gunicorn_node

DIGINETICA = DATASETS / "diginetica-sample" / "train-item-views.csv"
CLIENT, ADMIN = "bench-client-key", "bench-admin-key"
EVENTS = int(os.environ.get("BENCH_RECS_EVENTS", 1_000_000))
ITEMS = int(os.environ.get("BENCH_RECS_ITEMS", 100_000))
CATEGORIES = 1_000
TRAIN_SECONDS = os.environ.get("BENCH_RECS_SECONDS", "120")
QUALITY_SECONDS = os.environ.get("BENCH_RECS_QUALITY_SECONDS", "300")


def _cli(*args, env=None) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "edge", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} failed: {done.stderr.strip()[-500:]}")
    return done


def split_diginetica(folder: Path) -> tuple[Path, Path]:
    """Write the sample's train and test CSVs: the last 20 % of sessions by time are the test."""
    from converters.recommend.events import DIGINETICA_HEADER, read_sessions, split_by_time

    train, test = split_by_time(read_sessions(DIGINETICA), 0.2)
    test_keys = {s.key for s in test}
    lines = DIGINETICA.read_text().splitlines()
    header = ";".join(DIGINETICA_HEADER)
    paths = folder / "train.csv", folder / "test.csv"
    paths[0].write_text("\n".join([header, *[l for l in lines[1:] if l.split(";")[0] not in test_keys]]) + "\n")
    paths[1].write_text("\n".join([header, *[l for l in lines[1:] if l.split(";")[0] in test_keys]]) + "\n")
    return paths


def quality(folder: Path) -> dict:
    """Every recommender's figures on the sample, and the two targets as measured ratios."""
    if not DIGINETICA.is_file():
        return {"skipped": f"{DIGINETICA} is not here"}
    train, test = split_diginetica(folder)
    started = time.monotonic()
    report = json.loads(_cli("recommend", "evaluate", "--train", str(train), "--test", str(test), "--k", "20",
                             "--seconds", QUALITY_SECONDS).stdout)
    classic = max(report[n]["hr@20"] for n in ("popularity", "item_knn", "session_knn"))
    with_stan = max(classic, report["session_knn_stan"]["hr@20"])
    boosted, plain = report["blend_long_tail"], report["blend"]
    return {"recommenders": report, "evaluate_seconds": round(time.monotonic() - started, 1),
            "blend_vs_best_of_popularity_itemknn_sessionknn": round(plain["hr@20"] / classic - 1, 4),
            "blend_vs_best_baseline_including_stan": round(plain["hr@20"] / with_stan - 1, 4),
            "long_tail_share_ratio": round(boosted["long_tail_share"] / max(1e-9, plain["long_tail_share"]), 3),
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "long_tail_hr_cost": round(1 - boosted["hr@20"] / plain["hr@20"], 4), **_trials(train)}


def _trials(train: Path) -> dict:
    """``{"rerank_trials": ...}`` with ``BENCH_RECS_TRIALS=1`` (validation folds of the training split only)."""
    if os.environ.get("BENCH_RECS_TRIALS", "0") != "1":
        return {}
    from benchmarks import recs_trials

    started = time.monotonic()
    return {"rerank_trials": {**recs_trials.run(train, float(QUALITY_SECONDS)), "seconds": round(time.monotonic() - started, 1),
                              "load_average": [round(x, 2) for x in os.getloadavg()]}}


def synthetic_events(n_events: int, n_items: int, seed: int = 11):
    """``(session, sku, second)`` arrays of synthetic sessions over ``n_items`` items in ``CATEGORIES`` categories."""
    rng = np.random.default_rng(seed)
    per = n_items // CATEGORIES
    lengths = rng.integers(2, 9, size=n_events // 4)
    lengths = lengths[: np.searchsorted(np.cumsum(lengths), n_events) + 1]
    session = np.repeat(np.arange(len(lengths)), lengths)[:n_events]
    home = rng.zipf(1.3, size=len(lengths)) % CATEGORIES
    category = np.where(rng.random(n_events) < 0.85, home[session], rng.integers(0, CATEGORIES, n_events))
    item = category * per + np.minimum(rng.zipf(1.4, size=n_events) - 1, per - 1)
    second = 1_767_225_600 - 30 * 86_400 + np.sort(rng.integers(0, 30 * 86_400, len(lengths)))[session] + \
        np.arange(n_events) % 8 * 20
    return session, item, second


def _event_rows(session, item, second, origin: str):
    import datetime

    from ulid import ULID

    for s, i, t in zip(session.tolist(), item.tolist(), second.tolist()):
        stamp = datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat(timespec="milliseconds")
        yield (str(ULID()), "view", json.dumps({"session_id": f"b{s}", "sku": f"SKU-{i}"}), stamp, origin)


def fill_events(db_path: Path, rows) -> None:
    import sqlite3

    conn = sqlite3.connect(db_path)
    with conn:
        conn.executemany("INSERT INTO events (id, kind, payload, created_at, origin) VALUES (?, ?, ?, ?, ?)", rows)
    conn.close()


def _catalog_rows(n_items: int):
    per = n_items // CATEGORIES
    for i in range(n_items):
        yield {"id": f"default/SKU-{i}", "store": "default", "sku": f"SKU-{i}", "title": f"Item {i} of line {i // per}", "description": f"category {i // per} product",
               "price": 1.0 + i % 50, "currency": "EUR", "category": f"C{i // per}", "in_stock": int(i % 20 != 0),
               "images": json.dumps([f"SKU-{i}/1.jpg"]), "updated_at": "2026-01-01T00:00:00+00:00"}


def hub_training(folder: Path, events) -> tuple[dict, Path, Path]:
    """Time ``hub train recommend`` on the events; return the figures, the bundle folder and the public key."""
    from edge.bundles.signing import generate_keypair
    from edge.hub.backends import open_store

    hub = folder / "hub"
    store = open_store(hub)
    store.register_node("bench-node", "bench")
    store.close()
    fill_events(hub / "hub.db", _event_rows(*events, origin="bench-node"))
    private, public = generate_keypair(hub / "keys")
    (hub / "keys" / "trusted").mkdir(parents=True, exist_ok=True)
    (hub / "keys" / "trusted" / "signing.pub").write_bytes(public.read_bytes())
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.monotonic()
    done = _cli("hub", "train", "recommend", "--group", "bench", "--data-dir", str(hub), "--key", str(private),
                "--seconds", TRAIN_SECONDS, "--epochs", "3", "--out", str(folder / "recs-bundle"))
    figures = {"hub_train_seconds": round(time.monotonic() - started, 1), "hub_train_events": len(events[0]),
               "hub_train_load_average": [round(x, 2) for x in os.getloadavg()],
               "hub_train_stages": [l for l in done.stderr.splitlines() if l.startswith(("read ", "timing:"))],
               "hub_train_peak_rss_mb": round(max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024),
               "hub_train_output": done.stdout.strip().splitlines()[-1]}
    return figures, folder / "recs-bundle", public


def _worker_rss_mb(server_pid: int) -> float:
    children = subprocess.run(["pgrep", "-P", str(server_pid)], capture_output=True, text=True).stdout.split()
    return sum(int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6 for pid in children)


def _lua(folder: Path, events) -> Path:
    rng = np.random.default_rng(5)
    session, item, _ = events
    picks = rng.integers(0, len(session), 200)
    paths = [f"/v1/recommendations?session_id=b{session[p]}&sku=SKU-{item[p]}&k=10" for p in picks]
    script = folder / "recs.lua"
    script.write_text("paths = {" + ",".join(f'"{p}"' for p in paths) + "}\n"
                      "request = function() return wrk.format('GET', paths[math.random(#paths)]) end\n")
    return script


def _warm_up(base: str, headers: dict, script: Path, limit_s: float = 300.0) -> float:
    """Send the benchmark's requests, two at a time, until 40 answers in a row take under 250 ms (both workers
    have loaded the bundle, folded their start-up events and read the catalog); return the seconds it took."""
    import concurrent.futures
    import re
    import urllib.request

    paths = re.findall(r'"(/v1/[^"]+)"', script.read_text())
    started, fast, number = time.monotonic(), 0, 0

    def get(path):
        begun = time.monotonic()
        with urllib.request.urlopen(urllib.request.Request(base + path, headers=headers), timeout=120) as answer:
            answer.read()
        return time.monotonic() - begun

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        while fast < 40 and time.monotonic() - started < limit_s:
            took = list(pool.map(get, paths[number % len(paths):][:2]))
            fast = fast + 2 if max(took) < 0.25 else 0
            number += 2
    return time.monotonic() - started


def serving(folder: Path, events, bundle: Path, public: Path) -> dict:
    """p50/p99 of GET /v1/recommendations under gunicorn -w 2 with the catalog and the events stored."""
    import sqlite_utils

    from edge.app import create_app
    from edge.bundles.registry import BundleRegistry

    data = folder / "node"
    (data / "keys" / "trusted").mkdir(parents=True)
    (data / "keys" / "trusted" / "signing.pub").write_bytes(public.read_bytes())
    create_app({"DATA_DIR": str(data), "PLUGINS": ["catalog", "events", "recommend"]}, watch=False).extensions["storefront_edge"].close()
    db = sqlite_utils.Database(data / "store.db")
    db["catalog_items"].insert_all(_catalog_rows(ITEMS), batch_size=5000)
    db.close()
    fill_events(data / "store.db", _event_rows(*events, origin=None))
    BundleRegistry(data).install(bundle)
    env = {"STOREFRONT_EDGE_PLUGINS": "catalog,events,recommend", "STOREFRONT_EDGE_CLIENT_KEY": CLIENT,
           "STOREFRONT_EDGE_ADMIN_KEY": ADMIN}
    headers = {"Authorization": f"Bearer {CLIENT}"}
    script = _lua(folder, events)
    with gunicorn_node(data, env) as (base, pid):
        warm = _warm_up(base, headers, script)
        figures = {f"recommendations_c{c}": wrk(f"{base}/v1/recommendations", c, seconds=10, headers=headers, script=str(script))
                   for c in (1, 8)}
        figures.update(worker_rss_mb_2_workers=round(_worker_rss_mb(pid)), warm_up_seconds=round(warm, 1),
                       serving_load_average=[round(x, 2) for x in os.getloadavg()])
    figures["in_process"] = in_process(data, script)
    return figures


def in_process(data: Path, script: Path, blocks: int = 20, per_block: int = 100) -> dict:
    """The learned and the linear blend side by side in one process (Flask test client, same node and requests):
    blocks of ``per_block`` requests alternate between them; p50/p99 of the wall time and of the thread's CPU
    time (what a busy machine inflates less), and their ratios."""
    import re

    from edge.app import create_app

    paths = re.findall(r'"(/v1/[^"]+)"', script.read_text())
    app = create_app({"DATA_DIR": str(data), "PLUGINS": ["catalog", "events", "recommend"], "CLIENT_KEY": CLIENT,
                      "ADMIN_KEY": ADMIN}, watch=False)
    node, client, headers = app.extensions["storefront_edge"], app.test_client(), {"Authorization": f"Bearer {CLIENT}"}
    try:
        config = node.plugin_config("recommend")
        for path in paths * 2:  # the bundle, the folded events and the catalog loaded; both blends warm
            config.learned_blend = not config.learned_blend
            _answered(path, client.get(path, headers=headers))
        times = {True: [], False: []}
        for block in range(blocks):
            config.learned_blend = block % 2 == 0
            for path in paths[block // 2 * per_block % len(paths):][:per_block]:
                wall, cpu = time.perf_counter(), time.thread_time()
                answer = client.get(path, headers=headers)
                times[config.learned_blend].append((time.perf_counter() - wall, time.thread_time() - cpu))
                _answered(path, answer)  # a timed error answer is no recommendation's figure
    finally:
        node.close()
    return _side_by_side({"learned": np.array(times[True]) * 1000, "linear": np.array(times[False]) * 1000})


def _answered(path: str, answer) -> None:
    if answer.status_code != 200:
        raise RuntimeError(f"in process: {path} answered {answer.status_code}: {answer.get_data(as_text=True)[:200]}")


def _side_by_side(times: dict) -> dict:
    figures = {name: {"requests": len(t), "p50_ms": round(float(np.percentile(t[:, 0], 50)), 3),
                      "p99_ms": round(float(np.percentile(t[:, 0], 99)), 3),
                      "cpu_p50_ms": round(float(np.percentile(t[:, 1], 50)), 3),
                      "cpu_p99_ms": round(float(np.percentile(t[:, 1], 99)), 3)} for name, t in times.items()}
    for key in ("p50_ms", "p99_ms", "cpu_p50_ms", "cpu_p99_ms"):
        figures[f"learned_vs_linear_{key[:-3]}"] = round(figures["learned"][key] / max(figures["linear"][key], 1e-9), 3)
    figures["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return figures


def _last_run() -> dict:
    results = ROOT / "benchmarks" / "results" / "latest.json"
    return json.loads(results.read_text()).get("recommend", {}) if results.is_file() else {}


def _last_scale() -> dict:
    """The last run's scale figures (``BENCH_RECS_SCALE=0``), with the run that measured them."""
    earlier = _last_run()
    kept = {k: v for k, v in earlier.items() if k not in ("quality", "table", "measured", "machine", "scale_from_run")}
    return {**kept, "scale_from_run": earlier.get("scale_from_run", earlier.get("measured"))}


def _last_quality() -> dict:
    earlier = _last_run()
    return {"from_run": earlier.get("measured"),  # the run that measured them, kept through later runs
            **earlier.get("quality", {"skipped": "BENCH_RECS_QUALITY=0 and no earlier figures"})}


def main() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-recs-") as tmp:
        folder = Path(tmp)
        figures = {"quality": quality(folder) if os.environ.get("BENCH_RECS_QUALITY", "1") != "0" else _last_quality()}
        print(json.dumps(figures["quality"], indent=1), flush=True)
        if os.environ.get("BENCH_RECS_SCALE", "1") == "0":
            figures.update(_last_scale())
            figures["table"] = _markdown(figures["quality"])
            return figures
        events = synthetic_events(EVENTS, ITEMS)
        training, bundle, public = hub_training(folder, events)
        print(json.dumps(training), flush=True)
        figures.update(training)
        figures.update(serving(folder, events, bundle, public), catalog_items=ITEMS, stored_events=EVENTS)
    figures["table"] = _markdown(figures["quality"])
    return figures


def _markdown(q: dict) -> str:
    """Every recommender's figures as a table, then the targets."""
    report = q.get("recommenders")
    if not report:
        return ""
    rows = ["| recommender | HR@20 | MRR@20 | coverage | long-tail share |", "|---|---|---|---|---|"]
    rows += [f"| {name} | {r['hr@20']} | {r['mrr@20']} | {r['coverage']} | {r['long_tail_share']} |"
             for name, r in report.items() if isinstance(r, dict)]
    rows += ["", f"Targets: blend vs best of popularity/item-kNN/session-kNN {q['blend_vs_best_of_popularity_itemknn_sessionknn']:+.1%} "
             f"(target +10 %); vs the best including STAN {q['blend_vs_best_baseline_including_stan']:+.1%}; long-tail boost "
             f"share x{q['long_tail_share_ratio']} (target x2) at {q['long_tail_hr_cost']:.1%} HR@20 cost (target <= 5 %)."]
    return "\n".join(rows)


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
