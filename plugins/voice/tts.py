"""Text to speech: pyttsx3 with its espeak-ng driver, wrapped against its faults on Linux.

Measured faults of pyttsx3 2.99 (see the project's PITFALLS): ``runAndWait()`` can return before
``save_to_file`` has written the WAV; only the last of several queued files is written; the save path
sticks and a later ``say()`` overwrites it; every save prints "Audio saved to ...". So each call here
synthesises exactly one utterance into a fresh file, under one lock per process, waits for the
``finished-utterance`` event, then waits until the WAV header's frame count matches the bytes on disk;
``say()`` is never used. Answers are cached (LRU) by (voice, rate, text).

Mandarin uses espeak-ng's ``cmn-latn-pinyin`` voice (``cmn`` reads pinyin tone digits as English numbers).
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import tempfile
import threading
import time
import wave

from .stages import VoiceError

VOICES = {"en": "gmw/en-us", "zh": "sit/cmn-latn-pinyin"}
WAIT_SECONDS = 10.0


def complete_wav(path: str) -> bytes | None:
    """The file's bytes once it is a whole WAV (header frames = data written, at least one frame), else ``None``."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        with wave.open(io.BytesIO(data)) as wav:
            frames, width = wav.getnframes(), wav.getsampwidth() * wav.getnchannels()
            complete = frames > 0 and len(wav.readframes(frames)) == frames * width
    except (OSError, EOFError, wave.Error):
        return None
    return data if complete else None


class Speaker:
    """One pyttsx3 engine for the process, one utterance at a time, with a cache of recent answers."""

    _lock = threading.Lock()
    _engine = None

    def __init__(self, cache_size: int = 128, rate: int = 175):
        self.cache_size, self.rate = cache_size, rate
        self._cache: collections.OrderedDict = collections.OrderedDict()
        self._cache_lock = threading.Lock()
        self.hits = self.misses = 0

    def synthesize(self, text: str, language: str = "en", rate: int | None = None) -> bytes:
        """WAV bytes (22,050 Hz mono 16-bit) of ``text`` spoken in ``language``; 503 ``tts_failed`` if espeak fails."""
        key = (VOICES.get(language, VOICES["en"]), rate or self.rate, text)
        with self._cache_lock:
            if key in self._cache:
                self.hits += 1
                self._cache.move_to_end(key)
                return self._cache[key]
        self.misses += 1
        audio = self._speak(*key)
        with self._cache_lock:
            self._cache[key] = audio
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return audio

    @classmethod
    def _get_engine(cls):
        if cls._engine is None:
            import pyttsx3

            try:
                cls._engine = pyttsx3.init("espeak")
            except (RuntimeError, OSError, ImportError) as exc:
                raise VoiceError(f"text to speech is not available: {exc}", "tts_unavailable", 503) from None
        return cls._engine

    def _speak(self, voice: str, rate: int, text: str) -> bytes:
        with self._lock:
            engine = self._get_engine()
            finished = threading.Event()
            token = engine.connect("finished-utterance", lambda name, completed: finished.set())
            handle, path = tempfile.mkstemp(suffix=".wav", prefix="tts-")
            os.close(handle)
            os.unlink(path)  # a fresh name that does not exist yet: an old file is never mistaken for the new one
            try:
                engine.setProperty("voice", voice)
                engine.setProperty("rate", rate)
                with contextlib.redirect_stdout(io.StringIO()):
                    engine.save_to_file(text, path)
                    engine.runAndWait()
                return self._wait_for(path, finished)
            finally:
                engine.disconnect(token)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)

    @staticmethod
    def _wait_for(path: str, finished: threading.Event) -> bytes:
        deadline = time.monotonic() + WAIT_SECONDS
        finished.wait(WAIT_SECONDS)
        while time.monotonic() < deadline:
            data = complete_wav(path)
            if data is not None:
                return data
            time.sleep(0.005)
        raise VoiceError("text to speech produced no complete audio in time", "tts_failed", 503)
