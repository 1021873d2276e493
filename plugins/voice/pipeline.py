"""The voice pipeline: transcript → intent and slots → handler → answer text (→ speech), or a hand-off.

``VoicePipeline`` lives in the plugin's node slot (one per worker). It keeps the parsed templates per
language and rebinds the product list when the catalog or the facts change; the speech engines are
loaded on first use. Every stage's time is reported in ``timings``.
"""

from __future__ import annotations

import re
import threading

from edge.api import write_transaction

from . import escalation, handlers, knowledge
from .cues import match_cues
from .intents import Recognizer
from .stages import Answer, IntentMatch, Timings, Transcript, VoiceError
from .textnorm import normalize


def _repaired(match: IntentMatch, repaired: bool) -> IntentMatch:
    """``match`` with ``+repair`` on its source when the text it matched had a product word repaired."""
    if not repaired or match.name is None:
        return match
    return IntentMatch(match.name, match.slots, match.confidence, f"{match.source}+repair")


def _says_order(text: str) -> bool:
    """Whether ``text`` (as heard) says the word "order": an order number alone is no order question."""
    return re.search(r"\border\b", normalize(text)) is not None


class VoicePipeline:
    """Understanding and answering for one node (thread-safe; engines are shared by the worker's threads)."""

    def __init__(self, config, templates_dir=None, encoder_source=None):
        self.config, self.templates_dir = config, templates_dir
        self.encoder_source = encoder_source or (lambda: None)
        self._recognizers: dict[tuple[str, str], Recognizer] = {}  # by (store, language)
        self._indexes: dict[str, tuple] = {}  # by language: (the intents object, its TemplateIndex)
        from .semantic import SemanticIndexes

        self.semantic = SemanticIndexes()  # the sentence encoder's template embeddings (semantic.py)
        self._lock = threading.Lock()

    def check_language(self, language: str) -> str:
        """``language`` if this node serves it; 422 ``unknown_language`` otherwise."""
        if language not in self.config.languages:
            raise VoiceError(f"language '{language}' is not served here", "unknown_language", 422,
                             {"languages": list(self.config.languages)})
        return language

    def recognizer(self, db, language: str) -> Recognizer:
        """The template recognizer of ``language`` bound to the request store's current product names.

        Every store shares one parsed template set per language, so that the indexes built per template set
        (:meth:`template_index`, :class:`~.semantic.SemanticIndexes`) are built once, not again at each change of store.
        """
        store = knowledge.request_store()
        names = knowledge.products(db, language, store)
        with self._lock:
            current = self._recognizers.get((store, language))
            if current is None:
                shared = next((r.intents for (_, lang), r in self._recognizers.items() if lang == language), None)
                current = Recognizer(language, shared, names) if shared is not None else \
                    Recognizer.build(language, names, self.templates_dir)
                self._recognizers[store, language] = current
            elif current.products != names:
                current = Recognizer(language, current.intents, names)
                self._recognizers[store, language] = current
            return current

    def understand(self, db, text: str, language: str, hints=()) -> IntentMatch:
        """Templates, then the FAQ entry over its floor, cue words with their slot, the nearest template expansion.

        ``hints`` are other hypotheses of the same speech (the grammar's rejected sentence), used only to
        fill a product slot that ``text`` lacks.
        """
        recognizer = self.recognizer(db, language)
        match = recognizer.match(text)
        if match.name is not None:
            return match
        heard = text
        text, repaired = self.repair_slot(recognizer, text)
        if repaired:
            match = recognizer.match(text)
            if match.name is not None:
                return IntentMatch(match.name, match.slots, match.confidence, "templates+repair")
        encoder = self.encoder_source()
        if encoder is not None and language == "en":
            return self._by_meaning(db, encoder, recognizer, text, repaired, hints)
        confirmed = self._confirmed_grammar(recognizer, text, hints)
        if confirmed.name is not None:
            return confirmed
        return self._without_meaning(db, recognizer, text, repaired, hints, faq_text=heard)

    def _by_meaning(self, db, encoder, recognizer, text: str, repaired: bool, hints) -> IntentMatch:
        """With the bundle's sentence encoder: the semantic matcher, the grammar's confirmed sentence, then the
        weaker matchers only for kiosk talk.

        The semantic matcher (:mod:`.semantic`) answers when its best intent or FAQ entry is over its floor,
        ``semantic_margin`` ahead of the runner-up and has its slot; when it names another intent than the
        grammar's confirmed sentence, it wins, since a near sound-alike of another intent can pass that check
        ("i would like to send back these trousers" / the grammar's "i would like to speak to the person"); on
        the same intent the grammar's sentence keeps its slot. Otherwise the cue words, the TF-IDF
        template index and the grammar's product may still answer, but only when the text is near kiosk talk at
        all (its best cosine reaches ``kiosk_floor``): "who is the president" is not turned into an aisle
        question by the word "where" it was misheard with.
        """
        from .semantic import decide

        faq = knowledge.faq_entries(db, recognizer.language)
        try:
            ranking = self.semantic.get(encoder, recognizer).rank(text, recognizer.products, faq)
        except Exception:  # a broken encoder must not stop the kiosk: the matchers without it answer
            confirmed = self._confirmed_grammar(recognizer, text, hints)
            if confirmed.name is not None:
                return confirmed
            return self._without_meaning(db, recognizer, text, repaired, hints, text, entries=faq)
        decided = decide(ranking, faq, self.config.semantic_floor, self.config.semantic_margin, text,
                         self.config.semantic_slot_floor)
        confirmed = self._confirmed_grammar(recognizer, text, hints)
        if confirmed.name is not None and decided.name in (None, confirmed.name):
            return confirmed  # the same question: the grammar's slot, since it only knows the store's names
        if decided.name is not None:
            return _repaired(decided, repaired)
        if ranking.score < self.config.kiosk_floor:
            return decided
        fallback = self._without_meaning(db, recognizer, text, repaired, hints, faq_text=text, keywords=True, entries=faq)
        return fallback if fallback.name is not None else decided

    def _without_meaning(self, db, recognizer, text: str, repaired: bool, hints, faq_text: str | None,
                         keywords: bool = False, entries: list[dict] | None = None) -> IntentMatch:
        """Keyword FAQ on ``faq_text`` (skipped when ``None``; by keywords even with an encoder when ``keywords``: the
        encoder's own FAQ cosine has already failed), cue words, then (English only) the nearest template
        expansion and the grammar's product."""
        language = recognizer.language
        faq = self._faq(db, faq_text, language, keywords, entries) if faq_text is not None else IntentMatch(None, {}, 0.0)
        if faq.name is not None:
            return faq
        cued = match_cues(text, recognizer.products, language)
        if cued.name is not None or language != "en":
            return _repaired(cued, repaired) if cued.name is not None else faq
        index = self.template_index(recognizer)
        near = _repaired(index.match(text, recognizer.products), repaired)
        if near.name is None:
            near = self._grammar_product(recognizer, index, text, hints)
        return near if near.name is not None else faq

    def repair_slot(self, recognizer, text: str) -> tuple[str, bool]:
        """``text`` with a misheard product word replaced by the catalog name it sounds like (English, no product named).

        See :mod:`.phonetic`; ``(text, False)`` when the text already names a product or nothing is near enough.
        """
        from .similar import find_product

        if recognizer.language != "en" or self.config.repair_floor <= 0:
            return text, False
        spoken = normalize(text)
        if find_product(spoken, recognizer.products)[0] is not None:
            return text, False
        repaired, fix = self.slot_repair(recognizer).repair(spoken)
        return (repaired, True) if fix else (text, False)

    def slot_repair(self, recognizer: Recognizer):
        """The :class:`~.phonetic.SlotRepair` of ``recognizer``'s products, built once per recogniser."""
        from .phonetic import SlotRepair

        cached = recognizer.__dict__.get("_slot_repair")
        if cached is None:
            words = self.template_index(recognizer).words
            cached = SlotRepair(recognizer.products, words, self.config.repair_floor)
            recognizer.__dict__["_slot_repair"] = cached
        return cached

    def _confirmed_grammar(self, recognizer, text: str, hints) -> IntentMatch:
        """The grammar's template sentence when the open-vocabulary transcript says nearly the same.

        The grammar was not sure enough to answer alone; two recognisers hearing nearly the same words
        ("have you got some damage" / "have you got some lemon") is the confirmation, and the grammar's
        reading wins because it only knows the store's own names. A product or order sentence counts only with its
        slot: the grammar's slotless "what is the status of my order" nearly says "what is the capital of france";
        and not when the transcript's own cue words name another intent.
        """
        from .similar import SLOT, agree

        cued = match_cues(text, recognizer.products, recognizer.language).name
        for hint in hints:
            heard = recognizer.match(hint)
            if heard.name in SLOT and not heard.slots.get(SLOT[heard.name]):
                continue
            if cued is not None and cued != heard.name:
                continue  # "i would like to send back these trousers" is not the grammar's "... speak to the person"
            if heard.name == "OrderStatus" and not _says_order(text):
                continue  # "what is the capital of france" / the grammar's "what is the status of order 1234"
            if heard.name not in SLOT and cued != heard.name:
                continue  # a slotless intent needs its own cue words in the transcript ("how do i fix my bike")
            score = agree(text, hint) if heard.name is not None else None
            if score is not None and self._product_heard(recognizer, text, hint):
                return IntentMatch(heard.name, heard.slots, round(score, 3), "grammar+open_vocabulary")
        return IntentMatch(None, {}, 0.0)

    def _product_heard(self, recognizer, text: str, hint: str) -> bool:
        """Whether ``text`` could hold the product that the grammar's ``hint`` names (any, when it names none).

        The grammar forces speech onto the store's names ("where is the nearest hospital" → "where is the
        kiwi"); its product is believed only when the open-vocabulary text has nothing else there or
        something that sounds loosely like it (``grammar_product_floor``, :meth:`.phonetic.SlotRepair.sounds_like`).
        """
        from .similar import find_product

        if recognizer.language != "en" or self.config.grammar_product_floor >= 1:
            return True
        name = find_product(normalize(hint), recognizer.products)[1]
        if name is None:
            return True
        return self.slot_repair(recognizer).sounds_like(normalize(text), name, self.config.grammar_product_floor)

    def _grammar_product(self, recognizer, index, text: str, hints) -> IntentMatch:
        """The grammar's product when its rejected sentence and ``text`` agree on a product intent.

        Whisper misspells rare names ("zucchini" → "lucky"); the grammar, which only knows the store's
        names, often heard them right but was not sure of the whole sentence. The product is taken only when
        the grammar's sentence is a template match of a product intent *and* ``text`` is nearest to that
        same intent: a question about parking is never turned into one about a product.
        """
        for hint in hints:
            heard = recognizer.match(hint)
            if heard.name in ("ProductAvailability", "ProductLocation") and heard.slots.get("product"):
                score = index.confirms(text, recognizer.products, heard.name)
                if score is not None and self._product_heard(recognizer, text, hint):
                    return IntentMatch(heard.name, {"product": heard.slots["product"]}, round(score, 3), "similar+grammar")
        return IntentMatch(None, {}, 0.0, "similar")

    def _grammar_fallback(self, db, transcript: Transcript) -> IntentMatch | None:
        """The grammar's rejected sentence when Whisper is unsure of a transcript that means nothing.

        Whisper turns fast or odd speech into fluent nonsense ("are you open on sunday" → "I hope an unsung
        name morning", mean log-probability -0.82) while the grammar heard the sentence but not quite surely
        enough to answer alone. The grammar's sentence answers (``intent_source: grammar_fallback``) when it
        passed the looser fallback floors and Whisper's mean token log-probability is under
        ``whisper_unsure_logprob``; a Whisper transcript heard surely ("Where is the nearest hospital?") keeps
        its rejection. As with a confirmed sentence, the grammar's product must be one Whisper's words could hold,
        and its order number one of the store's.
        """
        sentence, logprob = transcript.detail.get("fallback"), transcript.detail.get("avg_logprob")
        if not sentence or logprob is None or logprob >= self.config.whisper_unsure_logprob:
            return None
        recognizer = self.recognizer(db, transcript.language)
        heard = recognizer.match(sentence)
        if heard.name is None or not self._product_heard(recognizer, transcript.text, sentence):
            return None  # "i lead the holiday": nothing there sounds like the grammar's product
        number = heard.slots.get("order_id")
        if number and knowledge.order(db, str(number)) is None:
            return None  # an order number the store does not have is the grammar's forcing, not the customer's
        return IntentMatch(heard.name, heard.slots, 0.5, "grammar_fallback")

    def _known_order(self, db, match: IntentMatch, text: str, language: str) -> IntentMatch:
        """``match`` with the store's order that a homophone hid ("order for seven one one": 711 is unknown, 4711 is
        known), when the number heard is not an order of the store; else ``match`` unchanged."""
        from .textnorm import homophone_numbers

        heard = match.slots.get("order_id")
        if match.name != "OrderStatus" or not heard or language != "en" or knowledge.order(db, heard) is not None:
            return match
        for number in homophone_numbers(text):
            if knowledge.order(db, number) is not None:
                return IntentMatch(match.name, {**match.slots, "order_id": number}, match.confidence, f"{match.source}+order")
        return match

    def _grammar_order(self, db, match: IntentMatch, text: str, language: str, hints) -> IntentMatch:
        """The grammar's order number when the open-vocabulary text asks about an order but its number is missing,
        not the store's, or was not heard as one ("where is my order for san juan juan" / the grammar's
        "where is my order four seven one one"): the grammar's sentence must be an order question with an
        order of the store, and the text must say "order" and mean nothing else."""
        heard = match.slots.get("order_id")
        if match.name not in (None, "OrderStatus") or (heard and knowledge.order(db, heard) is not None):
            return match
        if language != "en" or not hints or not _says_order(text):
            return match  # no grammar sentence to take a number from: no catalog read for the recogniser
        recognizer = self.recognizer(db, language)
        for hint in hints:
            said = recognizer.match(hint)
            number = said.slots.get("order_id") if said.name == "OrderStatus" else None
            if number and knowledge.order(db, str(number)) is not None:
                return IntentMatch("OrderStatus", {**match.slots, "order_id": str(number)}, 0.6, "grammar_order")
        return match

    def _named_order(self, db, match: IntentMatch, text: str, language: str) -> IntentMatch:
        """An order question when nothing else was understood but the text names one of the store's orders
        ("send us a more good 4-7-1-1 please" for "status of order four seven one one please"); else ``match``."""
        if match.name is not None or language != "en":
            return match
        for number in re.findall(r"\b\d{3,}\b", normalize(text, language)):
            if knowledge.order(db, number) is not None:
                return IntentMatch("OrderStatus", {"order_id": number}, 0.6, "named_order")
        return match

    def template_index(self, recognizer: Recognizer):
        """The :class:`~.similar.TemplateIndex` of ``recognizer``'s templates, built once per template set."""
        from .similar import TemplateIndex

        with self._lock:
            known = self._indexes.get(recognizer.language)
            if known is not None and known[0] is recognizer.intents:
                return known[1]
        index = TemplateIndex.from_recognizer(recognizer, self.config.similar_floor)
        with self._lock:
            self._indexes[recognizer.language] = (recognizer.intents, index)
        return index

    def _faq(self, db, text: str, language: str, keywords: bool = False, entries: list[dict] | None = None) -> IntentMatch:
        """The FAQ entry over its floor (``entries``: the store's, when the caller has already read them)."""
        match = IntentMatch(None, {}, 0.0)
        entries = knowledge.faq_entries(db, language) if entries is None else entries
        if not entries or not text.strip():
            return match
        scores, source = (knowledge.keyword_scores(text, entries, language), "faq_keywords") if keywords else \
            self._faq_scores(text, entries, language)
        best = max(range(len(entries)), key=scores.__getitem__)
        floor = self.config.faq_encoder_floor if source == "faq_encoder" else self.config.faq_floor
        if scores[best] < floor:
            return IntentMatch(None, {}, round(float(scores[best]), 3), source)
        entry = entries[best]
        return IntentMatch("FAQ", {"faq_id": entry["id"], "answer": entry["answer"]}, round(float(scores[best]), 3), source)

    def _faq_scores(self, text: str, entries: list[dict], language: str) -> tuple[list[float], str]:
        encoder = self.encoder_source()
        if encoder is not None:
            try:
                return encoder.scores(text, [e["question"] for e in entries]), "faq_encoder"
            except Exception:  # a broken encoder must not stop the kiosk: fall back to keywords
                pass
        return knowledge.keyword_scores(text, entries, language), "faq_keywords"

    def respond(self, db, session_id: str, transcript: Transcript, timings: Timings, prosody: dict | None = None) -> dict:
        """Answer one transcript: intent, handler or hand-off, turn log; the turn's JSON (without audio)."""
        language = transcript.language
        with timings.stage("intent"):
            hints = transcript.detail.get("other_hypotheses", ())
            match = IntentMatch(None) if transcript.rejected else self.understand(db, transcript.text, language, hints)
            if match.name is None and not transcript.rejected:
                match = self._grammar_fallback(db, transcript) or match
            match = self._known_order(db, match, transcript.text, language)
            match = self._grammar_order(db, match, transcript.text, language, hints)
            match = self._named_order(db, match, transcript.text, language)
        with timings.stage("answer"), write_transaction(db):  # the write lock for the hand-off ticket only, not the matching
            answer = self._answer(db, session_id, transcript, match, prosody)
        turn = {"session_id": session_id, "language": language, "transcript": transcript.text, "intent": match.name,
                "intent_source": match.source, "slots": {k: v for k, v in match.slots.items() if k != "answer"},
                "answer": answer.text, "confidence": round(min(transcript.confidence, match.confidence or 0.0), 3),
                "asr_confidence": round(transcript.confidence, 3), "engine": transcript.engine,
                "escalated": answer.escalated, "escalation_reason": answer.reason, "ticket_id": answer.ticket_id,
                "data": answer.data}
        return turn

    def _answer(self, db, session_id: str, transcript: Transcript, match: IntentMatch, prosody) -> Answer:
        language = transcript.language
        failures = escalation.recent_failures(db, session_id)
        reason = escalation.reason_for(match.name, transcript.text, language, prosody, failures, self.config)
        if reason is not None:
            context = {"intent": match.name, "slots": {k: v for k, v in match.slots.items() if k != "answer"},
                       "engine": transcript.engine, "failures": failures, "prosody": prosody or {}}
            ticket = escalation.open_ticket(db, session_id, reason, transcript.text, context)
            return Answer(handlers.say(language, "handoff"), escalated=True, reason=reason, ticket_id=ticket)
        if match.name is None:
            return Answer(handlers.say(language, "not_understood"))
        return handlers.HANDLERS[match.name](db, match, language)

    def log(self, db, turn: dict, timings: dict) -> str:
        """Store ``turn`` in ``voice_turns`` (synced to the hub); return the turn id."""
        return escalation.log_turn(db, {
            "session_id": turn["session_id"], "lang": turn["language"], "transcript": turn["transcript"],
            "intent": turn["intent"], "slots": turn["slots"], "answer": turn["answer"], "confidence": turn["confidence"],
            "engine": turn["engine"], "escalated": int(turn["escalated"]), "timings": timings})
