"""The voice pipeline over the Wyoming protocol (Home Assistant Assist satellites, Rhasspy clients).

Answers ``describe`` with ``info`` (ASR: the node's engines; TTS: the espeak-ng voices; intent: the
templates), ``transcribe`` + ``audio-start``/``audio-chunk``/``audio-stop`` with ``transcript``,
``synthesize`` with ``audio-start``/``audio-chunk``/``audio-stop``, and ``recognize`` with ``intent`` (the
answer as its ``text``) or ``not-recognized``. Audio chunks in any rate/width/channels are converted to
16 kHz mono. Errors are sent as Wyoming ``error`` events with the voice error's code. Blocking work runs in
a thread so that one slow client does not stall the others.
"""

from __future__ import annotations

import asyncio
import uuid

import numpy as np

from .audio import MAX_CHANNELS, MAX_RATE, MIN_RATE, resample
from .stages import Timings, Transcript, VoiceError
from .tts import VOICES

CHUNK_SAMPLES = 1024


def describe(node):
    """The Wyoming ``info`` event of this node."""
    from wyoming.info import AsrModel, AsrProgram, Attribution, Info, IntentModel, IntentProgram, TtsProgram, TtsVoice

    config = node.plugin_config("voice")
    credit = Attribution(name="storefront-edge", url="https://example.invalid/storefront-edge")
    models = [AsrModel(name=name, attribution=credit, installed=True, description=f"{name} path", version=None,
                       languages=["en"] if name == "grammar" else list(config.languages)) for name in config.asr_order]
    voices = [TtsVoice(name=voice, attribution=credit, installed=True, description=f"espeak-ng {voice}", version=None,
                       languages=[lang]) for lang, voice in VOICES.items()]
    intents = [IntentModel(name="kiosk", attribution=credit, installed=True, description="kiosk templates",
                           version=None, languages=list(config.languages))]
    return Info(asr=[AsrProgram(name="storefront-voice-asr", attribution=credit, installed=True, description="speech to text",
                                version="0.1.0", models=models)],
                tts=[TtsProgram(name="storefront-voice-tts", attribution=credit, installed=True, description="pyttsx3 espeak-ng",
                                version="0.1.0", voices=voices)],
                intent=[IntentProgram(name="storefront-voice-intent", attribution=credit, installed=True,
                                      description="hassil templates", version="0.1.0", models=intents)])


