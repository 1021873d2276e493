"""A second held-out set for the voice benchmark, written after every matcher choice had been made.

The benchmark's ``HELD_OUT`` phrasings and ``OUT_OF_DOMAIN`` texts have been read by whoever tuned the
cue words, floors and keywords (their misses are printed in every run), so they no longer measure
phrasings nobody tuned on. These were written later, without looking at the matcher's word lists, and
nothing is chosen on them (four that turned out to be in the development split were replaced).
``BENCH_VOICE_PARTS=fresh`` reports them (``fresh_*``, with ``encoder_fresh_*`` for the encoder bundle);
they must never be used to pick a setting. Once they have been read for tuning too, write another set.
"""

from __future__ import annotations

FRESH_HELD_OUT = [  # (text, intent, slot): {p} a product, {o} an order number
    ("do you guys have {p}", "ProductAvailability", "p"),
    ("are you out of {p}", "ProductAvailability", "p"),
    ("i was hoping to pick up some {p}", "ProductAvailability", "p"),
    ("where will i find the {p}", "ProductLocation", "p"),
    ("point me to the {p} please", "ProductLocation", "p"),
    ("what part of the store has {p}", "ProductLocation", "p"),
    ("i am waiting on order {o}", "OrderStatus", "o"),
    ("i placed order {o} has it come in", "OrderStatus", "o"),
    ("tell me about my order {o}", "OrderStatus", "o"),
    ("are you open late tonight", "StoreHours", None),
    ("from what time can i come in tomorrow", "StoreHours", None),
    ("how early do you open", "StoreHours", None),
    ("what if i change my mind about something i bought", "ReturnsPolicy", None),
    ("i got the wrong size what can i do", "ReturnsPolicy", None),
    ("is it possible to get a refund on this", "ReturnsPolicy", None),
    ("is there anyone i can talk to", "HumanAgent", None),
    ("get me your supervisor", "HumanAgent", None),
    ("i would rather speak to somebody in person", "HumanAgent", None),
    ("is there a bathroom i can use", "FAQ", None),
    ("can i get the internet on my phone here", "FAQ", None),
    ("do you bring groceries to people's houses", "FAQ", None),
    ("can i use apple pay here", "FAQ", None),
]
FRESH_OUT_OF_DOMAIN = [
    "can you book me a flight to rome", "what is the score of the game", "how do i make pancakes",
    "where is the town hall", "my car will not start", "who painted the mona lisa", "turn up the volume",
    "what is the square root of nine", "is the pharmacy next door open", "text my sister",
    "how many people live in china", "what is your favourite colour", "i want to learn the guitar",
    "show me the way to the beach", "do you know where my wallet is", "buy me a new phone online",
    "cancel my gym membership", "how fast can a cheetah run", "when does the next bus leave",
    "what should i cook for dinner",
]


def fresh_figures(client, voices, ood_voices) -> dict:
    """Intent accuracy on the fresh held-out phrasings (each once per voice, a product or order drawn per
    phrasing) and the out-of-domain figures of the fresh texts, keys ``fresh_*``."""
    from benchmarks import bench_voice

    sentences = [s for s in bench_voice.in_domain_sentences(seed=13, held_out=FRESH_HELD_OUT) if s[3]]
    accuracy = bench_voice.intent_accuracy(client, sentences=sentences, voices=voices)
    kept = ("in_domain_utterances", "in_domain_accuracy", "accuracy_by_voice", "answered_by_grammar",
            "grammar_path_accuracy", "whisper_path_accuracy", "misses_sample")
    figures = {k.replace("in_domain_", "held_out_"): accuracy[k] for k in kept}
    figures.update(bench_voice.out_of_domain(client, texts=FRESH_OUT_OF_DOMAIN, voices=ood_voices))
    return {f"fresh_{k}": v for k, v in figures.items()}
