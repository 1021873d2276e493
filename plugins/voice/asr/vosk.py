"""Vosk (Kaldi) behind the same interface: the engine of the product brief, for a field team's model.

The model folder travels inside a field team's signed voice bundle (``voice.vosk`` in its ``bundle.json``:
``{"folder": "vosk-model", "language": "ko"}``), so the bundle's manifest covers every file of it. With
``set_phrases`` the recogniser runs in grammar mode (the phrases only; Vosk drops words its vocabulary lacks,
and models without an ``[unk]`` word cannot reject speech outside the phrases), otherwise free dictation.
Confidence is the mean word confidence; no words, or a mean under ``floor``, is ``rejected``.
"""

from __future__ import annotations

import json
import threading

import numpy as np

from ..stages import Transcript
from .base import pcm16


class VoskEngine:
    """A Vosk model loaded on first use; one recogniser per call (they are cheap), the model shared."""

    name = "vosk"

    def __init__(self, model_dir, language: str, floor: float = 0.5):
        self.model_dir, self.language, self.floor = model_dir, language, floor
        self.phrases: list[str] | None = None
        self._model = None
        self._lock = threading.Lock()

    def describe(self) -> dict:
        return {"name": self.name, "languages": [self.language], "kind": "grammar" if self.phrases else "open_vocabulary"}

    def set_phrases(self, phrases: list[str] | None) -> None:
        """Restrict recognition to ``phrases`` (grammar mode), or ``None`` for free dictation."""
        self.phrases = list(phrases) if phrases else None

    def model(self):
        with self._lock:
            if self._model is None:
                from vosk import Model, SetLogLevel

                SetLogLevel(-1)
                self._model = Model(str(self.model_dir))
            return self._model

    def transcribe(self, samples: np.ndarray, language: str, context=None) -> Transcript:
        """Decode 16 kHz mono ``samples``; word confidences give the transcript's confidence."""
        from vosk import KaldiRecognizer

        model = self.model()
        recognizer = (KaldiRecognizer(model, 16000, json.dumps(self.phrases, ensure_ascii=False)) if self.phrases
                      else KaldiRecognizer(model, 16000))
        recognizer.SetWords(True)
        recognizer.AcceptWaveform(pcm16(samples))
        result = json.loads(recognizer.FinalResult())
        words = result.get("result", [])
        confidence = float(np.mean([w["conf"] for w in words])) if words else 0.0
        return Transcript(result.get("text", ""), self.language, round(confidence, 3), self.name,
                          rejected=not words or confidence < self.floor, detail={"words": len(words)})
