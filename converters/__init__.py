"""Training-side tools: turn trained models into small edge bundles.

Nothing heavy is imported here; torch and onnx are imported inside the
functions that need them so that ``import converters`` stays cheap.
"""
