"""The voice development split: what the grammar's confidence floors and the similarity floor were set on.

Other espeak-ng voices, other held-out phrasings and other out-of-domain sentences than the test sets of
:mod:`benchmarks.bench_voice`, so that the figures the benchmark reports are not tuned on their own data.
``python -m benchmarks.voice_dev`` prints the same figures on this split (with every miss); ``VOICE_DEV_CONFIG``
(JSON, e.g. ``{"repair_floor": 0.3}``) overrides voice settings for a trial, the way the floors are tried here.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

DEV_VOICES = [("en-us+f3", 150), ("en-us+m1", 165), ("en-us+m7", 185)]
DEV_PIPER_VOICES = [("piper:joe", 0.9)]  # the test set renders Piper at length scales 1.0 and 0.8
DEV_HELD_OUT = [
    ("have you any {p}", "ProductAvailability", "p"), ("do you stock {p}", "ProductAvailability", "p"),
    ("is {p} available today", "ProductAvailability", "p"), ("can i get {p} here", "ProductAvailability", "p"),
    ("where do you have the {p}", "ProductLocation", "p"), ("which shelf is the {p} on", "ProductLocation", "p"),
    ("can you tell me where the {p} is", "ProductLocation", "p"),
    ("what happened to my order {o}", "OrderStatus", "o"), ("status of order {o} please", "OrderStatus", "o"),
    ("is order {o} ready", "OrderStatus", "o"),
    ("what time do you close tonight", "StoreHours", None), ("are you open on sunday morning", "StoreHours", None),
    ("until when are you open", "StoreHours", None),
    ("i would like to send back these trousers", "ReturnsPolicy", None), ("can i get my money back", "ReturnsPolicy", None),
    ("how do i return something", "ReturnsPolicy", None),
    ("can someone help me please", "HumanAgent", None), ("i want to talk to a human", "HumanAgent", None),
    ("is there somewhere to park", "FAQ", None), ("can i pay with my card", "FAQ", None), ("do you have wifi", "FAQ", None),
]
DEV_OUT_OF_DOMAIN = [
    "call me a cab", "what is the weather in paris", "my cat is sick", "play the radio", "who wrote hamlet",
    "tell me a story", "i love pancakes", "what is the capital of spain", "wake me up at six", "switch on the heating",
    "who scored the goal", "how do i repair a puncture", "reserve a room for tonight", "say thank you in german",
    "what day is it today", "dance with me", "how hot is the sun", "my laptop will not start", "suggest a good book",
    "what is ten times three", "i forgot my password", "how many legs does a spider have", "the bus is always late",
    "get me a burger", "will it snow tonight", "who invented the telephone", "lock the front door",
    "remind me to water the plants", "why is the sky blue", "how deep is the ocean", "feed the fish",
    "what is on television tonight", "my brother lives in canada", "do you like jazz", "how much does a car cost",
    "the quick brown fox jumps",
]
# More out-of-domain sentences for the development split, near the kiosk's own words (places, orders, times,
# people) so that sentences a grammar could be forced onto are among them; none is in the test set.
DEV_OUT_OF_DOMAIN_NEAR = [
    "where is the train station", "order a taxi for me", "what time is the match", "call my wife", "any news today",
    "is the bank open", "where is the nearest hospital", "have you seen my glasses", "do you have children",
    "what is your name", "i want to go home", "the order of the planets", "where do penguins live",
    "is the museum open on monday", "how do i get to the airport", "talk to me about history", "what is a black hole",
    "i need a holiday", "can i speak french", "where are my shoes", "do you sell houses", "when is christmas",
    "find me a hotel", "show me a picture of a cat", "what is the price of gold", "is the road closed",
    "who is the manager of the team", "my order from the restaurant is cold", "what is the time in london",
    "where can i buy a train ticket", "do you know any good jokes", "open a bank account", "how many days in a year",
    "i am looking for my friend", "is there a doctor here", "what is the best phone",
]


# Text-level paraphrases (``POST /v1/voice/text``, no speech) that the cue words and FAQ keywords were widened on:
# everyday synonyms of each intent (shut, evening, member of staff, take back, contactless), none a test phrasing.
DEV_TEXT = [
    ("do you happen to have any mango", "ProductAvailability"),
    ("are there any avocados in stock", "ProductAvailability"), ("i'd like some sweet potato", "ProductAvailability"),
    ("is the pineapple sold out", "ProductAvailability"), ("have you still got banana", "ProductAvailability"),
    ("can i buy lemon here", "ProductAvailability"), ("do you have mango in at the moment", "ProductAvailability"),
    ("i'm after some garlic", "ProductAvailability"), ("is there oat milk on sale", "ProductAvailability"),
    ("could i get some soy milk", "ProductAvailability"), ("where would i find the avocado", "ProductLocation"),
    ("in what aisle is the mango", "ProductLocation"), ("where's the garlic", "ProductLocation"),
    ("where are the bananas kept", "ProductLocation"), ("could you point me to the lemon", "ProductLocation"),
    ("which section has the pineapple", "ProductLocation"), ("what aisle do you keep soy milk in", "ProductLocation"),
    ("whereabouts is the sweet potato", "ProductLocation"), ("where should i look for oat milk", "ProductLocation"),
    ("any news on order four seven one one", "OrderStatus"),
    ("has order one two three four shipped yet", "OrderStatus"),
    ("i want to know about my order four seven one one", "OrderStatus"),
    ("can you check order number one two three four for me", "OrderStatus"),
    ("where's my order one two three four", "OrderStatus"),
    ("my order number is four seven one one where is it", "OrderStatus"), ("what time do you shut", "StoreHours"),
    ("when do you close on saturday", "StoreHours"), ("are you open this evening", "StoreHours"),
    ("what are your opening times", "StoreHours"), ("how late do you stay open", "StoreHours"),
    ("what time does the store open in the morning", "StoreHours"), ("are you open on bank holidays", "StoreHours"),
    ("when do you open on friday", "StoreHours"), ("till what time are you open today", "StoreHours"),
    ("is the shop open right now", "StoreHours"), ("can i take these shoes back", "ReturnsPolicy"),
    ("what if i want to return something", "ReturnsPolicy"),
    ("i bought the wrong size can i swap it", "ReturnsPolicy"), ("do you give refunds", "ReturnsPolicy"),
    ("how many days do i have to return an item", "ReturnsPolicy"),
    ("i want my money back for this shirt", "ReturnsPolicy"), ("is it possible to exchange a dress", "ReturnsPolicy"),
    ("what is your policy on returns", "ReturnsPolicy"), ("can i talk to somebody who works here", "HumanAgent"),
    ("i'd like to speak to a member of staff", "HumanAgent"), ("get me a real person please", "HumanAgent"),
    ("i need to speak to customer service", "HumanAgent"), ("is there a shop assistant around", "HumanAgent"),
    ("connect me to an agent", "HumanAgent"), ("can a staff member help me", "HumanAgent"),
    ("where do i park", "FAQ"), ("do you have a car park", "FAQ"), ("can i pay with credit card", "FAQ"),
    ("do you take contactless", "FAQ"), ("is there free wifi here", "FAQ"), ("what is the wifi password", "FAQ"),
    ("where is the toilet", "FAQ"), ("where are the restrooms", "FAQ"), ("do you do home delivery", "FAQ"),
    ("can you deliver my shopping", "FAQ"),
]
DEV_TEXT_OUT_OF_DOMAIN = [
    "book a taxi to the station", "what is the capital of germany", "order me a curry", "please call an ambulance",
    "who is the prime minister", "what is the status of the war", "how do i fix my car", "where is the post office",
    "when does the train leave", "can you help me with my homework", "order some flowers for my mum",
    "what time is the football on", "is the cinema open tonight", "who is the best singer", "how do i cook rice",
    "i need a plumber", "where is my husband", "tell me the news", "what is my horoscope",
    "the shop across the road is better", "what is a good name for a dog", "is it sunny outside",
    "where is the nearest pharmacy", "can you dance", "how old are you", "order a pizza with extra cheese",
    "call the police", "what is the time",
]


def text_level(client) -> dict:
    """Intent accuracy of :data:`DEV_TEXT` and the out-of-domain texts answered with an intent, from text alone."""
    from benchmarks import bench_voice

    def turn(text):
        return client.post("/v1/voice/text", json={"text": text, "language": "en"},
                           headers={"Authorization": f"Bearer {bench_voice.KEY}"}).get_json()

    right = [t for t, intent in DEV_TEXT if (turn(t).get("intent") == intent)]
    wrong = [t for t in DEV_TEXT_OUT_OF_DOMAIN if turn(t).get("intent") not in (None, "HumanAgent")]
    return {"text_accuracy": round(len(right) / len(DEV_TEXT), 4), "text_misses": [t for t, _ in DEV_TEXT if t not in right],
            "text_ood_wrong": wrong}


def main() -> dict:
    """In-domain and out-of-domain figures on the development split (template samples drawn with seed 11).

    ``VOICE_DEV_NODES`` (default ``shipped,encoder``): the node with the shipped voice bundle and the one whose
    bundle adds the sentence encoder (figures ``encoder_*``), on the same audio and transcripts.
    ``VOICE_DEV_ASR_CACHE`` (a file path) keeps the transcripts between runs, so that a trial of other floors
    costs only the matching.
    """
    from benchmarks import bench_voice

    overrides = json.loads(os.environ.get("VOICE_DEV_CONFIG", "{}"))
    nodes = os.environ.get("VOICE_DEV_NODES", "shipped,encoder").split(",")
    cache = os.environ.get("VOICE_DEV_ASR_CACHE")
    sentences = bench_voice.in_domain_sentences(seed=11, held_out=DEV_HELD_OUT)  # the same for every node
    voices = DEV_VOICES + (DEV_PIPER_VOICES if bench_voice.piper_available() else [])
    figures = {}
    with tempfile.TemporaryDirectory() as folder, bench_voice.SharedASR(Path(cache) if cache else None):
        for name in nodes:
            app, node = bench_voice._node(Path(folder), overrides=overrides, encoder=name == "encoder")
            client = app.test_client()
            found = {**bench_voice.intent_accuracy(client, sentences, voices, misses=1000),
                     **bench_voice.out_of_domain(client, DEV_OUT_OF_DOMAIN + DEV_OUT_OF_DOMAIN_NEAR, DEV_VOICES[:2], misses=1000),
                     **text_level(client)}
            node.close()
            figures.update({(f"{name}_" if name != "shipped" else "") + k: v for k, v in found.items()})
    return figures


if __name__ == "__main__":
    print(json.dumps(main(), indent=2, ensure_ascii=False))
