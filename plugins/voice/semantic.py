"""Intent and FAQ by meaning: the bundle's sentence encoder against every template expansion and FAQ question.

Used only when the active voice bundle carries the ``voice_encoder`` (see :mod:`.encoder`). The templates are
expanded once per recogniser and encoder (hassil's sampler, up to ``PER_INTENT`` sentences per intent, seeded)
with their slots replaced by fixed stand-ins (``PRODUCT_WORD`` for a product, ``NUMBER_WORD`` for an order
number); the heard text gets the same stand-ins where the catalog's names and a number are found in it. Each
intent and each FAQ entry scores the cosine of its nearest sentence, and the best one answers only when it
reaches ``floor`` *and* leads the runner-up of another label by ``margin``; a slot intent also needs its slot
in the text (a product for availability and aisle, a number for an order), since the frame alone ("who is
the president" ~ "where is the product") is no evidence. ``kiosk_score`` (the best cosine over all of them)
is the "is this kiosk talk at all" check that the pipeline applies to the weaker matchers' answers.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

import numpy as np

from .similar import NUMBER, PRODUCT, SLOT, template_sentences, with_placeholders
from .stages import IntentMatch

PER_INTENT = 200
PRODUCT_WORD, NUMBER_WORD = "this product", "1234"


def stand_ins(spoken: str) -> str:
    """A sentence with :mod:`.similar`'s placeholders replaced by words the encoder knows."""
    return spoken.replace(PRODUCT, PRODUCT_WORD).replace(NUMBER, NUMBER_WORD)


@dataclass
class Ranking:
    """The best label (an intent name or ``FAQ:<id>``), its cosine, the best other label's cosine, the slots."""

    label: str | None
    score: float
    runner_up: float
    slots: dict
    scores: dict = field(default_factory=dict)  # every label's best cosine

    @property
    def lead(self) -> float:
        return self.score - self.runner_up


class SemanticIndex:
    """Embeddings of one recogniser's template expansions; ranks a text against them and the FAQ questions."""

    def __init__(self, encoder, sentences: list[tuple[str, str]]):
        self.encoder = encoder
        self.labels = np.array([label for _, label in sentences])
        self.rows = {label: np.flatnonzero(self.labels == label) for label in dict.fromkeys(self.labels.tolist())}
        self.matrix = encoder.embed([text for text, _ in sentences]) if sentences else np.zeros((0, 1), np.float32)

    @classmethod
    def from_recognizer(cls, encoder, recognizer) -> "SemanticIndex":
        """Expand ``recognizer``'s templates with slot stand-ins (seeded sample per intent) and embed them."""
        return cls(encoder, template_sentences(recognizer, PRODUCT_WORD, NUMBER_WORD, PER_INTENT))

    def rank(self, text: str, products: dict, faq: list[dict]) -> Ranking:
        """Best label for ``text`` over the intents and the FAQ entries, with the runner-up's cosine and the slots."""
        spoken, slots = with_placeholders(text, products)
        query = self.encoder.embed([stand_ins(spoken)])[0]
        scores = self.matrix @ query if self.rows else None
        best = {label: float(scores[rows].max()) for label, rows in self.rows.items()}
        if faq:
            for entry, score in zip(faq, self.encoder.scores(text, [e["question"] for e in faq])):
                best[f"FAQ:{entry['id']}"] = max(score, best.get(f"FAQ:{entry['id']}", -1.0))
        if not best:
            return Ranking(None, 0.0, 0.0, slots)
        ordered = sorted(best.items(), key=lambda kv: kv[1], reverse=True)
        runner_up = ordered[1][1] if len(ordered) > 1 else -1.0
        return Ranking(ordered[0][0], ordered[0][1], runner_up, slots, best)


def decide(ranking: Ranking, faq: list[dict], floor: float, margin: float, text: str = "", slot_floor: float | None = None) -> IntentMatch:
    """The ranking's intent (or FAQ entry) when it is over its floor, ``margin`` ahead and has its slot.

    ``floor`` holds for the intents without a slot and the FAQ; ``slot_floor`` (default ``floor``) for the
    product and order intents, whose slot heard in the text is evidence of its own.
    """
    score = round(ranking.score, 3)
    key = SLOT.get(ranking.label)
    needed = floor if key is None or slot_floor is None else slot_floor
    if ranking.label is None or ranking.score < needed or ranking.lead < margin:
        return IntentMatch(None, {}, score, "semantic")
    if ranking.label.startswith("FAQ:"):
        entry = next(e for e in faq if f"FAQ:{e['id']}" == ranking.label)
        return IntentMatch("FAQ", {"faq_id": entry["id"], "answer": entry["answer"]}, score, "semantic")
    if key is not None and key not in ranking.slots:
        return IntentMatch(None, {}, score, "semantic")
    if ranking.label == "OrderStatus" and not re.search(r"\border(s|ed)?\b", text.lower()):
        return IntentMatch(None, {}, score, "semantic")  # a bare number ("what is 10 times 3") is not an order
    if ranking.label == "StoreHours" and text and not _about_store_hours(text):
        return IntentMatch(None, {}, score, "semantic")  # "what day is it today", "is the museum open on monday"
    return IntentMatch(ranking.label, {key: ranking.slots[key]} if key else {}, score, "semantic")


class SemanticIndexes:
    """One :class:`SemanticIndex` per (encoder, template set), built on first use (thread-safe)."""

    def __init__(self):
        self._known: dict[str, tuple] = {}
        self._lock = threading.Lock()

    def get(self, encoder, recognizer) -> SemanticIndex:
        with self._lock:
            known = self._known.get(recognizer.language)
            if known is not None and known[0] is encoder and known[1] is recognizer.intents:
                return known[2]
            index = SemanticIndex.from_recognizer(encoder, recognizer)
            self._known[recognizer.language] = (encoder, recognizer.intents, index)
            return index


def _about_store_hours(text: str) -> bool:
    """Whether ``text`` speaks of opening at all (open, close, shut, hours, time...) and not of another place's
    (:data:`.cues.OTHER_PLACE`): the encoder puts any question about days and times near the store's hours."""
    from .cues import OTHER_PLACE
    from .textnorm import normalize

    spoken = normalize(text)
    if not re.search(r"\b(open|opens|opening|close|closes|closing|closed|shut|hours|time|late|until|till)\b", spoken):
        return False
    return not OTHER_PLACE["en"].search(spoken)
