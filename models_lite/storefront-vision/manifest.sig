{
  "algorithm": "ed25519",
  "key_id": "fdaddd2491b6b2be",
  "signature": "sXTN4dMMUz5xr6VsJhwc6G+5txUCRoyIzm8PKXeVPRPR88tjcV7Dtu1+9XxZsub0CRD11zVsDjZGa3t7+uyNCw=="
}
