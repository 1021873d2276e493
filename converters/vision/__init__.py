"""Vision converter: fine-tune, distil, export, quantize and evaluate image embedders.

Modules, one job each:

- ``architectures``: MobileNetV2 / MobileNetV3 in plain torch (torchvision layout), the
  embedder wrapper, channel pruning of MobileNetV2.
- ``data``: product-photo datasets (list files or one folder per SKU), the decoded-image
  cache and batch augmentations.
- ``finetune``: teacher fine-tuning with a cosine classifier.
- ``distill``: student distillation from cached teacher feature maps.
- ``checkpoint``: per-epoch checkpoints for ``--resume``.
- ``export_onnx`` / ``quantize`` / ``export_tflite``: deployable files.
- ``evaluate``: recall@k by SKU, export agreement, size and latency.
- ``recipe``: the named recipes (default, long, tiny).
- ``pipeline``: the end-to-end run; ``bundle``: the bundle source directory.
- ``demo_catalog``: the demo catalog from the Grocery Store Dataset.

Decisions (measured on the grocery photos, catalog = train, queries = val):

- The embedding is the L2-normalised pooled feature, not centred: centring on the
  catalog mean lowered the raw teacher's recall@1 (0.608 vs 0.622).
- Static int8 keeps the first four convolutions and the depthwise ones in float:
  cosine to fp32 rose from 0.93 to 0.99 for +60 kB (see ``quantize.float_nodes``).
- The TFLite file carries int8 weights with float activations (ai-edge-quantizer
  dynamic range): 2.6 MB instead of 9 MB for MobileNetV2; on x86 it runs slower
  than the fp32 TFLite file, on ARM boards the smaller file is the point.
"""
