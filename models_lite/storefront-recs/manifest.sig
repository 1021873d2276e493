{
  "algorithm": "ed25519",
  "key_id": "b8bf6522d88ae6d2",
  "signature": "gLqDcxv7bW5cZX11cH3VlWIWwAiHKjVWVOsuJiMlrFa1NSUPVctJcAMwOBACCBShMyLtc7tS/zTHCNsVHudYDg=="
}
