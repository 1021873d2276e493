"""The semantic intent matcher: a real tiny ONNX sentence encoder in a signed voice bundle, scored against the
template expansions and the FAQ questions with a floor, a margin and slot evidence; without the bundle encoder
the matchers behave as before."""

from __future__ import annotations

import pytest

from tests.builders import topic_encoder_bundle
from tests.conftest import ADMIN_KEY, CLIENT_KEY

HEADERS = {"Authorization": f"Bearer {CLIENT_KEY}"}
# Word -> topic: the words of one kiosk question share a direction, so phrasings the templates lack still land there.
TOPICS = {
    **dict.fromkeys(["person", "human", "manager", "agent", "employee", "staff", "member", "help", "speak", "talk",
                     "operator", "somebody", "someone"], 0),
    **dict.fromkeys(["have", "stock", "sell", "carry", "available", "got", "any", "looking", "searching"], 1),
    **dict.fromkeys(["where", "aisle", "find", "keep", "shelf", "show", "take"], 2),
    **dict.fromkeys(["order", "status", "track", "check", "arrive", "ship", "shipped", "arrived"], 3),
    **dict.fromkeys(["open", "close", "hours", "time", "late", "opening", "store"], 4),
    **dict.fromkeys(["return", "returns", "exchange", "refund", "refunds", "policy", "send", "back", "trousers"], 5),
    **dict.fromkeys(["parking", "park", "car", "leave", "garage"], 6),
    **dict.fromkeys(["wifi", "internet", "free"], 7),
    **dict.fromkeys(["toilets", "toilet", "restroom"], 8),
    **dict.fromkeys(["card", "pay", "cash"], 9),
    **dict.fromkeys(["deliver", "delivery", "home"], 10),
    **dict.fromkeys(["president", "capital", "france", "weather", "taxi", "film"], 11),
}
FILLER = ["is", "the", "a", "an", "i", "you", "do", "my", "can", "of", "from", "this", "product", "1234", "me", "to",
          "there", "what", "are", "in", "for", "who"]


@pytest.fixture
def voice_node(data_dir, request):
    from edge.app import create_app

    from plugins.voice.plugin import load_demo

    voice = getattr(request, "param", {})
    app = create_app({"DATA_DIR": str(data_dir), "PLUGINS": ["catalog", "voice"], "CLIENT_KEY": CLIENT_KEY,
                      "ADMIN_KEY": ADMIN_KEY, "PLUGIN_CONFIG": {"voice": voice}}, watch=False)
    node = app.extensions["storefront_edge"]
    load_demo(node, None)
    db = node.db()
    db["catalog_items"].insert_all([
        {"id": "default/Oatly-Oat-Milk", "sku": "Oatly-Oat-Milk", "title": "Oatly Oat Milk", "price": 21.5, "currency": "SEK", "in_stock": 1},
        {"id": "default/Garlic", "sku": "Garlic", "title": "Garlic", "price": 5.0, "currency": "SEK", "in_stock": 1},
    ], pk="id")
    yield app, node
    node.close()


def _with_encoder(node, signing_key, tmp_path):
    node.registry.install(topic_encoder_bundle(tmp_path / "encoder-bundle", signing_key, TOPICS, FILLER))
    node.watcher.refresh()


def _ask(app, text, session="s"):
    response = app.test_client().post("/v1/voice/text", json={"text": text, "session_id": session}, headers=HEADERS)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_phrasings_outside_the_templates_and_cues_are_matched_by_meaning(voice_node, signing_key, tmp_path):
    app, node = voice_node
    before = [_ask(app, text, f"before-{i}") for i, text in enumerate(["i need help from a member of staff", "where can i leave my car"])]
    assert [(t["intent"], t["intent_source"]) for t in before] == [("HumanAgent", "cues"), ("FAQ", "faq_keywords")]  # the word lists
    _with_encoder(node, signing_key, tmp_path)
    staff = _ask(app, "i need help from a member of staff", "after-1")
    assert staff["intent"] == "HumanAgent" and staff["intent_source"] == "semantic"
    assert staff["escalated"] and staff["escalation_reason"] == "asked_for_person"
    car = _ask(app, "where can i leave my car", "after-2")
    assert car["intent"] == "FAQ" and car["slots"]["faq_id"] == "parking-en" and car["intent_source"] == "semantic"


