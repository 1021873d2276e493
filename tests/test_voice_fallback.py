"""The grammar's rejected sentence answers only when Whisper was unsure of a transcript that means nothing."""

from __future__ import annotations

import pytest

from plugins.voice.stages import Timings, Transcript
from tests.test_voice_text import app_config, store  # noqa: F401  (the voice node with a few catalog items)


def whisper(text: str, logprob: float, fallback: str | None) -> Transcript:
    return Transcript(text, "en", 0.5, "faster-whisper-tiny.en",
                      detail={"avg_logprob": logprob, "other_hypotheses": [fallback] if fallback else [], "fallback": fallback})


@pytest.mark.parametrize("text, logprob, fallback, intent, source", [
    ("I hope an unsung name morning.", -0.9, "are you open on sunday", "StoreHours", "grammar_fallback"),
    ("I hope an unsung name morning.", -0.3, "are you open on sunday", None, None),  # Whisper was sure: no answer
    ("I hope an unsung name morning.", -0.9, None, None, None),  # no grammar sentence over the fallback floors
    ("Where can I find the pineapple?", -0.9, "are you open on sunday", "ProductLocation", "templates"),  # Whisper's meaning wins
])
def test_grammar_fallback(store, app, text, logprob, fallback, intent, source):  # noqa: F811
    with app.test_request_context():
        turn = store.slot("voice").pipeline.respond(store.db(), "s-1", whisper(text, logprob, fallback), Timings())
    assert turn["intent"] == intent
    assert source is None or turn["intent_source"] == source


@pytest.mark.parametrize("text, grammar, intent, slots", [
    ("What is the capital of France?", "what is the status of my order", None, {}),  # an order sentence without its number
    ("What is the status of order 4711?", "what is the status of my order 4711", "OrderStatus", {"order_id": "4711"}),
])
def test_the_grammars_sentence_confirms_a_slot_intent_only_with_its_slot(store, app, text, grammar, intent, slots):  # noqa: F811
    with app.test_request_context():
        turn = store.slot("voice").pipeline.respond(store.db(), "s-2", whisper(text, -0.3, grammar), Timings())
    assert turn["intent"] == intent and turn["slots"] == slots
