"""The voice plugin's text path: intents from the templates, answers from the store, hand-off tickets, turn log."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ADMIN_KEY, CLIENT_KEY


@pytest.fixture
def app_config(data_dir):
    return {"DATA_DIR": str(data_dir), "PLUGINS": ["catalog", "voice"], "CLIENT_KEY": CLIENT_KEY, "ADMIN_KEY": ADMIN_KEY}


@pytest.fixture
def store(node):
    """The node with a few catalog items, stock and the voice plugin's demo knowledge."""
    from plugins.voice import plugin

    db = node.db()
    db["catalog_items"].insert_all([
        {"id": "default/Oatly-Oat-Milk", "sku": "Oatly-Oat-Milk", "title": "Oatly Oat Milk Oat-Milk", "price": 21.5, "currency": "SEK", "in_stock": 1},
        {"id": "default/Pineapple", "sku": "Pineapple", "title": "Pineapple", "price": 30.0, "currency": "SEK", "in_stock": 1},
        {"id": "default/Garlic", "sku": "Garlic", "title": "Garlic", "price": 5.0, "currency": "SEK", "in_stock": 0},
    ], pk="id")
    db["stock_levels"].insert_all([{"id": "default/Oatly-Oat-Milk", "sku": "Oatly-Oat-Milk", "on_hand": 12}, {"id": "default/Pineapple", "sku": "Pineapple", "on_hand": 4}], pk="id")
    plugin.load_demo(node, None)
    return node


