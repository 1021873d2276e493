{
  "algorithm": "ed25519",
  "key_id": "b8bf6522d88ae6d2",
  "signature": "L/VDpHetLtPzOBbeZwxBd8H4gKTJfr4NQoYyR1HChCFwAuJQfIT3lPnOJQC/SGRHM8iG+3qy5PQaBVk58ei0DA=="
}
