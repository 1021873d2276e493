"""When to hand a turn to a person, and the hand-off ticket and turn log (edge to hub, append-only).

A turn is escalated for: an explicit request (intent ``HumanAgent``), angry wording, an upset voice (loud
and high-pitched speech: both prosody cues together), or repeated failure in one session
(``failures_before_handoff`` turns not understood in a row). A single not-understood turn is answered
with what the kiosk can do (rejected, not escalated): one misheard question should not page a person.

Turns and tickets carry the store of the request (CDN edge mode); a session's failures count within its store.
"""

from __future__ import annotations

import datetime
import json
import re

ANGRY = {
    "en": re.compile(r"\b(ridiculous|useless|terrible|awful|angry|furious|disgusting|worst|unacceptable|scam|"
                     r"rubbish|stupid|hate|damn|complain|complaint|fed up)\b"),
    "zh": re.compile("(太差|垃圾|气死|生气|投诉|骗子|差劲|受够|什么破|烂)"),
}


def angry_words(text: str, language: str) -> bool:
    """Whether ``text`` has angry wording in ``language``."""
    pattern = ANGRY.get(language, ANGRY["en"])
    return bool(pattern.search(text.lower()))


def upset_voice(prosody: dict | None, loud_dbfs: float) -> bool:
    """Loud (RMS over ``loud_dbfs``) and high, varied pitch: the prosody cue of an upset speaker."""
    if not prosody:
        return False
    return bool(prosody.get("rms_dbfs", -99) > loud_dbfs and prosody.get("pitch_hz", 0) > 220)


def reason_for(intent: str | None, text: str, language: str, prosody: dict | None, failures: int, config) -> str | None:
    """The escalation reason of a turn, or ``None`` when the node answers it itself."""
    if intent == "HumanAgent":
        return "asked_for_person"
    if text and angry_words(text, language):
        return "angry_wording"
    if upset_voice(prosody, config.loud_dbfs):
        return "upset_voice"
    if intent is None and failures + 1 >= config.failures_before_handoff:
        return "repeated_failure"
    return None


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def recent_failures(db, session_id: str) -> int:
    """Not-understood turns in a row at the end of ``session_id`` (since its last understood or escalated turn)."""
    from .knowledge import request_store

    count = 0
    for intent, escalated in db.execute("SELECT intent, escalated FROM voice_turns WHERE store = ? AND session_id = ? "
                                        "ORDER BY created_at DESC, id DESC LIMIT 20", [request_store(), session_id]):
        if intent or escalated:
            break
        count += 1
    return count


def open_ticket(db, session_id: str, reason: str, transcript: str, context: dict) -> str:
    """Store a hand-off ticket (synced to the hub); return its id."""
    from ulid import ULID

    from .knowledge import request_store

    ticket_id = str(ULID())
    db["voice_tickets"].insert({"id": ticket_id, "store": request_store(), "session_id": session_id, "reason": reason, "transcript": transcript,
                                "context": json.dumps(context, ensure_ascii=False), "status": "open",
                                "created_at": _now()})
    return ticket_id


def log_turn(db, record: dict) -> str:
    """Store one turn (synced to the hub); return its id."""
    from ulid import ULID

    from .knowledge import request_store

    turn_id = str(ULID())
    row = {"id": turn_id, "store": request_store(), "created_at": _now(), **record}
    for key in ("slots", "timings"):
        row[key] = json.dumps(row.get(key) or {}, ensure_ascii=False)
    db["voice_turns"].insert(row)
    return turn_id
