"""Text normalisation shared by the grammar, the matcher and the benchmarks: case, punctuation, digits."""

from __future__ import annotations

import re

DIGIT_WORDS = {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
               "seven": "7", "eight": "8", "nine": "9"}
ZH_DIGITS = {"零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4", "五": "5",
             "六": "6", "七": "7", "八": "8", "九": "9"}
_PUNCT = re.compile(r"[^\w\s']+", re.UNICODE)
HOMOPHONES = {"for": "4", "to": "2", "too": "2", "won": "1", "ate": "8"}  # what speech engines write for a spoken digit


def normalize(text: str, language: str = "en") -> str:
    """Lower-case ``text``, drop punctuation, and turn runs of spoken digits into numbers ("four seven one one" → 4711)."""
    text = _PUNCT.sub(" ", text.lower().replace("what's", "what is").replace("i'm", "i am").replace("wi-fi", "wifi"))
    if language == "zh":
        return _zh_digits(text).replace(" ", "")
    words, out = _join_digit_runs(text.split()), []
    for word in words:
        digit = DIGIT_WORDS.get(word) if word != "oh" or (out and out[-1].isdigit()) else None
        if digit is not None and out and out[-1].isdigit():
            out[-1] += digit
        else:
            out.append(digit if digit is not None else word)
    return " ".join(out).replace("-", "")


def _join_digit_runs(words: list[str]) -> list[str]:
    """Single digits in a row ("1 2 3 4", from "1, 2, 3, 4") become one number, as a spoken order number does."""
    out: list[str] = []
    for word in words:
        if len(word) == 1 and word.isdigit() and out and out[-1].isdigit():
            out[-1] += word
        else:
            out.append(word)
    return out


def _zh_digits(text: str) -> str:
    """Runs of two or more Chinese digit characters read one by one become Arabic digits (订单四七一一 → 订单4711)."""
    return re.sub("[零〇一幺二两三四五六七八九]{2,}", lambda m: "".join(ZH_DIGITS[c] for c in m.group()), text)


def homophone_numbers(text: str) -> list[str]:
    """Numbers ``text`` may have meant where a digit was written as its homophone just before a number
    ("order for seven one one" → ``["4711"]``), for an order number the store does not know as heard."""
    words = normalize(text).split()
    return [HOMOPHONES[word] + after for word, after in zip(words, words[1:]) if word in HOMOPHONES and after.isdigit()]
