"""Whisper's initial prompt from the store's own kiosk vocabulary: its template sentences, key words, product names.

Whisper reads the prompt as the text said before the recording, so a prompt in the kiosk's own words makes
it expect them. Everything here is generated from the intent templates and the catalog (never from any
test phrasing): ``sentences`` gives an expansion of about ``WORDS`` words of each intent's templates (a product name in
``{product}``, templates with an order number left out), ``keywords`` the words that only one intent's
templates use; they come after the product names, whose list is cut to make room. Built once per recogniser (a recogniser is rebuilt when the catalog changes).
"""

from __future__ import annotations

from collections import Counter

WORDS = 6  # words in a prompt sentence, about: a plain kiosk question
STOP = frozenset("a an the i is are am my me you your to of in on for with do can could how what what's when where "
                 "which this these some any there and or it be would like want need let get got have".split())
MARKER = "xkioskproductx"  # stands in for a product while the templates are expanded, then replaced or dropped


def _expansions(recognizer, product: str) -> dict[str, list[str]]:
    """Every intent's template expansions without an order number, ``product`` in its slot, those nearest
    ``WORDS`` words long first (a plain question rather than a two-word fragment)."""
    from ..similar import NUMBER, template_sentences

    found: dict[str, list[str]] = {}
    for text, intent in template_sentences(recognizer, product, NUMBER, 600):
        if NUMBER not in text:
            found.setdefault(intent, []).append(text)
    return {intent: sorted(set(texts), key=lambda t: (abs(len(t.split()) - WORDS), t)) for intent, texts in found.items()}


def kiosk_sentences(recognizer, per_intent: int = 1) -> list[str]:
    """The ``per_intent`` template sentences nearest ``WORDS`` words of each intent, the products taking turns in ``{product}``."""
    names = sorted(recognizer.products) or ["product"]
    sentences, turn = [], 0
    for intent, texts in sorted(_expansions(recognizer, MARKER).items()):
        for text in texts[:per_intent]:
            if MARKER in text:
                text, turn = text.replace(MARKER, names[turn % len(names)]), turn + 1
            sentences.append(" ".join("I" if w == "i" else w for w in text.split()).capitalize().replace(" i ", " I ") + "?")
    return sentences


def kiosk_keywords(recognizer, limit: int = 16) -> list[str]:
    """Up to ``limit`` content words that only one intent's templates use (not a slot list's values): each
    intent's most used word in turn, then each one's second, and so on."""
    listed = {w for values in recognizer.intents.slot_lists.values() for v in getattr(values, "values", ())
              for w in str(v.text_in.text).split()}
    owners: dict[str, set] = {}
    uses: Counter = Counter()
    for intent, texts in _expansions(recognizer, MARKER).items():
        for text in texts:
            for word in set(text.split()) - STOP - listed - {MARKER}:
                owners.setdefault(word, set()).add(intent)
                uses[word] += 1
    ranked = {intent: sorted((w for w, o in owners.items() if o == {intent} and w.isalpha()), key=lambda w: (-uses[w], w))
              for intent in sorted({i for o in owners.values() for i in o})}
    turns = [words[k] for k in range(max(map(len, ranked.values()), default=0)) for words in ranked.values() if k < len(words)]
    return turns[:limit]


def kiosk_prompt(recognizer, vocabulary: str, names: list[str], limit: int) -> str:
    """The prompt in at most ``limit`` characters: "Grocery store kiosk.", the product names ``names`` (as many
    whole names from the end of the list as fit), then the ``vocabulary`` (``products``: nothing more,
    ``sentences``, ``keywords``) last and whole, since faster-whisper keeps only a prompt's last 223 tokens."""
    from .whisper import last_names

    head, tail = "Grocery store kiosk.", ""
    if vocabulary == "sentences":
        tail = " ".join(kiosk_sentences(recognizer))
    elif vocabulary == "keywords":
        tail = ", ".join(kiosk_keywords(recognizer)).capitalize() + "."
    room = limit - len(head) - len(tail) - 3
    listed = last_names(names, room) if room > 0 else ""
    text = " ".join(part for part in (head, f"{listed}." if listed else "", tail) if part)
    return text if len(text) <= limit else ""
