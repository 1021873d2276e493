"""Training side of the fraud plugin: ULB credit-card data, the synthetic payment stream, the models
(Isolation Forest, autoencoder, gradient boosting) exported to ONNX, evaluation, and the signed
``storefront-fraud`` bundle."""
