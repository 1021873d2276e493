"""Choosing the speech-to-text path by itself: the grammar first, the open vocabulary when it rejects.

``asr_order`` (config) lists the engines tried in turn; the first transcript that is not rejected answers,
and the turn says which engine (``engine``) and which paths were tried (``asr_tried``, with each rejection's
reason). What a rejected engine heard travels on in the answering transcript's ``other_hypotheses`` (the
pipeline may confirm the grammar's sentence with it, see :meth:`.pipeline.VoicePipeline.understand`); when
the grammar accepts a sentence longer than ``grammar_verify_words``, Whisper is never run; a shorter one
answers only when Whisper, run next, confirms it (:func:`confirms`). Engines are created
once per node; Whisper needs the voice bundle's verified weights (:mod:`.weights`), Vosk the model folder
of a field team's voice bundle.
"""

from __future__ import annotations

import threading

from .stages import Transcript, VoiceError


class GrammarContext:
    """What the grammar engine needs to vouch for a hypothesis: a whole template sentence or FAQ question.

    ``known_order`` (order number -> whether the store has it), when given, keeps the grammar from vouching for
    an order sentence with a number the store does not know: the grammar forces other speech onto order
    numbers ("order me a pizza" -> "order eight eight six oh"), so such a sentence is left to the open vocabulary.
    """

    def __init__(self, recognizer, faq_questions, known_order=None):
        self.recognizer, self.faq = recognizer, {q.lower().strip(" ?.!") for q in faq_questions}
        self.known_order = known_order

    @property
    def product_names(self) -> list[str]:
        """The store's product names, sorted (read by Whisper's biasing only, so not built for the grammar)."""
        return sorted(self.recognizer.products) if self.recognizer is not None else []

    def accepts(self, text: str) -> bool:
        """Whether ``text`` is a FAQ question or a template sentence (an order one with an order of the store)."""
        if text in self.faq:
            return True
        match = self.recognizer.match(text)
        number = match.slots.get("order_id") if match.name == "OrderStatus" else None
        if number and self.known_order is not None and not self.known_order(str(number)):
            return False
        return match.name is not None


class SpeechRouter:
    """The node's speech engines by name, built on first use."""

    def __init__(self, config, weights_source):
        self.config, self.weights_source = config, weights_source
        self._engines: dict = {}
        self._lock = threading.Lock()

    def engine(self, name: str):
        with self._lock:
            if name not in self._engines:
                self._engines[name] = self._create(name)
            return self._engines[name]

    def _create(self, name: str):
        if name == "grammar":
            from .asr.sphinx import SphinxGrammarEngine

            return SphinxGrammarEngine(self.config.grammar_mean_floor, self.config.grammar_word_floor,
                                       (self.config.grammar_fallback_mean_floor, self.config.grammar_fallback_word_floor))
        if name == "whisper":
            from .asr.whisper import WhisperEngine

            folder = self.weights_source(f"whisper-{self.config.whisper_model}")
            return WhisperEngine(folder, self.config.whisper_model, beam=self.config.whisper_beam, bias=self.config.whisper_bias,
                                 temperature_fallback=self.config.whisper_temperature_fallback,
                                 prompt_vocabulary=self.config.whisper_prompt_vocabulary, prompt_chars=self.config.whisper_prompt_chars)
        if name == "vosk":
            from .asr.vosk import VoskEngine

            folder, language = self.weights_source("vosk")
            return VoskEngine(folder, language)
        raise VoiceError(f"unknown speech engine '{name}'", "unknown_engine", 422)

    @staticmethod
    def _run(engine, name, samples, language, recognizer, faq_questions, known_order=None) -> Transcript:
        try:
            context = GrammarContext(recognizer, faq_questions, known_order)
            if name == "grammar":
                return engine.transcribe_with_grammar(recognizer, faq_questions, samples, language, context)
            return engine.transcribe(samples, language, context)
        except VoiceError:
            raise
        except Exception as exc:  # an engine's own failure (a model that will not load) is a 503, never a 500
            raise VoiceError(f"speech engine '{name}' failed: {exc}", "asr_failed", 503) from None

    def transcribe(self, samples, language: str, recognizer, faq_questions, timings, known_order=None) -> tuple[Transcript, list]:
        """The first accepted transcript along ``asr_order`` and the list of engines tried (``known_order``: see
        :class:`GrammarContext`)."""
        tried, last, pending = [], None, None
        for name in self.config.asr_order:
            if name == "grammar" and language != "en":
                continue
            if name == "whisper" and language != "en" and self.config.whisper_model.endswith(".en"):
                continue
            engine = self.engine(name)
            if name == "vosk" and engine.language != language:
                continue
            with timings.stage(f"asr_{name}"):
                last = self._run(engine, name, samples, language, recognizer, faq_questions, known_order)
            tried.append({"engine": last.engine, "rejected": last.rejected, "text": last.text,
                          **{k: last.detail[k] for k in ("reason", "phone_loop_ms", "fallback") if k in last.detail}})
            if last.rejected:
                continue
            if pending is not None:
                return self._verified(pending, last, recognizer, tried)
            if name == "grammar" and self._needs_verifying(last, name):
                pending = last  # a short sentence: the next engine must confirm it
                continue
            last.detail["other_hypotheses"] = [t["text"] for t in tried[:-1] if t["text"]]
            last.detail["fallback"] = next((t["text"] for t in tried[:-1] if t.get("fallback")), None)
            return last, tried
        if pending is not None:
            return pending, tried
        if last is None:
            raise VoiceError(f"no speech engine serves language '{language}'", "no_engine", 422)
        return last, tried

    def _needs_verifying(self, transcript: Transcript, name: str) -> bool:
        """Whether the grammar's accepted sentence is short enough (``grammar_verify_words``) to need the next engine's
        word, and there is a next engine: two or three words give the ratio test little to go on, and a grammar
        forces other speech onto its short sentences ("please call a taxi" -> "refund policy")."""
        order = list(self.config.asr_order)
        later = order[order.index(name) + 1:]
        return bool(later) and len(transcript.text.split()) <= self.config.grammar_verify_words

    @staticmethod
    def _verified(sentence: Transcript, heard: Transcript, recognizer, tried: list) -> tuple[Transcript, list]:
        """The grammar's short ``sentence`` when the open-vocabulary ``heard`` confirms it, else ``heard`` (with the
        sentence as another hypothesis, like a rejected grammar's)."""
        if confirms(recognizer, heard.text, sentence.text):
            sentence.detail.update(confirmed_by=heard.text, other_hypotheses=[], fallback=None)
            return sentence, tried
        next(t for t in tried if t["engine"] == sentence.engine).update(rejected=True, reason="not_confirmed")
        heard.detail["other_hypotheses"] = [sentence.text]
        heard.detail["fallback"] = None
        return heard, tried


def confirms(recognizer, heard: str, sentence: str) -> bool:
    """Whether the open-vocabulary ``heard`` confirms the grammar's ``sentence``: nearly the same words, or the same
    intent by its templates or cue words."""
    from .cues import match_cues
    from .similar import agree

    if agree(heard, sentence) is not None:
        return True
    wanted = recognizer.match(sentence).name
    said = recognizer.match(heard).name or match_cues(heard, recognizer.products, recognizer.language).name
    return wanted is not None and said == wanted
