{
  "algorithm": "ed25519",
  "key_id": "b8bf6522d88ae6d2",
  "signature": "UR11lbPK8uqWWhGqQT3R4FaR0l2VDN1d8oeBMt7HCGj134cU4Bf9QhTCYnt2LerKqs1JFVOkPMrikHBDS3XgBA=="
}
