"""The voice plugin's settings (``VOICE_*`` keys of the node config, validated by pydantic)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class VoiceConfig(BaseModel):
    """Limits, engine order and escalation thresholds; the defaults suit a kiosk on 2 cores."""

    languages: tuple[str, ...] = ("en", "zh")
    max_seconds: float = Field(30.0, gt=0, le=600)
    max_text_chars: int = Field(500, ge=1, le=10_000)
    max_upload_bytes: int = Field(40 * 1024 * 1024, ge=1024)
    asr_order: tuple[Literal["grammar", "whisper", "vosk"], ...] = ("grammar", "whisper")
    whisper_model: Literal["tiny.en", "base"] = "tiny.en"
    whisper_beam: int = Field(5, ge=1, le=8)  # beam search: 85.1 % against 81.6 % greedy on the development split
    whisper_temperature_fallback: bool = True  # faster-whisper re-decodes doubtful segments at higher temperatures
    whisper_bias: Literal["none", "prompt", "hotwords", "prompt+hotwords"] = "prompt"  # the store's product names steer Whisper (whisper.py)
    # what Whisper's prompt carries after the product names (asr/prompt.py), and its length at most; on the development
    # split each intent's own template words in 700 characters: 89.9 % in domain against 89.0 % (names only, 4000), no OOD wrong
    whisper_prompt_vocabulary: Literal["products", "sentences", "keywords"] = "keywords"
    whisper_prompt_chars: int = Field(700, ge=20, le=4000)
    # a grammar hit's log-likelihood ratios per frame against a phone loop (plugins/voice/asr/confidence.py)
    grammar_mean_floor: float = Field(-3.25, ge=-100, le=0)
    grammar_word_floor: float = Field(-7.0, ge=-100, le=0)
    # a grammar sentence of at most this many words answers only when the next engine (Whisper) confirms it; 0: never asked
    grammar_verify_words: int = Field(2, ge=0, le=20)
    # a rejected grammar sentence over these answers when Whisper is unsure and means nothing (pipeline.py)
    grammar_fallback_mean_floor: float = Field(-6.0, ge=-100, le=0)
    grammar_fallback_word_floor: float = Field(-7.5, ge=-100, le=0)
    whisper_unsure_logprob: float = Field(-0.6, ge=-100, le=0)  # -0.6 against -0.75: +0.9 points in domain, no more OOD wrong (dev split)
    repair_floor: float = Field(0.0, ge=0, le=1)  # phoneme distance of a misheard product word (phonetic.py); 0: off
    grammar_product_floor: float = Field(0.6, ge=0, le=1)  # how near by sound Whisper's word must be to the grammar's product; 1 off
    similar_floor: float = Field(0.55, ge=0, le=1)  # cosine to the nearest template expansion (similar.py); 0.55 against 0.45: no OOD wrong on the dev split
    faq_floor: float = Field(0.45, ge=0, le=1)
    faq_encoder_floor: float = Field(0.4, ge=-1, le=1)
    # with the bundle's sentence encoder (semantic.py): the best intent or FAQ cosine, its lead over the runner-up,
    # and the least best cosine for the weaker matchers (cue words, TF-IDF) to answer at all; set on the dev split
    semantic_floor: float = Field(0.69, ge=-1, le=1)  # intents without a slot and FAQ entries
    semantic_slot_floor: float = Field(0.5, ge=-1, le=1)  # product and order intents, their slot heard
    semantic_margin: float = Field(0.03, ge=0, le=2)
    kiosk_floor: float = Field(0.4, ge=-1, le=1)
    failures_before_handoff: int = Field(2, ge=1, le=10)
    loud_dbfs: float = Field(-6.0, le=0)
    tts_cache: int = Field(128, ge=0, le=10_000)
