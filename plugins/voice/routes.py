"""``/v1/voice``: ``turn`` (a WAV in, the answer out), ``text`` (the same from text) and ``tts`` (text to WAV).

A turn's JSON: transcript, language, intent, slots, answer, confidence, engine (and the paths tried),
escalated (with reason and ticket id), session id, per-stage timings in milliseconds, and the answer's
audio as base64 WAV (``speak=false`` leaves it out). Every turn is logged in ``voice_turns``.
"""

from __future__ import annotations

import re
import uuid

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field

from edge.api import ApiError, UnsupportedMediaType, current_node, documented, json_body, read_body, validated

from . import service
from .audio import decode_wav
from .stages import Timings, VoiceError

SESSION = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
WAV_TYPES = ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "multipart/form-data")


class TextTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1)
    language: str = Field("en", max_length=16)
    session_id: str | None = Field(None, pattern=SESSION)
    speak: bool = False


class SpeakRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1)
    language: str = Field("en", max_length=16)


TURN_RESPONSE = {"type": "object", "properties": {k: {} for k in (
    "session_id", "transcript", "language", "intent", "slots", "answer", "confidence", "engine", "asr_tried",
    "escalated", "escalation_reason", "ticket_id", "timings", "audio_wav_base64", "turn_id")}}


def _voice():
    node = current_node()
    return node, node.slot("voice"), node.plugin_config("voice")


def _error(exc: VoiceError) -> ApiError:
    return ApiError(str(exc), code=exc.code, status=exc.status, details=exc.details)


def text_turn():
    node, slot, _ = _voice()
    body = validated(TextTurn, json_body())
    try:
        language = slot.pipeline.check_language(body.language)
        return jsonify(service.text_turn(node, body.text, language, body.session_id or uuid.uuid4().hex, body.speak))
    except VoiceError as exc:
        raise _error(exc) from None


def _audio_bytes(config) -> bytes:
    if request.mimetype not in WAV_TYPES:
        raise UnsupportedMediaType(f"expected a WAV upload, got '{request.mimetype or 'nothing'}'",
                                   details={"accepted": list(WAV_TYPES)})
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("audio")
        if upload is None:
            raise VoiceError("the form has no 'audio' file", "missing_audio", 400)
        data = upload.read(config.max_upload_bytes + 1)
        if len(data) > config.max_upload_bytes:
            raise VoiceError(f"the upload is larger than {config.max_upload_bytes} bytes", "request_entity_too_large", 413)
        return data
    return read_body(config.max_upload_bytes)


def audio_turn():
    node, slot, config = _voice()
    session_id = request.args.get("session_id") or uuid.uuid4().hex
    try:
        if not re.fullmatch(SESSION, session_id):  # re.match lets "$" pass a trailing newline
            raise VoiceError("session_id has characters outside [A-Za-z0-9._:-] or is too long", "bad_session_id", 400)
        language = slot.pipeline.check_language(request.args.get("language", "en"))
        timings = Timings()
        with timings.stage("audio"):
            samples, info = decode_wav(_audio_bytes(config), config.max_seconds)
        turn = service.audio_turn(node, samples, language, session_id, request.args.get("speak", "true") != "false", timings)
        return jsonify({**turn, "audio": info})
    except VoiceError as exc:
        raise _error(exc) from None


def speak():
    node, slot, config = _voice()
    body = validated(SpeakRequest, json_body())
    try:
        service.check_text(config, body.text)
        language = slot.pipeline.check_language(body.language)
        return Response(slot.speaker.synthesize(body.text, language), mimetype="audio/wav")
    except VoiceError as exc:
        raise _error(exc) from None


def make_blueprint() -> Blueprint:
    """A fresh Blueprint with the voice routes."""
    bp = Blueprint("voice", __name__, url_prefix="/v1/voice")
    bp.post("/text")(documented("Answer a customer's question given as text (intent, answer, hand-off)", request=TextTurn,
                                response=TURN_RESPONSE, errors=(400, 413, 415, 422, 503), tags=("voice",))(text_turn))
    bp.post("/turn")(documented("Answer a spoken question: a WAV in (any common rate, mono/stereo, 16-bit/float); "
                                "query: language, session_id, speak", request=None, request_media="audio/wav",
                                response=TURN_RESPONSE, errors=(400, 413, 415, 422, 503), tags=("voice",))(audio_turn))
    bp.post("/tts")(documented("Speak a text: WAV audio (22,050 Hz mono 16-bit)", request=SpeakRequest,
                               response={"type": "string", "format": "binary"}, errors=(400, 413, 415, 422, 503),
                               tags=("voice",))(speak))
    return bp