def test_with_the_encoder_a_short_faq_question_still_finds_its_entry_by_keyword(voice_node, signing_key, tmp_path):
    app, node = voice_node
    _with_encoder(node, signing_key, tmp_path)
    park = _ask(app, "where do i park", "k-1")  # the encoder's cosine is under its floor; the curated keyword is not
    assert park["intent"] == "FAQ" and park["slots"]["faq_id"] == "parking-en" and park["intent_source"] == "faq_keywords"
    assert _ask(app, "who is the president of france", "k-2")["intent"] is None


def test_a_slot_intent_answers_only_with_its_slot_heard(voice_node, signing_key, tmp_path):
    app, node = voice_node
    _with_encoder(node, signing_key, tmp_path)
    found = _ask(app, "which shelf do you keep the garlic on", "a")
    assert found["intent"] == "ProductLocation" and found["slots"] == {"product": "Garlic"}
    assert _ask(app, "which shelf do you keep the president on", "b")["intent"] is None
    tracked = _ask(app, "could you track order 4711 for me", "c")
    assert tracked["intent"] == "OrderStatus" and tracked["slots"] == {"order_id": "4711"}
    assert _ask(app, "could you track the weather for me", "d")["intent"] is None


def test_the_best_label_needs_the_floor_and_a_lead_over_the_runner_up():
    from plugins.voice.semantic import Ranking, decide

    faq = [{"id": "parking-en", "answer": "Park behind the store."}]
    assert decide(Ranking("StoreHours", 0.8, 0.5, {}), faq, 0.6, 0.05).name == "StoreHours"
    assert decide(Ranking("StoreHours", 0.8, 0.78, {}), faq, 0.6, 0.05).name is None  # two intents nearly as close
    assert decide(Ranking("StoreHours", 0.55, 0.1, {}), faq, 0.6, 0.05).name is None  # under the floor
    parking = decide(Ranking("FAQ:parking-en", 0.9, 0.2, {}), faq, 0.6, 0.05)
    assert parking.name == "FAQ" and parking.slots == {"faq_id": "parking-en", "answer": "Park behind the store."}
    assert decide(Ranking("OrderStatus", 0.9, 0.2, {"order_id": "10"}), faq, 0.6, 0.05, "what is 10 times 3").name is None


@pytest.mark.parametrize("text, hours", [
    ("when do you shut tonight", True), ("How late are you open?", True), ("what are your hours", True),
    ("what day is it today", False),  # days and times, but nothing about opening
    ("is the museum open on monday", False),  # another place's hours
])
def test_the_encoders_store_hours_needs_a_word_about_opening_the_store(text, hours):
    from plugins.voice.semantic import Ranking, decide

    assert (decide(Ranking("StoreHours", 0.8, 0.5, {}), [], 0.6, 0.05, text).name == "StoreHours") == hours


FAR_OFF = "the president of france said the capital have garlic"  # a cue ("have") and a product, but no kiosk question


@pytest.mark.parametrize("voice_node, answered", [({"kiosk_floor": -1.0}, True), ({"kiosk_floor": 0.5}, False)],
                         indirect=["voice_node"])
def test_cue_words_answer_with_the_encoder_only_when_the_text_is_near_kiosk_talk(voice_node, signing_key, tmp_path, answered):
    app, node = voice_node
    assert _ask(app, FAR_OFF, "before")["intent"] == "ProductAvailability"  # without the encoder: the cue answers
    _with_encoder(node, signing_key, tmp_path)
    turn = _ask(app, FAR_OFF, "after")
    assert (turn["intent"] == "ProductAvailability") is answered
    assert turn["intent_source"] == ("cues" if answered else "semantic")
    near = _ask(app, "have you any garlic", "near")  # kiosk talk still reaches the cue words
    assert near["intent"] == "ProductAvailability" and near["slots"] == {"product": "Garlic"}


def test_the_meaning_overrules_a_grammar_sentence_of_another_intent_that_merely_sounds_alike(voice_node, signing_key, tmp_path):
    app, node = voice_node
    pipeline = node.slot("voice").pipeline
    heard, grammar = "i would like to send back these trousers", "i would like to speak to the person"
    with app.test_request_context():
        alone = pipeline.understand(node.db(), heard, "en", [grammar])  # without the encoder: the transcript's cue words
        assert (alone.name, alone.source) == ("ReturnsPolicy", "cues")
        _with_encoder(node, signing_key, tmp_path)
        match = pipeline.understand(node.db(), heard, "en", [grammar])
        assert match.name == "ReturnsPolicy" and match.source == "semantic"
        same = pipeline.understand(node.db(), "do you have the oat meal", "en", ["do you have the oat milk"])
        assert same.name == "ProductAvailability" and same.slots == {"product": "Oatly-Oat-Milk"}  # the grammar's product
