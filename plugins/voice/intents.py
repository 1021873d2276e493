"""Intent recognition with hassil templates (Home Assistant's template language) and slot lists from the store.

The templates (``templates/<lang>.yaml`` in the plugin, or the voice bundle's own copy) are the single source
for both the matcher here and the PocketSphinx grammar (:mod:`plugins.voice.asr.grammar`). ``{product}`` is
filled from the catalog titles plus the knowledge base's ``alias`` / ``name_zh`` facts, each value carrying
its SKU.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from .stages import IntentMatch, VoiceError
from .textnorm import normalize

TEMPLATES = Path(__file__).parent / "templates"


def load_templates(language: str, folder: Path | None = None) -> dict:
    """The parsed template YAML for ``language`` (from ``folder`` when given, else the plugin's own)."""
    import yaml

    path = Path(folder or TEMPLATES) / f"{language}.yaml"
    if not path.is_file():
        raise VoiceError(f"no intent templates for language '{language}'", "unknown_language", 422)
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@dataclass
class Recognizer:
    """hassil intents for one language with the product list; ``match(text)`` gives an :class:`IntentMatch`."""

    language: str
    intents: object
    products: dict  # spoken name (normalised) -> sku

    @classmethod
    def build(cls, language: str, products: dict, folder: Path | None = None) -> "Recognizer":
        """Parse the templates of ``language`` and bind ``products`` ({spoken name: sku}) as ``{product}``."""
        from hassil import Intents

        return cls(language, Intents.from_dict(load_templates(language, folder)), dict(products))

    @functools.cached_property
    def _product_slot_lists(self) -> dict:
        from hassil import TextSlotList, TextSlotValue

        values = [TextSlotValue.from_tuple((name, sku)) for name, sku in sorted(self.products.items())]
        return {"product": TextSlotList(name="product", values=values or [TextSlotValue.from_tuple(("nothing", ""))])}

    def slot_lists(self) -> dict:
        """hassil's ``{product}`` list of this recogniser's products, built once (a recogniser's products never change)."""
        return self._product_slot_lists

    def match(self, text: str) -> IntentMatch:
        """The best template match of ``text`` (normalised first); ``name=None`` when no template fits."""
        from hassil import recognize

        spoken = normalize(text, self.language)
        result = recognize(spoken, self.intents, slot_lists=self.slot_lists(), language=self.language) if spoken else None
        if result is None:
            return IntentMatch(None, {}, 0.0)
        slots = {name: _slot_value(entity) for name, entity in result.entities.items()}
        slots = {k: v for k, v in slots.items() if v not in ("", None)}
        return IntentMatch(result.intent.name, slots, 1.0)


def _slot_value(entity):
    value = entity.value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value
