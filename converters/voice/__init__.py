"""The voice converter: the FAQ sentence encoder (all-MiniLM-L6-v2 from PyPI) as an int8 ONNX model."""
