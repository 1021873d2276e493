"""The store's knowledge for answers: catalog and stock, facts (subject-relation-object), FAQ, orders.

FAQ matching scores each entry of the caller's language by word overlap (a keyword match: the entry's
question and keywords against the utterance, Jaccard-like, with Chinese scored per character). A sentence
encoder in the voice bundle, when one is active, replaces the score by a cosine (see :mod:`.encoder`).

Everything here is per store (CDN edge mode): each reader takes ``store`` and, when it is not given, reads
the store of the current request (:func:`request_store`), so an answer on ``/v1/stores/B/voice/text`` uses
store B's catalog, stock, facts, FAQ and orders only. A FAQ entry's ``id`` and an order's ``id`` are their own
keys within the store (``parking-en``, ``4711``), not the table's ``<store>/<key>``.
"""

from __future__ import annotations

import contextvars
import re

STOP = {"a", "an", "the", "is", "are", "do", "does", "you", "your", "i", "my", "me", "to", "of", "for", "in", "on",
        "can", "what", "how", "please", "there", "have", "it", "this", "be", "we", "with", "at", "or", "and",
        "where", "when", "which", "who", "why", "isn't", "aren't", "don't", "doesn't", "here", "somewhere", "any", "some",
        "的", "吗", "我", "你", "们", "是", "有", "在", "了", "么"}


SERVING = contextvars.ContextVar("voice_store", default=None)  # the store of a front end outside Flask (Wyoming)


def request_store() -> str:
    """The store a turn is for (CDN edge mode): the request's; outside a Flask app (the Wyoming server) the store
    it serves (``SERVING``), else ``default``."""
    from edge.api import current_store

    if SERVING.get() is not None:
        return SERVING.get()
    try:
        return current_store()
    except RuntimeError:
        return "default"


def products(db, language: str, store: str | None = None) -> dict:
    """{spoken product name: sku}: the store's catalog titles (words split on dashes too) and ``alias`` /
    ``name_zh`` facts."""
    store = store or request_store()
    names: dict[str, str] = {}
    if language != "zh" and db["catalog_items"].exists():
        for sku, title in db.execute("SELECT sku, title FROM catalog_items WHERE store = ?", [store]):
            spoken = _spoken(title)
            if spoken:
                names.setdefault(spoken, sku)
    relation = "name_zh" if language == "zh" else "alias"
    for sku, name in db.execute("SELECT subject, object FROM voice_facts WHERE store = ? AND relation = ?", [store, relation]):
        names[_spoken(name) if language != "zh" else name.strip()] = sku
    return names


def _spoken(title: str) -> str:
    words = re.sub(r"[^a-z ]+", " ", title.lower().replace("-", " ")).split()
    return " ".join(dict.fromkeys(words))  # "Oatly Oat Milk Oat-Milk" -> "oatly oat milk"


def product(db, sku: str, store: str | None = None) -> dict | None:
    """The store's catalog row of ``sku`` with its stock on hand (``None`` if unknown)."""
    store = store or request_store()
    if not db["catalog_items"].exists():
        return None
    row = db.execute("SELECT sku, title, price, currency, in_stock FROM catalog_items WHERE store = ? AND sku = ?",
                     [store, sku]).fetchone()
    if row is None:
        return None
    item = dict(zip(("sku", "title", "price", "currency", "in_stock"), row))
    stock = (db.execute("SELECT on_hand FROM stock_levels WHERE store = ? AND sku = ?", [store, sku]).fetchone()
             if db["stock_levels"].exists() else None)
    item["on_hand"] = stock[0] if stock else None
    return item


def fact(db, subject: str, relation: str, language: str = "en", store: str | None = None) -> str | None:
    """The store's object of (subject, relation) in ``language`` (English as the fallback)."""
    store = store or request_store()
    for lang in dict.fromkeys((language, "en")):
        row = db.execute("SELECT object FROM voice_facts WHERE store = ? AND subject = ? AND relation = ? AND lang = ? "
                         "ORDER BY fact_id LIMIT 1", [store, subject, relation, lang]).fetchone()
        if row:
            return row[0]
    return None


def order(db, order_id: str, store: str | None = None) -> dict | None:
    """The store's order ``order_id`` (id, status, detail) or ``None``."""
    row = db.execute("SELECT order_id, status, detail FROM voice_orders WHERE store = ? AND order_id = ?",
                     [store or request_store(), str(order_id)]).fetchone()
    return dict(zip(("id", "status", "detail"), row)) if row else None


def faq_entries(db, language: str, store: str | None = None) -> list[dict]:
    """Every FAQ entry of the store in ``language``."""
    cursor = db.execute("SELECT faq_id, question, answer, keywords FROM voice_faq WHERE store = ? AND lang = ? ORDER BY faq_id",
                        [store or request_store(), language])
    return [dict(zip(("id", "question", "answer", "keywords"), row)) for row in cursor]


def tokens(text: str, language: str) -> set[str]:
    """Content words of ``text`` (characters for Chinese), stop words removed."""
    if language == "zh":
        return {c for c in text if c.strip() and c not in STOP and not c.isascii()}
    from .textnorm import normalize

    words = re.findall(r"[a-z0-9']+", normalize(text))  # "Wi-Fi?" is the entry's "wifi"
    return {_stem(w) for w in words if w not in STOP}


def _stem(word: str) -> str:
    """A crude English stem, the same for a word's plural and -ing form ("parking", "park", "cards", "card")."""
    if len(word) > 5 and word.endswith("ing"):
        word = word[:-3]
    return word.rstrip("s") if len(word) > 3 else word


def keyword_scores(text: str, entries: list[dict], language: str) -> list[float]:
    """Per entry: overlap of the utterance's content words with the entry's question and keywords, 0-1.

    The share of the utterance's content words the entry knows, damped when only one word is shared; in English
    a word among the entry's curated ``keywords`` counts double in that damping, so a short question on one
    keyword ("where do i park", "do you take contactless") finds its entry while one shared question word
    ("where is the nearest pharmacy" / "where are the toilets") does not.
    """
    said = tokens(text, language)
    scores = []
    for entry in entries:
        keywords = tokens(entry["keywords"].replace(",", " "), language) if language != "zh" else set()
        known = tokens(entry["question"], language) | keywords if language != "zh" else \
            tokens(f"{entry['question']} {entry['keywords'].replace(',', ' ')}", language)
        overlap, strong = len(said & known), len(said & keywords)
        scores.append(overlap / max(len(said), 1) * min(1.0, (overlap + strong) / 2) if said else 0.0)
    return scores
