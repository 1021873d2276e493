"""The closed-vocabulary path: PocketSphinx (US English model of the ``pocketsphinx`` wheel) in grammar mode.

The grammar comes from the intent templates and the product names (:mod:`.grammar`). A grammar forces
speech onto it ("please call a taxi" → "please card" in a trial), so a hypothesis counts only when the
search reached the grammar's final state with a whole template sentence: speech outside the grammar ends
with no hypothesis or a partial one ("how old is the queen" → "show"), and the node then says so
(``rejected``) and falls back to the open-vocabulary engine. A phone-loop (allphone) garbage model was
tried here and dropped: on espeak-ng speech its phone strings were too poor to set a score floor.
"""

from __future__ import annotations

import threading

import numpy as np

from ..stages import Transcript
from ..audio import trim_silence
from .base import pcm16



class SphinxGrammarEngine:
    """PocketSphinx grammar decoding with rejection of partial paths; one decoder, one call at a time."""

    name = "pocketsphinx-grammar"

    def __init__(self):
        self._lock = threading.Lock()
        self._decoder = None
        self._grammar_key = None
        self.dropped_words: set[str] = set()

    def describe(self) -> dict:
        return {"name": self.name, "languages": ["en"], "kind": "closed_vocabulary"}

    def _decoders(self):
        if self._decoder is None:
            from pocketsphinx import Decoder

            self._decoder = Decoder(lm=None, loglevel="FATAL")
        return self._decoder

    def known_word(self, word: str) -> bool:
        """Whether the pronouncing dictionary has ``word``."""
        return self._decoders().lookup_word(word) is not None

    def set_grammar(self, recognizer, extra_sentences: list[str]) -> None:
        """(Re)build the grammar from ``recognizer``'s templates and products when they changed."""
        from .grammar import build_jsgf

        with self._lock:
            # The intents object itself, not its id(): an id can be reused by a later object once the first is freed.
            key = (recognizer.intents, tuple(sorted(recognizer.products)), tuple(extra_sentences))
            if self._grammar_key is not None and key[0] is self._grammar_key[0] and key[1:] == self._grammar_key[1:]:
                return
            text, self.dropped_words = build_jsgf(recognizer.intents, list(recognizer.products), extra_sentences, self.known_word)
            self._decoders().add_jsgf_string("kiosk", text)
            self._grammar_key = key

    def transcribe(self, samples: np.ndarray, language: str, context=None) -> Transcript:
        """Decode with the grammar (silence trimmed first); ``rejected`` unless ``context.accepts(text)``."""
        with self._lock:
            decoder = self._decoders()
            decoder.activate_search("kiosk")
            decoder.start_utt()
            decoder.process_raw(pcm16(trim_silence(samples)), full_utt=True)
            decoder.end_utt()
            hyp = decoder.hyp()
        text = hyp.hypstr if hyp else ""
        accepted = bool(text) and (context is None or context.accepts(text))
        score = float(hyp.score) if hyp else 0.0
        return Transcript(text, "en", round(score if accepted else 0.0, 3), self.name, rejected=not accepted,
                          detail={"hypothesis": text, "decoder_score": round(score, 3)})
