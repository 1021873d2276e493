"""Write a voice bundle's ``bundle.json`` with the FAQ encoder: the shipped spec plus the ``voice_encoder`` model.

``python -m converters.voice.bundle SHIPPED_BUNDLE_JSON OUT_DIR`` (used by ``make voice-encoder-bundle``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def encoder_spec(shipped: dict, minor_bump: bool = True) -> dict:
    """``shipped`` with model ``voice_encoder`` added and its version's minor part raised."""
    major, minor, _ = shipped["version"].split(".")[:3]
    spec = {**shipped, "models": {**shipped.get("models", {}),
                                 "voice_encoder": {"file": "voice_encoder.int8.onnx", "runtime": "onnx"}}}
    if minor_bump:
        spec["version"] = f"{major}.{int(minor) + 1}.0"
    return spec


def main(argv: list[str]) -> None:
    shipped, out_dir = Path(argv[0]), Path(argv[1])
    spec = encoder_spec(json.loads(shipped.read_text()))
    (out_dir / "bundle.json").write_text(json.dumps(spec, indent=2))
    print(f"{out_dir / 'bundle.json'}: {spec['name']} {spec['version']} with voice_encoder")


if __name__ == "__main__":
    main(sys.argv[1:])
