{
  "algorithm": "ed25519",
  "key_id": "fdaddd2491b6b2be",
  "signature": "olXcL+5hB4dVVHUfFpSbnzFT5PtkoqDuSI36DKKQfymM6PY6Vs5MIeExiPWKzWULLVq23PblejXipFS+nICbBg=="
}
