"""A JSGF grammar for PocketSphinx generated from the same hassil templates the matcher uses.

Each template sentence becomes one alternative of ``<sentence>``; hassil's alternatives and optional parts
map to JSGF ``( | )`` and ``[ ]``; ``{product}`` becomes the product names, ``{order_id}`` (a range) a run of
one to five spoken digits, other lists their values; FAQ questions are added as whole sentences. Words
the pronouncing dictionary lacks cannot be decoded: an alternative holding one is dropped (and reported).
"""

from __future__ import annotations

import re

from ..textnorm import normalize

DIGITS = "(zero | oh | one | two | three | four | five | six | seven | eight | nine)"


class GrammarBuilder:
    """Turns hassil expressions into JSGF text, keeping only words that ``known(word)`` accepts."""

    def __init__(self, known, lists: dict[str, list[str]]):
        self.known, self.lists, self.dropped = known, lists, set()

    def words_ok(self, text: str) -> bool:
        missing = [w for w in text.split() if not self.known(w)]
        self.dropped.update(missing)
        return not missing

    def expression(self, node) -> str | None:
        """JSGF for one hassil expression node, ``None`` when it cannot be spoken with known words."""
        from hassil.expression import Alternative, Group, ListReference, TextChunk

        if isinstance(node, TextChunk):
            text = normalize(node.text)
            return text if self.words_ok(text) else None
        if isinstance(node, ListReference):
            return f"<{_rule_name(node.list_name)}>" if node.list_name in self.lists else None
        if isinstance(node, Alternative):
            return self._alternative(node)
        if isinstance(node, Group):
            parts = [self.expression(item) for item in node.items]
            if any(p is None for p in parts):
                return None
            return " ".join(p for p in parts if p) or ""
        return None

    def _alternative(self, node) -> str | None:
        parts = [self.expression(item) for item in node.items]
        spoken = list(dict.fromkeys(p for p in parts if p))
        optional = node.is_optional or any(p == "" for p in parts)
        if not spoken:
            return "" if optional else None
        body = " | ".join(spoken)
        return f"[ {body} ]" if optional else f"( {body} )"

    def list_rule(self, name: str) -> str | None:
        values = [v for v in dict.fromkeys(normalize(v) for v in self.lists[name]) if v and self.words_ok(v)]
        if name == "order_id":
            return f"<{_rule_name(name)}> = {DIGITS} [{DIGITS}] [{DIGITS}] [{DIGITS}] [{DIGITS}];"
        return f"<{_rule_name(name)}> = ( {' | '.join(values)} );" if values else None


def _rule_name(name: str) -> str:
    return "list_" + re.sub(r"\W", "_", name)


def build_jsgf(intents, products: list[str], extra_sentences: list[str], known) -> tuple[str, set[str]]:
    """The JSGF text of every template sentence plus ``extra_sentences``, and the words that had to be dropped."""
    lists = {"product": products, "order_id": []}
    for name, slot_list in intents.slot_lists.items():
        values = [str(v.value_out if v.value_out else v.text_in.text) for v in getattr(slot_list, "values", [])]
        if values:
            lists[name] = [str(v.text_in.text) for v in slot_list.values]
    builder = GrammarBuilder(known, lists)
    sentences = []
    for intent in intents.intents.values():
        for data in intent.data:
            sentences += [builder.expression(s.expression) for s in data.sentences]
    sentences += [normalize(s) for s in extra_sentences if builder.words_ok(normalize(s))]
    alternatives = list(dict.fromkeys(s for s in sentences if s))
    rules = [r for r in (builder.list_rule(name) for name in lists) if r]
    usable = {m.group(1) for m in re.finditer(r"<(list_\w+)> =", "\n".join(rules))}
    alternatives = [a for a in alternatives if all(ref in usable for ref in re.findall(r"<(list_\w+)>", a))]
    text = "#JSGF V1.0;\ngrammar kiosk;\npublic <sentence> = ( " + " | ".join(alternatives) + " );\n" + "\n".join(rules) + "\n"
    return text, builder.dropped
