"""Catalog-aware slot repair: a misheard product word becomes the catalog name it sounds like, a far word stays."""

from __future__ import annotations

import pytest

from plugins.voice.phonetic import SlotRepair, distance, phonemes
from tests.test_voice_text import app_config, ask, store  # noqa: F401  (the voice node with a few catalog items)

PRODUCTS = {"zucchini": "Zucchini", "soy milk": "Soy-Milk", "banana": "Banana", "garlic": "Garlic"}
TEMPLATE_WORDS = {"do", "you", "have", "any", "some", "where", "is", "the", "i", "am", "looking", "for", "order"}


def repair(text: str, floor: float = 0.34):
    return SlotRepair(PRODUCTS, TEMPLATE_WORDS, floor).repair(text)


def test_phonemes_come_from_the_cmu_dictionary_and_unknown_words_have_none():
    assert phonemes("zucchini") == ("Z", "UW", "K", "IY", "N", "IY")
    assert phonemes("soy milk") == ("S", "OY", "M", "IH", "L", "K")
    assert phonemes("qzxqzx") is None


def test_distance_is_zero_for_the_same_sound_and_vowels_swap_at_half_cost():
    assert distance(("B", "IY"), ("B", "IY")) == 0.0
    assert distance(("B", "IY"), ("B", "IH")) == 0.25
    assert distance(("B", "IY"), ("K", "IY")) == 0.5
    assert distance((), ("K",)) == 1.0


def test_a_misheard_product_word_becomes_the_catalog_name_it_sounds_like():
    assert repair("do you have any bikini") == ("do you have any zucchini", {"heard": "bikini", "name": "zucchini", "distance": 0.25})
    assert repair("i am looking for some soil milk")[0] == "i am looking for some soy milk"


def test_a_far_word_template_words_and_unknown_words_are_left_alone():
    assert repair("do you have any bicycle") == ("do you have any bicycle", None)
    assert repair("where is the order") == ("where is the order", None)  # template words are never repaired
    assert repair("do you have any qzxqzx") == ("do you have any qzxqzx", None)


def test_the_floor_decides_and_a_store_without_the_name_keeps_the_word():
    assert repair("do you have any bikini", floor=0.2)[1] is None
    no_zucchini = SlotRepair({"banana": "Banana"}, TEMPLATE_WORDS, 0.34)
    assert no_zucchini.repair("do you have any bikini") == ("do you have any bikini", None)


@pytest.fixture
def zucchini_store(store):  # noqa: F811
    """The text path's store with zucchini in its catalog and slot repair on (off by default)."""
    store.slot("voice").pipeline.config.repair_floor = 0.34
    store.db()["catalog_items"].insert({"id": "default/Zucchini", "sku": "Zucchini", "title": "Zucchini", "price": 9.0,
                                        "currency": "SEK", "in_stock": 1}, pk="id")
    return store


@pytest.mark.parametrize("text, intent, sku, source", [
    ("where can i find the bikini", "ProductLocation", "Zucchini", "templates+repair"),
    ("have you any bikinis", "ProductAvailability", "Zucchini", "cues+repair"),
    ("do you have any bicycles", None, None, None),
])
def test_the_text_path_repairs_product_words_before_matching(zucchini_store, client, client_headers, text, intent, sku, source):
    turn = ask(client, client_headers, text)
    assert turn["intent"] == intent
    assert turn["slots"].get("product") == sku
    assert source is None or turn["intent_source"] == source


def test_sounds_like_needs_the_words_outside_the_templates_to_sound_like_the_name():
    repairer = SlotRepair(PRODUCTS, TEMPLATE_WORDS | {"find", "nearest"}, 0.34)
    assert not repairer.sounds_like("where is the nearest hospital", "zucchini", 0.6)
    assert repairer.sounds_like("where is the lucky", "zucchini", 0.6)
    assert not repairer.sounds_like("where is the lucky", "zucchini", 0.5)
    assert repairer.sounds_like("where is the", "zucchini", 0.6)  # the name was dropped: nothing says otherwise


def test_the_grammar_s_product_fills_a_slot_only_where_the_open_vocabulary_text_could_hold_it(zucchini_store, app):
    with app.test_request_context():
        pipeline, db = zucchini_store.slot("voice").pipeline, zucchini_store.db()
        misheard = pipeline.understand(db, "how do i find the lucky", "en", ["how do i find the zucchini"])
        assert (misheard.name, misheard.slots.get("product")) == ("ProductLocation", "Zucchini")
        elsewhere = pipeline.understand(db, "how do i find the train station", "en", ["how do i find the zucchini"])
        assert elsewhere.name is None


def test_a_word_the_dictionary_lacks_counts_for_the_name_it_is_spelt_like():
    repairer = SlotRepair(PRODUCTS, TEMPLATE_WORDS, 0.34)
    assert phonemes("vermanana") is None and phonemes("garlec") is None
    assert repairer.sounds_like("do you have some vermanana", "banana", 0.6)  # holds the name
    assert repairer.sounds_like("where is the garlec", "garlic", 0.6)  # spelt nearly so
    assert not repairer.sounds_like("where is the xqzt", "garlic", 0.6)
    assert not repairer.sounds_like("where is the hospital", "garlic", 0.6)  # a real word is judged by its sound
