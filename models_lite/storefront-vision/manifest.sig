{
  "algorithm": "ed25519",
  "key_id": "fdaddd2491b6b2be",
  "signature": "vX2i+6ZCaq2J4six4ektnzNhC23AlDvT52FqeQyg9THbPT4VA8kfd6uJdta+/mXz/q0SQDqrmlHXG7InzeCdBg=="
}
