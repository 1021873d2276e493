{
  "algorithm": "ed25519",
  "key_id": "b8bf6522d88ae6d2",
  "signature": "1c7f78kK2j/z1qSD5Yiwcbv4+jSDX+XzL2Tnq+K5+4jR3CGpsjUkMp32UwOdEuhBv6CNAgVNOiHXA62YxtM6DA=="
}
