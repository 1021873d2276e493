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


@pytest.mark.parametrize("text, grammar, intent, slots, source", [
    # Whisper lost the number, the grammar heard one of the store's orders
    ("Where is my order for San Juan Juan?", "where is my order four seven one one", "OrderStatus", {"order_id": "4711"}, "grammar_order"),
    ("Did my order number 471 arrived.", "did my order number four seven one one arrived", "OrderStatus", {"order_id": "4711"}, "grammar_order"),
    ("Where is my order for San Juan Juan?", "where is my order eight eight six oh", None, {}, None),  # 8860 is no order here
    ("The order of the planets.", "order four seven one one", "OrderStatus", {"order_id": "4711"}, "grammar_order"),
    ("Play some music.", "order four seven one one", None, {}, None),  # the text never says "order"
    # a known order named without the word "order"
    ("Send us a more good 4-7-1-1 please.", "can i return order", "OrderStatus", {"order_id": "4711"}, "named_order"),
    ("What is ten times 300?", None, None, {}, None),
])
def test_an_order_of_the_store_heard_by_one_recogniser_answers(store, app, text, grammar, intent, slots, source):  # noqa: F811
    with app.test_request_context():
        turn = store.slot("voice").pipeline.respond(store.db(), "s-3", whisper(text, -0.3, grammar), Timings())
    assert turn["intent"] == intent and turn["slots"] == slots
    assert source is None or turn["intent_source"] == source


def test_the_transcripts_own_cue_words_outvote_a_sound_alike_grammar_sentence(store, app):  # noqa: F811
    text, grammar = "I would like to send back these trousers", "i would like to speak to the person"
    with app.test_request_context():
        turn = store.slot("voice").pipeline.respond(store.db(), "s-4", whisper(text, -0.3, grammar), Timings())
    assert turn["intent"] == "ReturnsPolicy" and not turn["escalated"]


def test_the_grammar_vouches_for_an_order_sentence_only_with_an_order_of_the_store(store, app):  # noqa: F811
    from plugins.voice.speech import GrammarContext

    with app.test_request_context():
        recognizer = store.slot("voice").pipeline.recognizer(store.db(), "en")
    known = GrammarContext(recognizer, [], known_order=lambda number: number in {"4711", "1234"})
    assert known.accepts("order four seven one one") and known.accepts("where is my order")
    assert not known.accepts("order eight eight six oh")  # "order me a pizza", forced onto the grammar
    assert GrammarContext(recognizer, []).accepts("order eight eight six oh")  # without the store's orders: as before


@pytest.mark.parametrize("text, grammar, intent", [
    ("What is the capital of France?", "what is the status of order 1234", None),  # an order sentence, but no "order" heard
    ("How do I fix my bike?", "how can i exchange my item", None),  # no word of returns in the transcript
    ("How can I swap my item?", "how can i exchange my item", "ReturnsPolicy"),
    ("Have you got some garlec?", "have you got some garlic", "ProductAvailability"),  # the grammar's product, spelt alike
])
def test_a_grammar_sentence_is_confirmed_only_by_a_transcript_that_carries_its_intent(store, app, text, grammar, intent):  # noqa: F811
    with app.test_request_context():
        turn = store.slot("voice").pipeline.respond(store.db(), "s-5", whisper(text, -0.3, grammar), Timings())
    assert turn["intent"] == intent
