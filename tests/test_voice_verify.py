"""A short grammar sentence answers only when the open-vocabulary engine confirms it."""

from __future__ import annotations

import numpy as np
import pytest

from plugins.voice.config import VoiceConfig
from plugins.voice.speech import SpeechRouter
from plugins.voice.stages import Timings, Transcript
from tests.test_voice_text import app_config, store  # noqa: F401  (the voice node with a few catalog items)


class Heard:
    """A speech engine that always hears ``text`` (and counts its calls)."""

    def __init__(self, text: str, engine: str):
        self.text, self.engine, self.calls = text, engine, 0

    def _heard(self) -> Transcript:
        self.calls += 1
        return Transcript(self.text, "en", 0.9, self.engine)

    def transcribe_with_grammar(self, recognizer, extra, samples, language, context=None) -> Transcript:
        return self._heard()

    def transcribe(self, samples, language, context=None) -> Transcript:
        return self._heard()


def route(store, grammar: str, whisper: str, verify_words: int = 2):  # noqa: F811
    router = SpeechRouter(VoiceConfig(grammar_verify_words=verify_words), lambda name: None)
    router._engines = {"grammar": Heard(grammar, "pocketsphinx-grammar"), "whisper": Heard(whisper, "faster-whisper-tiny.en")}
    recognizer = store.slot("voice").pipeline.recognizer(store.db(), "en")
    transcript, tried = router.transcribe(np.zeros(16000, np.float32), "en", recognizer, [], Timings())
    return transcript, tried, router._engines["whisper"].calls


@pytest.mark.parametrize("grammar, whisper, engine, other", [
    ("refund policy", "Please call a taxi.", "faster-whisper-tiny.en", ["refund policy"]),  # not confirmed
    ("refund policy", "Refund policy?", "pocketsphinx-grammar", []),  # the same words
    ("returns policy", "What's your policy on refunds?", "pocketsphinx-grammar", []),  # the same intent by cue words
])
def test_a_short_grammar_sentence_needs_the_open_vocabulary_to_confirm_it(store, app, grammar, whisper, engine, other):  # noqa: F811
    with app.test_request_context():
        transcript, tried, calls = route(store, grammar, whisper)
    assert transcript.engine == engine and calls == 1
    assert transcript.detail["other_hypotheses"] == other
    assert tried[0]["rejected"] == (engine != "pocketsphinx-grammar")


def test_a_longer_grammar_sentence_answers_alone_and_the_check_can_be_turned_off(store, app):  # noqa: F811
    with app.test_request_context():
        transcript, _, calls = route(store, "i am looking for some pineapple", "Something else entirely.")
        assert transcript.engine == "pocketsphinx-grammar" and calls == 0
        transcript, _, calls = route(store, "refund policy", "Please call a taxi.", verify_words=0)
        assert transcript.engine == "pocketsphinx-grammar" and calls == 0


def test_an_unconfirmed_grammar_sentence_is_not_the_answer_of_the_turn(store, app):  # noqa: F811
    with app.test_request_context():
        transcript, _, _ = route(store, "refund policy", "Please call a taxi.")
        turn = store.slot("voice").pipeline.respond(store.db(), "s-1", transcript, Timings())
    assert turn["intent"] is None and turn["transcript"] == "Please call a taxi."
