"""Write a SYNTHETIC payment stream with planted fraud rings and card-testing bursts as CSV (the input of
``storefront-edge fraud backtest``): ``python -m benchmarks.payment_stream OUT.csv [--seed N --accounts N
--hours H --rings N --bursts N]``. The generator itself is :mod:`converters.fraud.stream` (the shipped
fraud bundle is trained on it); the parameters are printed as JSON on stderr."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    from converters.fraud.stream import StreamParams, describe, generate, write_csv

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    defaults = StreamParams()
    for name in ("seed", "accounts", "rings", "bursts"):
        parser.add_argument(f"--{name}", type=int, default=getattr(defaults, name))
    parser.add_argument("--hours", type=float, default=defaults.hours)
    args = parser.parse_args(argv)
    params = StreamParams(seed=args.seed, accounts=args.accounts, hours=args.hours, rings=args.rings, bursts=args.bursts)
    rows = generate(params)
    write_csv(rows, args.out)
    print(json.dumps({**describe(params), "payments": len(rows), "fraud": sum(r["label"] for r in rows)}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
