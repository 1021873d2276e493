"""Intent by similarity to the template sentences, for open-vocabulary text no template matches word for word.

Whisper hears phrasings the templates do not have ("could you check on order 1234", "is mango available today").
The templates are expanded once per recogniser (hassil's sampler, up to ``PER_INTENT`` sentences per
intent, seeded) with their slots replaced by placeholders; the text gets the same slot-aware
normalisation (a product name found in it, also a near spelling such as "avocados" or "pine apple",
becomes ``xproductx``; a number of two or more digits ``xnumberx``). Both are turned into TF-IDF vectors of
word unigrams, word bigrams and character trigrams (numpy only), and the intent of the most similar
expansion wins when its cosine reaches ``floor`` and the slot the intent needs is there (a product for
availability and aisle, a number for an order). Intents without a slot (hours, returns, a person) are
left to the templates and the cue words: a sentence frame alone ("call me a cab" ~ "call me a manager") is
too weak a sign. Below the floor the text is left unrecognised, which is how out-of-domain questions stay
unanswered.
"""

from __future__ import annotations

import difflib
import math
import random
import re
from collections import Counter

import numpy as np

from .stages import IntentMatch
from .textnorm import normalize

PER_INTENT = 600
PRODUCT, NUMBER = "xproductx", "xnumberx"  # lower-case words that survive normalize()
SLOT = {"ProductAvailability": "product", "ProductLocation": "product", "OrderStatus": "order_id"}


def features(text: str) -> list[str]:
    """Word unigrams and bigrams and character trigrams of a normalised sentence."""
    words = text.split()
    grams = words + [f"{a}_{b}" for a, b in zip(words, words[1:])]
    padded = f" {text} "
    return grams + [f"#{padded[i:i + 3]}" for i in range(len(padded) - 2)]


def find_product(text: str, products: dict) -> tuple[str | None, str | None]:
    """``(sku, spoken name)`` of the longest product name in ``text``, exact (with a plural s) or nearly spelled."""
    names = sorted((n for n in products if n), key=len, reverse=True)
    for name in names:
        if re.search(rf"\b{re.escape(name)}s?\b", text):
            return products[name], name
    words = text.split()
    for name in names:
        size, target = len(name.split()), name.replace(" ", "")
        for n in {size, size + 1}:  # "pine apple" for "pineapple"
            for i in range(len(words) - n + 1):
                chunk = " ".join(words[i:i + n])
                if len(target) >= 4 and _near(chunk.replace(" ", ""), target):
                    return products[name], chunk
    return None, None


def _near(spelt: str, name: str, cut: float = 0.85) -> bool:
    """Whether ``spelt`` (same first letter) is within a character ratio of ``cut`` of ``name``, cheap bounds first."""
    if spelt[:1] != name[:1] or 2 * min(len(spelt), len(name)) < cut * (len(spelt) + len(name)):
        return False  # near spellings here keep their first letter; the lengths alone bound the ratio
    matcher = difflib.SequenceMatcher(None, spelt, name)
    return matcher.real_quick_ratio() >= cut and matcher.quick_ratio() >= cut and matcher.ratio() >= cut


def agree(heard: str, other: str) -> float | None:
    """How closely two hypotheses of the same speech agree (character ratio), or ``None`` when they do not.

    Both the characters (>= 0.65) and the words (>= 0.5) must match closely: "have you got some damage"
    (Whisper) and "have you got some lemon" (the grammar) agree; "what time is it in tokyo" and "what time
    do you open" do not.
    """
    a, b = normalize(heard), normalize(other)
    chars = difflib.SequenceMatcher(None, a, b).ratio()
    words = difflib.SequenceMatcher(None, a.split(), b.split()).ratio()
    return chars if chars >= 0.65 and words >= 0.5 else None


def with_placeholders(text: str, products: dict) -> tuple[str, dict]:
    """``text`` normalised with its product and order number replaced by placeholders, and the slots found."""
    spoken = normalize(text)
    slots = {}
    sku, name = find_product(spoken, products)
    if sku is not None:
        slots["product"] = sku
        spoken = re.sub(rf"\b{re.escape(name)}s?\b", PRODUCT, spoken, count=1)
    number = re.search(r"\b\d{2,}\b", spoken)
    if number:
        slots["order_id"] = number.group()
        spoken = spoken[:number.start()] + NUMBER + spoken[number.end():]
    return spoken, slots


