"""Rejection and recovery for speech the templates do not hold: the grammar's likelihood-ratio confidence and
the intent of the nearest template expansion for open-vocabulary text."""

from __future__ import annotations

import pytest

from plugins.voice.asr.confidence import loop_score, word_ratios

PHONES = [("SIL", 0, 9, -10.0), ("AH", 10, 19, -20.0), ("B", 20, 29, -30.0)]


def test_the_phone_loop_score_of_a_span_is_cut_pro_rata_at_its_edges():
    assert loop_score(PHONES, 10, 19) == pytest.approx(-20.0)
    assert loop_score(PHONES, 15, 24) == pytest.approx(-10.0 - 15.0)
    assert loop_score(PHONES, 40, 50) == 0.0


def test_a_forced_word_sinks_the_worst_ratio_while_silence_and_fillers_do_not_count():
    heard = [("<s>", 0, 9, -900.0), ("a", 10, 19, -25.0), ("b", 20, 29, -35.0), ("</s>", 30, 30, -900.0)]
    worst, mean = word_ratios(heard, PHONES)
    assert worst == pytest.approx(-0.5) and mean == pytest.approx(-0.5)
    forced = [("a", 10, 19, -25.0), ("b", 20, 29, -230.0)]
    worst, mean = word_ratios(forced, PHONES)
    assert worst == pytest.approx(-20.0) and mean == pytest.approx((-5.0 - 200.0) / 20)
    assert word_ratios([("<sil>", 0, 29, -1.0), ("[NOISE]", 0, 3, -1.0)], PHONES) is None


PRODUCTS = {"pineapple": "Pineapple", "oat milk": "Oatly-Oat-Milk", "avocado": "Avocado"}


@pytest.fixture(scope="module")
def index():
    from plugins.voice.intents import Recognizer
    from plugins.voice.similar import TemplateIndex

    return TemplateIndex.from_recognizer(Recognizer.build("en", PRODUCTS), 0.45)


@pytest.mark.parametrize("text, intent, slots", [
    ("i would love some pineapple", "ProductAvailability", {"product": "Pineapple"}),
    ("aisle for the avocados", "ProductLocation", {"product": "Avocado"}),
    ("you got pine apple", "ProductAvailability", {"product": "Pineapple"}),
    ("my order 4711 has it shipped yet", "OrderStatus", {"order_id": "4711"}),
    ("call me a cab", None, {}),  # a template frame ("call me a manager") without its content word
    ("i would love some pizza", None, {}),  # availability without a product of the store
    ("what is the capital of france", None, {}),
])
def test_the_nearest_template_expansion_gives_intent_and_slot_or_nothing(index, text, intent, slots):
    match = index.match(text, PRODUCTS)
    assert (match.name, match.slots) == (intent, slots)
    assert match.source == "similar"


def test_an_order_needs_the_word_order_and_a_number():
    from plugins.voice.intents import Recognizer
    from plugins.voice.similar import TemplateIndex

    index = TemplateIndex.from_recognizer(Recognizer.build("en", PRODUCTS), 0.3)
    assert index.match("what is 10 times 3", PRODUCTS).name is None
    assert index.match("whats going on with order 4711", PRODUCTS).slots == {"order_id": "4711"}


def test_a_product_the_grammar_heard_fills_the_slot_whisper_misspelt_only_for_the_same_intent():
    from plugins.voice.config import VoiceConfig
    from plugins.voice.intents import Recognizer
    from plugins.voice.pipeline import VoicePipeline

    recognizer = Recognizer.build("en", PRODUCTS)
    pipeline = VoicePipeline(VoiceConfig())
    index = pipeline.template_index(recognizer)
    assert pipeline.template_index(recognizer) is index  # built once per template set
    grammar = ["i am looking for some avocado"]
    match = pipeline._grammar_product(recognizer, index, "i am looking for some lucado", grammar)
    assert (match.name, match.slots, match.source) == ("ProductAvailability", {"product": "Avocado"}, "similar+grammar")
    assert pipeline._grammar_product(recognizer, index, "is there somewhere to park", grammar).name is None
    assert pipeline._grammar_product(recognizer, index, "where is the lucado", grammar).name is None  # aisle, not stock
    assert pipeline._grammar_product(recognizer, index, "i am looking for some lucado", ["i am looking for"]).name is None
    # Whisper heard a word there that does not sound like the grammar's product: the grammar forced it
    assert pipeline._grammar_product(recognizer, index, "i am looking for some bicycle", grammar).name is None


@pytest.mark.parametrize("whisper, grammar, intent, slots", [
    ("Have you got some damage?", "have you got some lemon", "ProductAvailability", {"product": "Lemon"}),
    ("what time is it in tokyo", "what time do you open", None, {}),
    ("tell me a story", "do you sell pineapple", None, {}),
])
def test_the_grammar_sentence_answers_when_the_open_vocabulary_transcript_nearly_agrees(whisper, grammar, intent, slots):
    from plugins.voice.intents import Recognizer
    from plugins.voice.pipeline import VoicePipeline

    from plugins.voice.config import VoiceConfig

    recognizer = Recognizer.build("en", {**PRODUCTS, "lemon": "Lemon"})
    match = VoicePipeline(VoiceConfig())._confirmed_grammar(recognizer, whisper, [grammar])
    assert (match.name, match.slots) == (intent, slots)