def _samples(chunks: list[bytes], rate: int, width: int, channels: int) -> np.ndarray:
    dtype = {1: np.uint8, 2: "<i2", 4: "<i4"}.get(width)
    if dtype is None:
        raise VoiceError(f"sample width {width} is not supported", "bad_wav", 400)
    if not MIN_RATE <= rate <= MAX_RATE:
        raise VoiceError(f"sample rate {rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz", "bad_sample_rate", 400)
    if not 1 <= channels <= MAX_CHANNELS:
        raise VoiceError(f"{channels} channels; at most {MAX_CHANNELS}", "bad_channels", 400)
    raw = np.frombuffer(b"".join(chunks), dtype=dtype)
    scale = 128.0 if width == 1 else float(2 ** (8 * width - 1))
    samples = (raw.astype(np.float32) - (128.0 if width == 1 else 0.0)) / scale
    samples = samples[: len(samples) // channels * channels].reshape(-1, channels).mean(axis=1)
    return resample(samples, rate)


class Handler:
    """One Wyoming connection: keeps the audio of a ``transcribe`` until ``audio-stop``."""

    def __init__(self, node, reader, writer):
        from wyoming.server import AsyncEventHandler

        self.node, self.session = node, uuid.uuid4().hex
        self.language, self.chunks, self.format = "en", [], (16000, 2, 1)
        self.received = 0  # bytes of the current recording, kept or not: it is refused at audio-stop when too long
        outer = self

        class _Handler(AsyncEventHandler):
            async def handle_event(self, event):
                return await outer.handle(self, event)

        self.inner = _Handler(reader, writer)

    async def handle(self, conn, event) -> bool:
        from wyoming.error import Error

        try:
            await self._dispatch(conn, event)
        except VoiceError as exc:
            await conn.write_event(Error(text=str(exc), code=exc.code).event())
        return True

    async def _dispatch(self, conn, event) -> None:
        from wyoming.asr import Transcribe
        from wyoming.audio import AudioChunk, AudioStart, AudioStop
        from wyoming.info import Describe
        from wyoming.intent import Recognize
        from wyoming.tts import Synthesize

        if Describe.is_type(event.type):
            await conn.write_event(describe(self.node).event())
        elif Transcribe.is_type(event.type):
            transcribe = Transcribe.from_event(event)
            self.language = self.node.slot("voice").pipeline.check_language(transcribe.language or "en")
            self.chunks, self.received = [], 0
        elif AudioStart.is_type(event.type):
            start = AudioStart.from_event(event)
            self.format, self.chunks, self.received = (start.rate, start.width, start.channels), [], 0
        elif AudioChunk.is_type(event.type):
            audio = AudioChunk.from_event(event).audio
            self.received += len(audio)
            if self.received <= self._byte_limit():  # a client that never stops sending is not kept in memory
                self.chunks.append(audio)
        elif AudioStop.is_type(event.type):
            await conn.write_event(await asyncio.to_thread(self._transcript))
        elif Synthesize.is_type(event.type):
            for out in await asyncio.to_thread(self._speech, Synthesize.from_event(event)):
                await conn.write_event(out)
        elif Recognize.is_type(event.type):
            await conn.write_event(await asyncio.to_thread(self._intent, Recognize.from_event(event).text))

    def _byte_limit(self) -> float:
        rate, width, channels = self.format
        bounded = min(max(rate, 1), MAX_RATE) * min(max(width, 1), 4) * min(max(channels, 1), MAX_CHANNELS)
        return self.node.plugin_config("voice").max_seconds * bounded

    def _transcript(self):
        from wyoming.asr import Transcript as WyomingTranscript

        from . import service
        from .audio import check_not_silent

        chunks, received, self.chunks, self.received = self.chunks, self.received, [], 0
        config = self.node.plugin_config("voice")
        if received > self._byte_limit():
            raise VoiceError(f"the recording is longer than {config.max_seconds:g} s", "too_long", 413)
        samples = _samples(chunks, *self.format)
        if len(samples) / 16000 > config.max_seconds:
            raise VoiceError(f"the recording is longer than {config.max_seconds:g} s", "too_long", 413)
        check_not_silent(samples)
        transcript, _ = service.transcribe(self.node, samples, self.language, Timings())
        return WyomingTranscript(text="" if transcript.rejected else transcript.text, language=self.language).event()

    def _speech(self, request) -> list:
        import io
        import wave

        from wyoming.audio import AudioChunk, AudioStart, AudioStop

        from . import service

        language = (request.voice.language if request.voice and request.voice.language else None) or "en"
        language = self.node.slot("voice").pipeline.check_language(language.split("-")[0].split("_")[0])
        service.check_text(self.node.plugin_config("voice"), request.text)
        with wave.open(io.BytesIO(self.node.slot("voice").speaker.synthesize(request.text, language))) as wav:
            rate, width, channels, pcm = wav.getframerate(), wav.getsampwidth(), wav.getnchannels(), wav.readframes(wav.getnframes())
        step = CHUNK_SAMPLES * width * channels
        chunks = [AudioChunk(rate=rate, width=width, channels=channels, audio=pcm[i:i + step]).event()
                  for i in range(0, len(pcm), step)]
        return [AudioStart(rate=rate, width=width, channels=channels).event(), *chunks, AudioStop().event()]

    def _intent(self, text: str):
        from wyoming.intent import Entity, Intent, NotRecognized

        from . import service

        service.check_text(self.node.plugin_config("voice"), text)
        turn = service.respond(self.node, self.session, Transcript(text, self.language, 1.0, "text"), Timings())
        service.finish(self.node, turn, Timings(), speak=False)
        if turn["intent"] is None and not turn["escalated"]:
            return NotRecognized(text=turn["answer"]).event()
        entities = [Entity(name=k, value=v) for k, v in turn["slots"].items()]
        return Intent(name=turn["intent"] or "HumanAgent", entities=entities, text=turn["answer"]).event()


async def start_server(node, host: str, port: int):
    """A started Wyoming TCP server (``await server.stop()`` to end it)."""
    from wyoming.server import AsyncTcpServer

    server = AsyncTcpServer(host, port)
    await server.start(lambda reader, writer: Handler(node, reader, writer).inner)
    return server


def serve(node, host: str, port: int) -> None:
    """Serve until interrupted."""
    from wyoming.server import AsyncTcpServer

    async def run():
        server = AsyncTcpServer(host, port)
        await server.run(lambda reader, writer: Handler(node, reader, writer).inner)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
