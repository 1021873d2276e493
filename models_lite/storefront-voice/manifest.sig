{
  "algorithm": "ed25519",
  "key_id": "b8bf6522d88ae6d2",
  "signature": "DPlX2zZinTJXJasxdfzSr4oMA0ZnAX3SmPJQAgYj9dup38DQTvEM2LGJyV2o0iFCkE7vWnnp4m7WRvq05mjbDg=="
}
