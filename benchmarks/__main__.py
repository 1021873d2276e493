"""Run every ``bench_*.py`` (or those named on the command line), merge their figures, write the table.

``python -m benchmarks [topic ...]`` → ``benchmarks/results/latest.json`` (merged with earlier figures
of topics not run this time) and the tables in ``benchmarks/README.md``.
"""

from __future__ import annotations

import datetime
import importlib
import json
import platform
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "latest.json"
README = HERE / "README.md"
MARK = "<!-- figures below are written by `make bench` -->"


def _topics(names):
    found = sorted(p.stem[len("bench_"):] for p in HERE.glob("bench_*.py"))
    return [t for t in found if not names or t in names]


def _run(topic: str) -> dict:
    module = importlib.import_module(f"benchmarks.bench_{topic}")
    try:
        return module.main()
    except Exception as exc:  # one broken benchmark must not lose the others' figures
        traceback.print_exc()
        return {"error": f"{type(exc).__name__}: {exc}"}


def _table(topic: str, figures: dict) -> str:
    rows = [f"### {topic}", "", "| figure | value |", "|---|---|"]
    for key, value in figures.items():
        if key == "table":
            continue
        shown = f"{value:.4g}" if isinstance(value, float) else json.dumps(value) if isinstance(value, (dict, list)) else value
        rows.append(f"| {key} | {shown} |")
    return "\n".join(rows + ([""] + [figures["table"]] if "table" in figures else [])) + "\n"


def main(names) -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for topic in _topics(names):
        print(f"== {topic}", flush=True)
        results[topic] = {**_run(topic), "measured": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                          "machine": f"{platform.machine()} {__import__('os').cpu_count()} cores, Python {platform.python_version()}"}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    head = README.read_text().split(MARK)[0] if README.exists() else "# Benchmarks\n\n"
    README.write_text(head + MARK + "\n\n" + "\n".join(_table(t, f) for t, f in sorted(results.items())))
    print(f"wrote {RESULTS.relative_to(HERE.parent)} and {README.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main(sys.argv[1:])
