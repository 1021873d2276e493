"""The closed-vocabulary path: PocketSphinx (US English model of the ``pocketsphinx`` wheel) in grammar mode.

The grammar comes from the intent templates and the product names (:mod:`.grammar`). A grammar forces
speech onto it ("please call a taxi" → "please card" in a trial), so a hypothesis counts only when the
search reached the grammar's final state with a whole template sentence (speech outside the grammar often
ends with no hypothesis or a partial one: "how old is the queen" → "show"), *and* every word of it scores
close enough to a free phone loop over the same frames (:mod:`.confidence`: a likelihood-ratio test, the
phone loop decoded only for hypotheses that passed the first check). Otherwise the node says so
(``rejected``, with the reason in ``detail``) and falls back to the open-vocabulary engine. A rejected
sentence over the looser fallback floors is marked ``fallback``: it answers when Whisper, run next, is
unsure of its own transcript and that transcript means nothing (:meth:`.pipeline.VoicePipeline.respond`).
"""

from __future__ import annotations

import threading
import time

import numpy as np

from ..stages import Transcript
from ..audio import trim_silence
from .base import pcm16
from .confidence import segments, word_ratios

GRAMMAR, PHONE_LOOP = "kiosk", "phone_loop"



class SphinxGrammarEngine:
    """PocketSphinx grammar decoding with rejection of partial paths; one decoder, one call at a time."""

    name = "pocketsphinx-grammar"

    def __init__(self, mean_floor: float = -3.25, word_floor: float = -7.0, fallback_floors: tuple[float, float] = (-6.0, -7.5)):
        self.mean_floor, self.word_floor = mean_floor, word_floor
        self.fallback_mean_floor, self.fallback_word_floor = fallback_floors
        self._lock = threading.RLock()  # re-entered by transcribe_with_grammar
        self._decoder = None
        self._grammar_key = None
        self.dropped_words: set[str] = set()

    def describe(self) -> dict:
        return {"name": self.name, "languages": ["en"], "kind": "closed_vocabulary"}

    def _decoders(self):
        if self._decoder is None:
            from pocketsphinx import Decoder

            decoder = Decoder(lm=None, loglevel="FATAL")
            decoder.add_allphone_file(PHONE_LOOP, None)  # uniform phone loop: the ratio test's denominator
            self._decoder = decoder
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
            self._decoders().add_jsgf_string(GRAMMAR, text)
            self._grammar_key = key

    def transcribe_with_grammar(self, recognizer, extra_sentences: list[str], samples: np.ndarray, language: str,
                                context=None) -> Transcript:
        """:meth:`set_grammar` and :meth:`transcribe` under one lock: another thread (another store of the node)
        cannot swap the grammar between the two."""
        with self._lock:
            self.set_grammar(recognizer, extra_sentences)
            return self.transcribe(samples, language, context)

    def transcribe(self, samples: np.ndarray, language: str, context=None) -> Transcript:
        """Decode with the grammar (silence trimmed first); ``rejected`` unless a whole sentence passes the ratio test."""
        audio = pcm16(trim_silence(samples))
        with self._lock:
            hyp, words = self._decode(GRAMMAR, audio)
            sentence = bool(hyp) and (context is None or context.accepts(hyp))
            started = time.perf_counter()
            ratios = word_ratios(words, self._decode(PHONE_LOOP, audio)[1]) if sentence else None
            loop_ms = (time.perf_counter() - started) * 1000
        accepted = ratios is not None and ratios[0] >= self.word_floor and ratios[1] >= self.mean_floor
        reason = None if accepted else "no_sentence" if not sentence else "low_confidence"
        detail = {"hypothesis": hyp, "reason": reason, "phone_loop_ms": round(loop_ms, 1)}
        if ratios is not None:
            detail.update(worst_word_ratio=round(ratios[0], 2), mean_ratio=round(ratios[1], 2),
                          fallback=not accepted and ratios[0] >= self.fallback_word_floor and ratios[1] >= self.fallback_mean_floor)
        return Transcript(hyp, "en", round(self._confidence(ratios[1]) if accepted else 0.0, 3), self.name,
                          rejected=not accepted, detail=detail)

    def _decode(self, search: str, audio: bytes) -> tuple[str, list]:
        decoder = self._decoders()
        decoder.activate_search(search)
        decoder.start_utt()
        decoder.process_raw(audio, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        return (hyp.hypstr if hyp else ""), segments(decoder)

    def _confidence(self, ratio: float) -> float:
        """0.5 at the mean floor rising to 1.0 at a ratio of 0 (words as likely as the free phone loop)."""
        span = max(-self.mean_floor, 1e-6)
        return min(1.0, max(0.5, 1.0 - 0.5 * (-ratio) / span))
