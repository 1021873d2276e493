"""``make bench``: speed and memory figures, written to results/latest.json and README.md (never asserted in tests)."""
