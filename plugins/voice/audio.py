"""Audio in: a WAV of any common rate, channel count and sample format → 16 kHz mono float32.

WAV is read by scipy (PCM 8/16/24/32-bit, 32/64-bit float, WAVE_FORMAT_EXTENSIBLE); channels are averaged;
the resampler is soxr (anti-aliased: plain linear interpolation lost a third of the grammar accuracy in a
trial). Anything else is a :class:`VoiceError` with a code: ``not_audio``, ``bad_wav``, ``empty_audio``,
``bad_sample_rate``, ``bad_channels``, ``too_long``, ``silence``.
"""

from __future__ import annotations

import io

import numpy as np

from .stages import VoiceError

TARGET_RATE = 16_000
MIN_RATE, MAX_RATE = 4_000, 192_000
MAX_CHANNELS = 8
SILENCE_DBFS = -60.0


def _read(data: bytes) -> tuple[int, np.ndarray]:
    from scipy.io import wavfile

    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX") or data[8:12] != b"WAVE":
        raise VoiceError("the upload is not a WAV file (no RIFF/WAVE header)", "not_audio", 415)
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return wavfile.read(io.BytesIO(data))
    except Exception as exc:  # scipy's parser fails in many ways on hostile files (even UnboundLocalError)
        raise VoiceError(f"the WAV file cannot be read: {exc}", "bad_wav", 400) from None


def _as_float(samples: np.ndarray) -> np.ndarray:
    if samples.dtype == np.uint8:
        return (samples.astype(np.float32) - 128.0) / 128.0
    if np.issubdtype(samples.dtype, np.integer):
        return samples.astype(np.float32) / float(np.iinfo(samples.dtype).max + 1)
    samples = samples.astype(np.float32)
    if not np.all(np.isfinite(samples)):
        raise VoiceError("the WAV file holds samples that are not finite numbers", "bad_wav", 400)
    return np.clip(samples, -1.0, 1.0)


def decode_wav(data: bytes, max_seconds: float) -> tuple[np.ndarray, dict]:
    """16 kHz mono float32 samples of a WAV file, and what it was (rate, channels, format, seconds)."""
    rate, samples = _read(data)
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    if not MIN_RATE <= rate <= MAX_RATE:
        raise VoiceError(f"sample rate {rate} Hz is outside {MIN_RATE}-{MAX_RATE} Hz", "bad_sample_rate", 400,
                         {"sample_rate": rate})
    if not 1 <= channels <= MAX_CHANNELS:
        raise VoiceError(f"{channels} channels; at most {MAX_CHANNELS}", "bad_channels", 400, {"channels": channels})
    seconds = samples.shape[0] / rate
    if samples.shape[0] == 0:
        raise VoiceError("the WAV file holds no samples", "empty_audio", 400)
    if seconds > max_seconds:
        raise VoiceError(f"the recording lasts {seconds:.1f} s; the limit is {max_seconds:g} s", "too_long", 413,
                         {"seconds": round(seconds, 2), "limit": max_seconds})
    info = {"sample_rate": int(rate), "channels": int(channels), "format": str(samples.dtype), "seconds": round(seconds, 3)}
    mono = _as_float(samples)
    mono = mono.mean(axis=1) if mono.ndim == 2 else mono
    return resample(mono, rate), info


def resample(samples: np.ndarray, rate: int, target: int = TARGET_RATE) -> np.ndarray:
    """``samples`` at ``rate`` resampled to ``target`` Hz with soxr's anti-aliasing filter."""
    import soxr

    if rate == target:
        return samples.astype(np.float32)
    return soxr.resample(samples.astype(np.float32), rate, target, quality="HQ").astype(np.float32)


def dbfs(samples: np.ndarray) -> float:
    """RMS level in dB relative to full scale."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0
    return 20 * np.log10(rms) if rms > 0 else -120.0


def check_not_silent(samples: np.ndarray) -> None:
    """Refuse a recording with nothing in it (RMS under -60 dBFS)."""
    level = dbfs(samples)
    if level < SILENCE_DBFS:
        raise VoiceError("the recording is silent", "silence", 422, {"rms_dbfs": round(level, 1)})


def prosody(samples: np.ndarray, rate: int = TARGET_RATE) -> dict:
    """Loudness (RMS dBFS of the voiced frames) and median pitch (autocorrelation, 70-400 Hz) of speech."""
    frame = rate // 25
    frames = samples[: len(samples) // frame * frame].reshape(-1, frame) if len(samples) >= frame else samples[None, :]
    energy = np.sqrt(np.mean(frames ** 2, axis=1))
    voiced = frames[energy > max(energy.max() * 0.3, 1e-4)] if frames.size else frames
    pitches = [p for p in (_pitch(f, rate) for f in voiced[:200]) if p]
    return {"rms_dbfs": round(float(dbfs(voiced.ravel())) if voiced.size else -120.0, 1),
            "pitch_hz": round(float(np.median(pitches)), 1) if pitches else 0.0}


def _pitch(frame: np.ndarray, rate: int) -> float | None:
    frame = frame - frame.mean()
    corr = np.correlate(frame, frame, "full")[len(frame) - 1:]
    low, high = rate // 400, rate // 70
    if corr[0] <= 0 or high >= len(corr):
        return None
    lag = low + int(np.argmax(corr[low:high]))
    return rate / lag if corr[lag] / corr[0] > 0.5 else None


def trim_silence(samples: np.ndarray, rate: int = TARGET_RATE, floor_dbfs: float = -45.0, margin: float = 0.2) -> np.ndarray:
    """``samples`` without leading and trailing stretches quieter than ``floor_dbfs`` (keeping ``margin`` seconds)."""
    frame = rate // 50
    count = len(samples) // frame
    if count < 3:
        return samples
    energy = 20 * np.log10(np.sqrt(np.mean(samples[: count * frame].reshape(count, frame) ** 2, axis=1)) + 1e-9)
    loud = np.flatnonzero(energy > max(floor_dbfs, energy.max() - 40))
    if loud.size == 0:
        return samples
    keep = int(margin * rate)
    return samples[max(loud[0] * frame - keep, 0): min((loud[-1] + 1) * frame + keep, len(samples))]


def to_wav(samples: np.ndarray, rate: int) -> bytes:
    """16-bit mono WAV bytes of float samples."""
    import wave

    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()
