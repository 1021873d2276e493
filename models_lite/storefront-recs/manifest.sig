{
  "algorithm": "ed25519",
  "key_id": "b8bf6522d88ae6d2",
  "signature": "vsZFBHrQPMn6vFITGqRgwBYXsqen0DGESNBxELG1wW2dVjklz67UsIlM2GMTUqJN8k0OmRCPvGhZrMkpwGbaDQ=="
}
