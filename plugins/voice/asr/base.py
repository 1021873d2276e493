"""The speech-to-text interface every engine implements, after Wyoming's ``transcribe → transcript``."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..stages import Transcript


class Engine(Protocol):
    """An engine transcribes 16 kHz mono float32 audio; ``describe()`` names it and its languages."""

    name: str

    def transcribe(self, samples: np.ndarray, language: str, context) -> Transcript:
        """A transcript of ``samples``; ``rejected=True`` when the engine heard nothing it can vouch for."""

    def describe(self) -> dict:
        """``{"name", "languages", "kind"}`` for Wyoming's ``info`` and ``/readyz``."""


def pcm16(samples: np.ndarray) -> bytes:
    """16-bit little-endian PCM bytes of float samples."""
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
