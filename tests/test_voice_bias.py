"""Whisper biasing: the store's product names reach faster-whisper as a prompt or hotwords, cut to a bound."""

from __future__ import annotations

from plugins.voice.asr.whisper import PROMPT_CHARS, WhisperEngine
from plugins.voice.intents import Recognizer
from plugins.voice.speech import GrammarContext


def context(names):
    return GrammarContext(Recognizer.build("en", {name: name.title() for name in names}), [])


def test_the_prompt_lists_the_store_s_product_names():
    engine = WhisperEngine("unused", "tiny.en", bias="prompt")
    options = engine.biasing(context(["zucchini", "oat milk"]))
    assert set(options) == {"initial_prompt"}
    assert "oat milk, zucchini" in options["initial_prompt"]


def test_hotwords_and_no_bias_and_no_products():
    assert WhisperEngine("unused", "tiny.en", bias="hotwords").biasing(context(["lemon", "mango"])) == {"hotwords": "lemon, mango"}
    assert WhisperEngine("unused", "tiny.en", bias="none").biasing(context(["lemon"])) == {}
    assert WhisperEngine("unused", "tiny.en", bias="prompt").biasing(context([])) == {}
    assert WhisperEngine("unused", "tiny.en", bias="prompt").biasing(None) == {}


def test_a_large_catalog_is_cut_at_whole_names():
    names = [f"product number {i:05d}" for i in range(400)]
    listed = WhisperEngine("unused", "tiny.en", bias="hotwords").biasing(context(names))["hotwords"]
    assert len(listed) <= PROMPT_CHARS
    assert all(part in names for part in listed.split(", "))
    assert listed.endswith("product number 00399")  # Whisper reads a prompt's end: the end is kept
    assert len(listed) + len(", ") + len(names[0]) > PROMPT_CHARS  # as many whole names as fit


def test_a_name_longer_than_the_bound_is_not_cut_into_the_prompt():
    assert WhisperEngine("unused", "tiny.en", bias="prompt").biasing(context(["x" * (PROMPT_CHARS + 1)])) == {}


def test_the_temperature_fallback_is_faster_whispers_default_and_can_be_turned_off():
    from plugins.voice.config import VoiceConfig
    from plugins.voice.speech import SpeechRouter

    assert WhisperEngine("unused", "tiny.en").decoding() == {}  # faster-whisper's own ladder 0.0 ... 1.0
    router = SpeechRouter(VoiceConfig(whisper_temperature_fallback=False), lambda name: "unused")
    assert router.engine("whisper").decoding() == {"temperature": 0.0}


def test_the_kiosk_prompt_is_built_from_the_templates_and_the_catalog():
    from plugins.voice.asr.prompt import kiosk_keywords, kiosk_prompt, kiosk_sentences

    recognizer = context(["zucchini", "oat milk"]).recognizer
    sentences = kiosk_sentences(recognizer)
    assert len(sentences) == len(recognizer.intents.intents)  # one per intent
    assert all(recognizer.match(s.rstrip("?")).name for s in sentences)  # each one a template sentence
    assert not any(ch.isdigit() for s in sentences for ch in s)  # no order number
    words = kiosk_keywords(recognizer)
    assert "aisle" in words and "hours" in words and "the" not in words and "zucchini" not in words
    prompt = kiosk_prompt(recognizer, "sentences", ["oat milk", "zucchini"], 4000)
    assert prompt.startswith("Grocery store kiosk. oat milk, zucchini. ") and prompt.endswith(sentences[-1])
    names = [f"product number {i:03d}" for i in range(100)]
    short = kiosk_prompt(recognizer, "sentences", names, 400)
    assert len(short) <= 400 and short.endswith(" ".join(sentences))  # the vocabulary is kept whole, at the end
    assert "product number 099" in short and "product number 000" not in short  # the names cut to make room
    assert kiosk_prompt(recognizer, "keywords", [], 4000).startswith("Grocery store kiosk. Speak")
    assert kiosk_prompt(recognizer, "sentences", names, 30) == ""  # no room for the vocabulary: no prompt


def test_the_prompt_settings_reach_faster_whisper_and_hotwords_come_beside_the_prompt():
    from plugins.voice.config import VoiceConfig
    from plugins.voice.speech import SpeechRouter

    config = VoiceConfig(whisper_bias="prompt+hotwords", whisper_prompt_vocabulary="keywords", whisper_prompt_chars=300)
    engine = SpeechRouter(config, lambda name: "unused").engine("whisper")
    shop = context(["lemon", "mango"])
    options = engine.biasing(shop)
    assert options["hotwords"] == "lemon, mango"
    assert len(options["initial_prompt"]) <= 300 and "agent" in options["initial_prompt"]
    assert "lemon, mango. " in options["initial_prompt"]
    assert engine.biasing(shop)["initial_prompt"] is options["initial_prompt"]  # built once per recogniser
    other = engine.biasing(context(["kiwi"]))["initial_prompt"]
    assert "kiwi. " in other and "mango" not in other
