{
  "algorithm": "ed25519",
  "key_id": "b8bf6522d88ae6d2",
  "signature": "nyEX/oXzQ2b+0G0qFz9RnJF9myqZH6ESr96pa9FgTMSwmj3pT7tl7S7Oz13ICei2KhWp4CGR9rejHCMkUZ7/Dg=="
}
