{
  "algorithm": "ed25519",
  "key_id": "b8bf6522d88ae6d2",
  "signature": "1EPHJBv/CnX01tSiwH+RkkFuxwC1eQHa0g3f+SOUg/KOAABH2NCvLwCn/blbgLDvKF87TxlSu6ZKahYO++ngAQ=="
}