def ask(client, headers, text, language="en", **extra):
    response = client.post("/v1/voice/text", json={"text": text, "language": language, **extra}, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.mark.parametrize("text, intent, needle", [
    ("do you have oat milk", "ProductAvailability", "12 in stock"),
    ("Where can I find the oat milk?", "ProductLocation", "aisle 3"),
    ("where is my order 4711", "OrderStatus", "ready for pickup"),
    ("where is my order four seven one one", "OrderStatus", "ready for pickup"),
    ("what time do you close today", "StoreHours", "Sunday 10 am"),
    ("I want to return these shoes", "ReturnsPolicy", "30 days"),
    ("do you have garlic", "ProductAvailability", "out of stock"),
    ("is there parking", "FAQ", "park free"),
    ("can I park my car here", "FAQ", "park free"),
])
def test_english_questions_get_their_answer(store, client, client_headers, text, intent, needle):
    turn = ask(client, client_headers, text)
    assert turn["intent"] == intent
    assert needle in turn["answer"]
    assert not turn["escalated"]
    assert {"intent", "answer"} <= set(turn["timings"])


@pytest.mark.parametrize("text, intent, needle", [
    ("我想退货", "ReturnsPolicy", "三十天"),
    ("有没有燕麦奶", "ProductAvailability", "燕麦奶"),
    ("我的订单4711在哪里", "OrderStatus", "4711"),
    ("几点开门", "StoreHours", "周日"),
])
def test_chinese_questions_get_their_answer(store, client, client_headers, text, intent, needle):
    turn = ask(client, client_headers, text, "zh")
    assert turn["intent"] == intent and needle in turn["answer"]


@pytest.mark.parametrize("text, intent, slots", [
    ("have you any pineapple", "ProductAvailability", {"product": "Pineapple"}),
    ("What happened to my order 1, 2, 3, 4?", "OrderStatus", {"order_id": "1234"}),
    ("what time do you close tonight", "StoreHours", {}),
    ("I would like to send back these trousers", "ReturnsPolicy", {}),
    ("can someone help me please", "HumanAgent", {}),
    ("open the garage door", None, {}),
    ("order me a pizza", None, {}),
    ("where is the moon", None, {}),
])
def test_phrasings_outside_the_templates_go_by_cue_words_and_their_slot(store, client, client_headers, text, intent, slots):
    turn = ask(client, client_headers, text)
    assert turn["intent"] == intent and turn["slots"] == slots
    assert turn["intent_source"] == "cues" or intent is None


@pytest.mark.parametrize("text, intent, slots", [
    ("when do you close on bank holidays", "StoreHours", {}),
    ("are you open this evening", "StoreHours", {}),
    ("when do you close on friday", "StoreHours", {}),
    ("is the museum open on monday", None, {}),  # another place's hours
    ("is the cinema open tonight", None, {}),
    ("can i take these shoes back", "ReturnsPolicy", {}),
    ("i bought the wrong size can i swap it", "ReturnsPolicy", {}),
    ("can i talk to a supervisor", "HumanAgent", {}),
    ("i need to speak to customer service", "HumanAgent", {}),
    ("could you help me", "HumanAgent", {}),
    ("can you help me find the pineapple", "ProductLocation", {"product": "Pineapple"}),  # help asks for a person only last
    ("is the pineapple sold out", "ProductAvailability", {"product": "Pineapple"}),
    ("have you sold out of garlic", "ProductAvailability", {"product": "Garlic"}),
    ("can i get garlic here", "ProductAvailability", {"product": "Garlic"}),
])
def test_cue_words_cover_the_common_synonyms_of_each_intent(store, client, client_headers, text, intent, slots):
    turn = ask(client, client_headers, text)
    assert turn["intent"] == intent and turn["slots"] == slots
    assert turn["escalated"] == (intent == "HumanAgent")


@pytest.mark.parametrize("text, faq_id", [
    ("where do i park", "parking-en"),
    ("do you take contactless", "card-en"),
    ("do you accept credit cards", "card-en"),
    ("where are the restrooms", "toilet-en"),
    ("where is the nearest pharmacy", None),  # one shared question word is not a keyword
    ("how much does a car cost", None),
    ("i forgot my password", None),
])
def test_one_curated_keyword_finds_a_short_faq_question(store, client, client_headers, text, faq_id):
    turn = ask(client, client_headers, text)
    assert turn["slots"].get("faq_id") == faq_id
    assert turn["intent"] == ("FAQ" if faq_id else None)


def test_an_order_number_hidden_by_a_homophone_is_found_among_the_store_s_orders(store, client, client_headers):
    turn = ask(client, client_headers, "is order for seven one one ready")  # what Whisper writes for "four seven one one"
    assert turn["intent"] == "OrderStatus" and turn["slots"] == {"order_id": "4711"} and "ready for pickup" in turn["answer"]
    assert turn["intent_source"].endswith("+order")
    assert "could not find order 99" in ask(client, client_headers, "where is my order for 99")["answer"]  # 499 is no order either
    assert ask(client, client_headers, "where is my order 1234")["slots"] == {"order_id": "1234"}


def test_unknown_order_and_missing_number_are_answered(store, client, client_headers):
    assert "could not find order 999" in ask(client, client_headers, "where is my order 999")["answer"]
    assert ask(client, client_headers, "where is my order")["answer"] == "Please tell me your order number."


def test_out_of_domain_is_rejected_then_handed_off_on_repeat(store, client, client_headers, node):
    first = ask(client, client_headers, "please call a taxi", session_id="s-1")
    assert first["intent"] is None and not first["escalated"]
    second = ask(client, client_headers, "what is the weather like tomorrow", session_id="s-1")
    assert second["escalated"] and second["escalation_reason"] == "repeated_failure"
    ticket = node.db()["voice_tickets"].get(second["ticket_id"])
    assert ticket["status"] == "open" and ticket["session_id"] == "s-1" and "weather" in ticket["transcript"]
    other = ask(client, client_headers, "please call a taxi", session_id="s-2")
    assert not other["escalated"]


@pytest.mark.parametrize("text, reason", [
    ("I want to speak to a person", "asked_for_person"),
    ("this is ridiculous, where is my order 4711", "angry_wording"),
    ("我要找人工客服", "asked_for_person"),
])
def test_hand_off_cases_open_a_ticket(store, client, client_headers, node, text, reason):
    turn = ask(client, client_headers, text, "zh" if not text.isascii() else "en")
    assert turn["escalated"] and turn["escalation_reason"] == reason
    context = json.loads(node.db()["voice_tickets"].get(turn["ticket_id"])["context"])
    assert "intent" in context


def test_every_turn_is_logged_with_its_session(store, client, client_headers, node):
    ask(client, client_headers, "do you have oat milk", session_id="kiosk-7")
    ask(client, client_headers, "where is my order 1234", session_id="kiosk-7")
    rows = list(node.db()["voice_turns"].rows_where("session_id = ?", ["kiosk-7"], order_by="created_at"))
    assert [r["intent"] for r in rows] == ["ProductAvailability", "OrderStatus"]
    assert json.loads(rows[1]["slots"]) == {"order_id": "1234"}


def test_new_catalog_items_are_matched_without_restart(store, client, client_headers, node):
    assert ask(client, client_headers, "do you have mango")["intent"] is None
    node.db()["catalog_items"].insert({"id": "default/Mango", "sku": "Mango", "title": "Mango", "price": 12.0, "in_stock": 1})
    assert ask(client, client_headers, "do you have mango")["intent"] == "ProductAvailability"


@pytest.mark.parametrize("body, status, code", [
    ({"text": "hello", "language": "fr"}, 422, "unknown_language"),
    ({"text": "x" * 600}, 413, "text_too_long"),
    ({"text": ""}, 422, "invalid_request"),
    ({"text": "hi", "session_id": "../etc"}, 422, "invalid_request"),
])
def test_bad_text_requests_are_json_errors(store, client, client_headers, body, status, code):
    response = client.post("/v1/voice/text", json=body, headers=client_headers)
    assert response.status_code == status and response.get_json()["error"]["code"] == code
    assert client.post("/v1/voice/text", json={"text": "is there parking"}, headers=client_headers).status_code == 200


def test_voice_routes_need_the_client_key(store, client):
    assert client.post("/v1/voice/text", json={"text": "hi"}).status_code == 401


def test_the_hub_lists_open_hand_off_tickets(tmp_path, runner):
    from edge.cli.main import cli
    from edge.hub.backends import open_store

    hub_dir = tmp_path / "hub"
    hub_dir.mkdir()
    store = open_store(hub_dir, None)
    try:
        store.db()["voice_tickets"].insert_all([
            {"id": "01B", "store": "default", "session_id": "s-2", "reason": "angry_wording", "transcript": "useless", "context": "{}",
             "status": "closed", "created_at": "2026-12-01T10:00:00Z"},
            {"id": "01A", "store": "default", "session_id": "s-1", "reason": "asked_for_person", "transcript": "a person please",
             "context": "{}", "status": "open", "created_at": "2026-12-01T09:00:00Z"},
            {"id": "01C", "store": "north", "session_id": "s-3", "reason": "asked_for_person", "transcript": "help",
             "context": "{}", "status": "open", "created_at": "2026-12-01T11:00:00Z"}])
    finally:
        store.close()
    result = runner.invoke(cli, ["hub", "voice-tickets", "--data-dir", str(hub_dir)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in result.output.splitlines()] == ["01A", "01C"]
    everything = runner.invoke(cli, ["hub", "voice-tickets", "--all", "--data-dir", str(hub_dir)]).output.splitlines()
    assert [json.loads(line)["id"] for line in everything] == ["01A", "01B", "01C"]
    north = runner.invoke(cli, ["hub", "voice-tickets", "--store", "north", "--data-dir", str(hub_dir)]).output.splitlines()
    assert [(json.loads(line)["id"], json.loads(line)["store"]) for line in north] == [("01C", "north")]


@pytest.mark.parametrize("amplitude, pitch, upset", [(0.9, 300.0, True), (0.05, 300.0, False), (0.9, 120.0, False)])
def test_loud_high_pitched_speech_counts_as_upset(amplitude, pitch, upset):
    import numpy as np

    from plugins.voice.audio import prosody
    from plugins.voice.escalation import upset_voice

    t = np.arange(16000) / 16000
    cues = prosody((amplitude * np.sin(2 * np.pi * pitch * t)).astype(np.float32))
    assert abs(cues["pitch_hz"] - pitch) < pitch * 0.05
    assert upset_voice(cues, loud_dbfs=-6.0) is upset


def test_an_order_number_past_64_bits_with_or_without_a_homophone_is_an_unknown_order(store, client, client_headers):
    huge = str(2 ** 64 + 1)
    for text in (f"where is my order {huge}", f"where is my order for {huge}", f"is order to {'1' * 480} ready"):
        turn = ask(client, client_headers, text)
        assert turn["intent"] == "OrderStatus" and "could not find order" in turn["answer"]


def test_stores_share_one_template_set_so_its_index_is_built_once(store, app):
    from plugins.voice.knowledge import SERVING

    pipeline, db = store.slot("voice").pipeline, store.db()
    recognizers = []
    for shop in ("north", "south", "north"):
        token = SERVING.set(shop)
        try:
            recognizers.append(pipeline.recognizer(db, "en"))
        finally:
            SERVING.reset(token)
    assert recognizers[0].intents is recognizers[1].intents
    index = pipeline.template_index(recognizers[0])
    assert pipeline.template_index(recognizers[1]) is index and pipeline.template_index(recognizers[2]) is index
