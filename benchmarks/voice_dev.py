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
                     **bench_voice.out_of_domain(client, DEV_OUT_OF_DOMAIN + DEV_OUT_OF_DOMAIN_NEAR, DEV_VOICES[:2], misses=1000)}
            node.close()
            figures.update({(f"{name}_" if name != "shipped" else "") + k: v for k, v in found.items()})
    return figures


if __name__ == "__main__":
    print(json.dumps(main(), indent=2, ensure_ascii=False))
