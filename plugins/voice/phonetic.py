"""Catalog-aware slot repair: a misheard product word mapped to the nearest catalog name by its phonemes.

The open-vocabulary recogniser spells rare product names as words it knows ("zucchini" → "bikini"). A
transcript that names no product of the store is searched for a run of one to three words that are not
template words (so "where", "have", "order" stay what they are) and that *sound* like a catalog name: both
are turned into phonemes with the CMU pronouncing dictionary that ships in the ``pocketsphinx`` wheel (stress
marks dropped), and the run is replaced by the name whose phoneme edit distance (to the name or its plural),
divided by the longer of the two, is lowest and at most ``floor`` (``repair_floor`` in the voice config, set on the development split).
Vowels substitute for each other at half cost (a recogniser's vowels are its least reliable phonemes). A word
the dictionary lacks is never repaired, and a store without a name nearby keeps the transcript as heard:
"bikini" becomes "zucchini" only where zucchini is sold and nothing is closer.
"""

from __future__ import annotations

import functools
import re

VOWELS = frozenset("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split())
MAX_RUN = 3


@functools.lru_cache(maxsize=1)
def _dictionary() -> dict[str, tuple[str, ...]]:
    """The CMU pronouncing dictionary of the pocketsphinx wheel: word → phonemes of its first pronunciation."""
    from pathlib import Path

    import pocketsphinx

    path = Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict"
    entries: dict[str, tuple[str, ...]] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            word, _, phones = line.partition(" ")
            if "(" not in word:  # alternative pronunciations are "word(2)"
                entries.setdefault(word, tuple(re.sub(r"\d", "", p) for p in phones.split()))
    return entries


def phonemes(text: str) -> tuple[str, ...] | None:
    """The phonemes of ``text`` (words joined), ``None`` when the dictionary lacks one of its words."""
    words, out = _dictionary(), []
    for word in text.split():
        phones = words.get(word)
        if phones is None:
            return None
        out += phones
    return tuple(out)


def distance(a: tuple[str, ...], b: tuple[str, ...]) -> float:
    """Phoneme edit distance over the longer length (0 same, 1 nothing alike); vowel for vowel costs half."""
    if not a or not b:
        return 1.0
    row = [float(j) for j in range(len(b) + 1)]
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], float(i)
        for j, y in enumerate(b, 1):
            swap = 0.0 if x == y else 0.5 if x in VOWELS and y in VOWELS else 1.0
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + swap)
    return row[-1] / max(len(a), len(b))


class SlotRepair:
    """Nearest catalog names by sound for one store's products, with the template words left alone."""

    def __init__(self, products: dict, template_words: set[str], floor: float):
        self.floor, self.template_words = floor, template_words
        self.names = {name: phones for name in products if name and (phones := phonemes(name))}

    def nearest(self, words: list[str]) -> tuple[str | None, float]:
        """The catalog name that sounds most like ``words`` and its distance (``None`` when none is known)."""
        heard = phonemes(" ".join(words))
        if heard is None or not self.names:
            return None, 1.0
        scored = [(self._distance(heard, phones), name) for name, phones in self.names.items()]
        score, name = min(scored)
        return name, score

    @staticmethod
    def _distance(heard: tuple[str, ...], name: tuple[str, ...]) -> float:
        """:func:`distance` to the name or its plural ("bikinis" is as near to "zucchini" as "bikini")."""
        return min(distance(heard, name), distance(heard, name + ("Z",)), distance(heard, name + ("S",)))

    def _spans(self, words: list[str]):
        """``(start, size)`` of every run of one to ``MAX_RUN`` words that are neither template words nor numbers."""
        for start in range(len(words)):
            for size in range(1, MAX_RUN + 1):
                run = words[start:start + size]
                if len(run) < size or any(w in self.template_words or w.isdigit() for w in run):
                    break
                yield start, size

    def repair(self, text: str) -> tuple[str, dict | None]:
        """``text`` (normalised) with its closest-sounding run of non-template words replaced by a catalog name.

        Returns the text unchanged and ``None`` when no run is within the floor; else the new text and
        ``{"heard", "name", "distance"}``.
        """
        words, best = text.split(), None
        for start, size in self._spans(words):
            name, score = self.nearest(words[start:start + size])
            if name is not None and score <= self.floor and (best is None or score < best[0]):
                best = (score, start, size, name)
        if best is None:
            return text, None
        score, start, size, name = best
        repaired = " ".join(words[:start] + [name] + words[start + size:])
        return repaired, {"heard": " ".join(words[start:start + size]), "name": name, "distance": round(score, 3)}

    def sounds_like(self, text: str, name: str, floor: float) -> bool:
        """Whether what ``text`` (normalised) says outside the template words could be ``name`` misheard.

        True when every word of ``text`` is a template word or a number (the recogniser dropped the name), or
        when a run of its other words is within ``floor`` of ``name`` by sound; a run the dictionary lacks
        is no evidence for the name. "where is the nearest hospital" does not sound like "kiwi", so the
        grammar's kiwi is not put into it; "where do i find lucky" is near enough to "zucchini" at a loose floor.
        """
        target = self.names.get(name) or phonemes(name)
        if not target:
            return False
        words = text.split()
        spans = list(self._spans(words))
        if not spans:
            return True
        for start, size in spans:
            run = " ".join(words[start:start + size])
            heard = phonemes(run)
            if heard and self._distance(heard, target) <= floor:
                return True
            if heard is None and spelt_like(run, name):
                return True
        return False


def spelt_like(run: str, name: str, cut: float = 0.6) -> bool:
    """Whether a run the dictionary lacks is spelt like ``name``: it holds the name ("vermango") or is within a
    character ratio of ``cut`` of it ("lamin" / "lemon"). A word no dictionary knows is most likely a recogniser's
    attempt at a rare name; a real word ("hospital") is judged by its sound instead."""
    import difflib

    heard, target = run.replace(" ", ""), name.replace(" ", "")
    return target in heard or difflib.SequenceMatcher(None, heard, target).ratio() >= cut
