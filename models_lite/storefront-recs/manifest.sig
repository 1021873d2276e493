{
  "algorithm": "ed25519",
  "key_id": "b8bf6522d88ae6d2",
  "signature": "EodrLVSagcaPGYSMDHpFb50rsY+ybglffsPC71cSCcsFlkr7gd0ufSmXZ14qcEelFZWDxzSK4sEAAmRCSkyGDA=="
}
