"""One voice turn for any front end (HTTP routes, the Wyoming server): audio or text in, the turn's JSON out."""

from __future__ import annotations

import base64

from edge.api import write_transaction

from .audio import check_not_silent, prosody
from .knowledge import faq_entries, order
from .stages import Timings, Transcript, VoiceError


def check_text(config, text: str) -> None:
    """Refuse text over ``max_text_chars`` (413 ``text_too_long``)."""
    if len(text) > config.max_text_chars:
        raise VoiceError(f"text is longer than {config.max_text_chars} characters", "text_too_long", 413,
                         {"limit": config.max_text_chars})


def transcribe(node, samples, language: str, timings: Timings) -> tuple[Transcript, list]:
    """Speech to text along the configured path order (grammar first, open vocabulary when it rejects)."""
    slot = node.slot("voice")
    recognizer = slot.pipeline.recognizer(node.db(), language)
    db = node.db()
    questions = [e["question"] for e in faq_entries(db, language)]
    return slot.router.transcribe(samples, language, recognizer, questions, timings,
                                  known_order=lambda number: order(db, number) is not None)


def audio_turn(node, samples, language: str, session_id: str, speak: bool, timings: Timings) -> dict:
    """A turn from 16 kHz mono samples: ASR, intent, answer (or hand-off), log, and the answer's audio."""
    check_not_silent(samples)
    with timings.stage("audio"):
        cues = prosody(samples)
    transcript, tried = transcribe(node, samples, language, timings)
    turn = respond(node, session_id, transcript, timings, cues)
    turn.update(asr_tried=tried, prosody=cues)
    return finish(node, turn, timings, speak)


def text_turn(node, text: str, language: str, session_id: str, speak: bool) -> dict:
    """A turn from text (chat, tests): intent, answer (or hand-off), log, optional audio."""
    check_text(node.plugin_config("voice"), text)
    timings = Timings()
    turn = respond(node, session_id, Transcript(text, language, 1.0, "text"), timings)
    return finish(node, turn, timings, speak)


def respond(node, session_id: str, transcript: Transcript, timings: Timings, cues=None) -> dict:
    """Intent, then the answer in a write transaction (a hand-off ticket is stored with it)."""
    return node.slot("voice").pipeline.respond(node.db(), session_id, transcript, timings, cues)


def finish(node, turn: dict, timings: Timings, speak: bool) -> dict:
    """Log the turn (synced to the hub) and add the answer's audio as base64 WAV when ``speak``."""
    slot, db = node.slot("voice"), node.db()
    with write_transaction(db):
        turn["turn_id"] = slot.pipeline.log(db, turn, timings.as_dict())
    if speak:
        with timings.stage("tts"):
            turn["audio_wav_base64"] = base64.b64encode(slot.speaker.synthesize(turn["answer"], turn["language"])).decode()
    turn["timings"] = timings.as_dict()
    return turn
