"""Vision converter: fine-tune, distil, export, quantize and evaluate image embedders.

Modules, one job each:

- ``architectures``: MobileNetV2 / MobileNetV3 in plain torch (torchvision layout) and the embedder wrapper.
- ``data``: product-photo datasets, the image cache and augmentations.
- ``finetune``: teacher fine-tuning with a cosine classifier.
- ``distill``: student distillation from cached teacher feature maps.
- ``export_onnx`` / ``quantize`` / ``export_tflite``: deployable files.
- ``evaluate``: recall@k by SKU, export agreement, size and latency.
- ``recipe``: the named recipes (default, long, tiny).
- ``pipeline``: the end-to-end run; ``bundle``: the bundle source directory.
"""
