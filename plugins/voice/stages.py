"""Typed records passed between the voice stages (after Wyoming/Rhasspy: each stage is a small module).

Errors are data: a stage that cannot go on raises :class:`VoiceError`, which carries a machine-readable
``code``, the HTTP ``status`` it maps to and ``details``; the routes turn it into the JSON error answer.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field


class VoiceError(Exception):
    """A refused input or a stage that failed, with a machine-readable code and an HTTP status."""

    def __init__(self, message: str, code: str, status: int = 400, details=None):
        super().__init__(message)
        self.code, self.status, self.details = code, status, details


@dataclass
class Transcript:
    """What speech to text heard: text, language, a 0-1 confidence and which engine/path answered."""

    text: str
    language: str
    confidence: float
    engine: str
    rejected: bool = False
    detail: dict = field(default_factory=dict)


@dataclass
class IntentMatch:
    """A recognised intent with its slots; ``name`` is ``None`` when nothing matched."""

    name: str | None
    slots: dict = field(default_factory=dict)
    confidence: float = 0.0
    source: str = "templates"


@dataclass
class Answer:
    """The text to say and whether the turn was handed to a person."""

    text: str
    escalated: bool = False
    reason: str | None = None
    ticket_id: str | None = None
    data: dict = field(default_factory=dict)


@dataclass
class Timings:
    """Milliseconds spent per stage, in the order the stages ran."""

    stages: dict = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str):
        """Time the enclosed block as stage ``name`` (added to what the stage already spent)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = round(self.stages.get(name, 0.0) + (time.perf_counter() - start) * 1000, 3)

    def as_dict(self) -> dict:
        return {**self.stages, "total": round(sum(self.stages.values()), 3)}


def as_json(record) -> dict:
    """A stage record as a JSON-ready dict."""
    return asdict(record)
