"""A second chance for phrasings the templates do not have: intent by cue words plus the slots found in the text.

Open-vocabulary speech ("have you any lemon", "what happened to my order 1234") rarely repeats a
template word for word. When no template matches, the intent is taken from cue words, and only with the
slot it needs (a product named in the text for availability and aisle, a number for an order): a product
with no cue is not enough, and a cue with no product is not either. Matches are reported with
``source="cues"`` and confidence 0.7, below a template match.
"""

from __future__ import annotations

import re

from . import similar
from .stages import IntentMatch
from .textnorm import normalize

# No cue word here is one that only the benchmark's held-out phrasings use: "staff", "bring back", "shut",
# "how long", "saturday", "left" and "buy" stay out (benchmarks/README.md), so the held-out figure stays held out.
_DAYS = r"monday|tuesday|wednesday|thursday|friday|sunday|weekends?|bank holidays?|holidays?|christmas"
CUES = {
    "en": {
        "HumanAgent": r"\b(person|human|agent|manager|someone|somebody|employee|operator|assistant|colleague|"
                      r"cashier|representative|attendant|supervisor|customer service|works here|work here)\b",
        "ReturnsPolicy": r"\b(return|returns|refund|refunds|exchange|send back|take back|money back|swap|swapped)\b|"
                         r"\b(take|send|give)\b.*\bback\b|\bwrong size\b",
        "StoreHours": r"\b(hours|opening times|closing time)\b|"
                      r"\b(open|close|closing|opening)\b.*\b(today|tomorrow|tonight|now|late|until|till|"
                      rf"morning|afternoon|evening|{_DAYS})\b|"
                      r"\b(when|what time|how late)\b.*\b(open|close)\b",
        "OrderStatus": r"\border\b",
        "ProductLocation": r"\b(where|whereabouts|aisle|find|shelf|section|located|location|kept|point me)\b",
        "ProductAvailability": r"\b(have|stock|sell|carry|any|available|got|get|sold)\b",
    },
    "zh": {
        "HumanAgent": "(人工|客服|真人|经理|工作人员)",
        "ReturnsPolicy": "(退货|退款|换货|退)",
        "StoreHours": "(营业|开门|关门|几点)",
        "OrderStatus": "订单",
        "ProductLocation": "(在哪|哪里|哪儿|货架|通道)",
        "ProductAvailability": "(有没有|有货|卖|买|还有)",
    },
}
# Cue words that name no intent of their own but ask for a person when nothing else fits ("can you help me");
# tried last, so that "help me find the garlic" stays an aisle question.
LAST_CUES = {"en": {"HumanAgent": r"\bhelp\b"}}
# "is the museum open on monday": opening times of some other place, not a store question.
OTHER_PLACE = {"en": re.compile(r"\bthe (?!store|shop|supermarket|market)[a-z]+ (is |are )?(still )?"
                                r"(open|opens|close|closes|closed|shut|opening|closing)\b")}
NEEDS_PRODUCT = {"ProductLocation", "ProductAvailability"}


def find_product(text: str, products: dict, language: str) -> str | None:
    """The SKU of the longest product name in ``text`` (whole words, a plural s or a near spelling; substrings in Chinese)."""
    if language != "zh":
        return similar.find_product(text, products)[0]
    for name in sorted(products, key=len, reverse=True):
        if name and name in text:
            return products[name]
    return None


def match_cues(text: str, products: dict, language: str) -> IntentMatch:
    """The first cue whose slot is present: person, returns, hours, order (with a number), aisle, availability."""
    spoken = normalize(text, language)
    cues = CUES.get(language, CUES["en"])
    sku = find_product(spoken, products, language)
    number = re.search(r"\d{2,}", spoken)
    for intent, pattern in [*cues.items(), *LAST_CUES.get(language, {}).items()]:
        if not re.search(pattern, spoken):
            continue
        if intent in NEEDS_PRODUCT and sku is None:
            continue
        if intent == "OrderStatus" and number is None:
            continue
        if intent == "StoreHours" and language in OTHER_PLACE and OTHER_PLACE[language].search(spoken):
            continue
        slots = {"product": sku} if intent in NEEDS_PRODUCT else {"order_id": number.group()} if intent == "OrderStatus" else {}
        return IntentMatch(intent, slots, 0.7, "cues")
    return IntentMatch(None, {}, 0.0, "cues")
