"""A confidence for grammar hypotheses: a likelihood ratio against an unconstrained phone loop.

A grammar forces any speech onto one of its sentences ("please call a taxi" → "please card"). To tell a
forced path from a heard one, the same audio is decoded a second time by PocketSphinx's ``allphone``
search (any phone may follow any phone: no words, no grammar; about a tenth of the grammar decode's
time). For each word of the grammar hypothesis, its acoustic log score is compared with the phone loop's
score over the same frames, per frame. A word the speaker said scores close to the free phone loop; a word
the grammar forced onto other speech scores far below it. Two figures decide, both log-likelihood ratios
per frame (<= about 0): the mean over all the hypothesis' words and its *worst* word (a single forced word
is enough to make the sentence wrong); ``grammar_mean_floor`` and ``grammar_word_floor`` in the voice
config are the cuts, set on a development set of espeak-ng speech (other voices, other phrasings and other
out-of-domain sentences than the benchmark's test sets: ``benchmarks/voice_dev.py``).

PocketSphinx's Python API reports scores as ``logmath.exp`` of the internal log values, so the logs are
taken back here; a score that underflowed to 0 counts as the lowest double's log.
"""

from __future__ import annotations

import math

LOWEST_LOG = -745.0  # log of the smallest positive double


def _log(value: float) -> float:
    return math.log(value) if value > 0 else LOWEST_LOG


def segments(decoder) -> list[tuple[str, int, int, float]]:
    """``(word, first frame, last frame, acoustic log score)`` of the decoder's current hypothesis."""
    return [(s.word, s.start_frame, s.end_frame, _log(s.ascore)) for s in (decoder.seg() or [])]


def _is_word(word: str) -> bool:
    return not word.startswith(("<", "[", "+"))


def loop_score(phones: list[tuple[str, int, int, float]], first: int, last: int) -> float:
    """The phone loop's log score over frames ``first..last`` (phones cut at the edges pro rata)."""
    total = 0.0
    for _, start, end, score in phones:
        overlap = min(end, last) - max(start, first) + 1
        if overlap > 0:
            total += score * overlap / (end - start + 1)
    return total


def word_ratios(words: list[tuple[str, int, int, float]], phones: list[tuple[str, int, int, float]]) -> tuple[float, float] | None:
    """``(worst word, mean over words)`` per-frame log-likelihood ratio of grammar words vs the phone loop."""
    spans = [(score, loop_score(phones, start, end), end - start + 1) for word, start, end, score in words if _is_word(word)]
    if not spans:
        return None
    worst = min((score - loop) / frames for score, loop, frames in spans)
    mean = sum(score - loop for score, loop, _ in spans) / sum(frames for _, _, frames in spans)
    return worst, mean
