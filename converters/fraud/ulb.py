"""The ULB credit-card format: ``Time, V1..V28, Amount, Class`` (an optional unnamed index column first)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

ULB_FEATURES = ("Time", *(f"V{i}" for i in range(1, 29)), "Amount")


class DataError(ValueError):
    """A CSV that is not in the expected format."""


def read_ulb(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` of a ULB CSV: X float32 in ``ULB_FEATURES`` order, y 0/1 (``Class``)."""
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip().strip('"') for h in next(reader)]
        except StopIteration:
            raise DataError(f"{Path(path).name} is empty") from None
        missing = [c for c in (*ULB_FEATURES, "Class") if c not in header]
        if missing:
            raise DataError(f"{Path(path).name} lacks column(s) {', '.join(missing)}")
        columns = [header.index(c) for c in ULB_FEATURES]
        label = header.index("Class")
        X, y = [], []
        for number, row in enumerate(reader, start=2):
            try:
                X.append([float(row[c]) for c in columns])
                y.append(int(float(row[label].strip().strip('"'))))
            except (ValueError, IndexError):
                raise DataError(f"{Path(path).name} line {number}: not a number where one is expected") from None
    if not X:
        raise DataError(f"{Path(path).name} has no rows")
    return np.asarray(X, dtype=np.float32), np.asarray(y, dtype=np.int64)
