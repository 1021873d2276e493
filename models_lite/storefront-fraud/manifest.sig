{
  "algorithm": "ed25519",
  "key_id": "b8bf6522d88ae6d2",
  "signature": "/gDHyKLalBkbdkV7eA32seMVXYJSdGqSKE1zGVdCum9TGf8I9iTzZdW0kpxjdt+PuwhnXGStUjAML0y1AdEaDw=="
}