def template_sentences(recognizer, product: str, number: str, per_intent: int) -> list[tuple[str, str]]:
    """``(sentence, intent)`` for ``recognizer``'s templates expanded by hassil's sampler, ``product`` and
    ``number`` standing in for the slots, at most ``per_intent`` per intent (a seeded sample: the same every run)."""
    from hassil import TextSlotList
    from hassil.sample import sample_expression

    lists = {**recognizer.intents.slot_lists, "product": TextSlotList.from_strings([product]),
             "order_id": TextSlotList.from_strings([number])}
    rng, sentences = random.Random(0), []
    for name, intent in sorted(recognizer.intents.intents.items()):
        texts = sorted({" ".join(t.split()) for data in intent.data for s in data.sentences
                        for t in sample_expression(s.expression, slot_lists=lists)})
        chosen = texts if len(texts) <= per_intent else rng.sample(texts, per_intent)
        sentences += [(t, name) for t in chosen]
    return sentences


class TemplateIndex:
    """TF-IDF vectors of the template expansions of one recogniser, and the nearest one to a text."""

    def __init__(self, sentences: list[tuple[str, str]], floor: float):
        self.intents = [intent for _, intent in sentences]
        self.words = {word for text, _ in sentences for word in text.split()} - {PRODUCT, NUMBER}
        self.floor = floor
        counts = [Counter(features(text)) for text, _ in sentences]
        df = Counter(term for c in counts for term in c)
        self.vocabulary = {term: i for i, term in enumerate(sorted(df))}
        self.idf = np.array([math.log((1 + len(counts)) / (1 + df[t])) + 1 for t in sorted(df)], np.float32)
        self.matrix = np.stack([self._vector(c) for c in counts]) if counts else np.zeros((0, len(df)), np.float32)

    @classmethod
    def from_recognizer(cls, recognizer, floor: float) -> "TemplateIndex":
        """Expand ``recognizer``'s templates with slot placeholders (seeded sample per intent)."""
        expanded = template_sentences(recognizer, PRODUCT, NUMBER, PER_INTENT)
        return cls([(normalize(text), name) for text, name in expanded], floor)

    def _vector(self, counts: Counter) -> np.ndarray:
        vector = np.zeros(len(self.vocabulary), np.float32)
        for term, count in counts.items():
            index = self.vocabulary.get(term)
            if index is not None:
                vector[index] = (1 + math.log(count)) * self.idf[index]
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def nearest(self, text: str) -> tuple[str | None, float]:
        """The intent of the expansion most similar to ``text`` (already with placeholders) and the cosine."""
        if not len(self.intents):
            return None, 0.0
        scores = self.matrix @ self._vector(Counter(features(text)))
        best = int(np.argmax(scores))
        return self.intents[best], float(scores[best])

    def match(self, text: str, products: dict) -> IntentMatch:
        """The nearest intent when it reaches the floor and its slot is in ``text`` (and, for an order, the word)."""
        spoken, slots = with_placeholders(text, products)
        intent, score = self.nearest(spoken)
        key = SLOT.get(intent)
        if score < self.floor or key is None or key not in slots:  # intents without a slot: templates and cue words only
            return IntentMatch(None, {}, round(score, 3), "similar")
        if intent == "OrderStatus" and not re.search(r"\border\b", spoken):  # "what is 10 times 3"
            return IntentMatch(None, {}, round(score, 3), "similar")
        return IntentMatch(intent, {key: slots[key]}, round(score, 3), "similar")

    def confirms(self, text: str, products: dict, intent: str) -> float | None:
        """The cosine when ``text``'s nearest intent is ``intent`` at or over the floor, else ``None``."""
        nearest, score = self.nearest(with_placeholders(text, products)[0])
        return score if nearest == intent and score >= self.floor else None
