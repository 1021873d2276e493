{
  "algorithm": "ed25519",
  "key_id": "fdaddd2491b6b2be",
  "signature": "C908NnCsoJLJnaTCd2GIivh1TNPpV1Gz/CNucCdvdPIQV9/7nwi7Il5qkeF6kmJ3wHXqWsMN5eotXiGTnl8xBQ=="
}
