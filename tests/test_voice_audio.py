"""The voice plugin's audio paths: WAV in (rates, channels, formats), grammar then Whisper, TTS, bad input,
weights verified against the signed bundle, and the Wyoming server on loopback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import shutil
import wave

import numpy as np
import pytest

from tests.conftest import ADMIN_KEY, CLIENT_KEY

pytestmark = pytest.mark.slow
HEADERS = {"Authorization": f"Bearer {CLIENT_KEY}"}


@pytest.fixture(scope="module")
def voice_app(tmp_path_factory):
    """One node for the module (Whisper tiny.en loads once) with the shipped voice bundle and demo knowledge."""
    from edge.app import create_app
    from edge.paths import models_lite_dir

    from plugins.voice import plugin

    data_dir = tmp_path_factory.mktemp("voice") / "var"
    (data_dir / "keys" / "trusted").mkdir(parents=True)
    shutil.copyfile(models_lite_dir() / "keys" / "storefront-models.pub", data_dir / "keys" / "trusted" / "models.pub")
    app = create_app({"DATA_DIR": str(data_dir), "PLUGINS": ["catalog", "voice"], "CLIENT_KEY": CLIENT_KEY,
                      "ADMIN_KEY": ADMIN_KEY}, watch=False)
    node = app.extensions["storefront_edge"]
    node.registry.install(models_lite_dir() / "storefront-voice")
    node.watcher.refresh()
    node.db()["catalog_items"].insert_all([
        {"id": "default/Oatly-Oat-Milk", "sku": "Oatly-Oat-Milk", "title": "Oatly Oat Milk Oat-Milk", "price": 21.5, "currency": "SEK", "in_stock": 1},
        {"id": "default/Pineapple", "sku": "Pineapple", "title": "Pineapple", "price": 30.0, "currency": "SEK", "in_stock": 1}], pk="id")
    plugin.load_demo(node, None)
    yield app
    node.close()


@pytest.fixture(scope="module")
def speak(voice_app):
    """Speech for a sentence from the node's own TTS (22,050 Hz mono 16-bit), as float samples."""
    speaker = voice_app.extensions["storefront_edge"].slot("voice").speaker

    def make(text: str) -> np.ndarray:
        with wave.open(io.BytesIO(speaker.synthesize(text, "en"))) as wav:
            return np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.float32) / 32768

    return make


def wav_bytes(samples: np.ndarray, rate: int, channels: int = 1, fmt: str = "int16") -> bytes:
    """A WAV of ``samples`` (22,050 Hz float) resampled to ``rate`` and written as ``fmt`` with ``channels``."""
    from scipy.io import wavfile
    from scipy.signal import resample_poly

    samples = resample_poly(samples, rate, 22050).astype(np.float32) if rate != 22050 else samples
    data = np.repeat(samples[:, None], channels, axis=1) if channels > 1 else samples
    data = (data * 32767).astype(np.int16) if fmt == "int16" else data.astype(np.float32)
    buffer = io.BytesIO()
    wavfile.write(buffer, rate, data)
    return buffer.getvalue()


def post_wav(client, data: bytes, **query):
    return client.post("/v1/voice/turn", data=data, headers={**HEADERS, "Content-Type": "audio/wav"}, query_string=query)


@pytest.mark.parametrize("rate, channels, fmt", [(22050, 1, "int16"), (48000, 2, "int16"), (16000, 1, "float32"),
                                                 (44100, 1, "float32")])
def test_a_spoken_question_is_recognised_by_the_grammar_and_answered_by_it_or_by_whisper_checking_it(voice_app, speak, rate, channels, fmt):
    response = post_wav(voice_app.test_client(), wav_bytes(speak("do you have oat milk"), rate, channels, fmt))
    turn = response.get_json()
    assert response.status_code == 200, turn
    assert turn["intent"] == "ProductAvailability" and turn["slots"] == {"product": "Oatly-Oat-Milk"}
    grammar = turn["asr_tried"][0]  # answers alone when sure, else Whisper checks it (grammar_mean_floor)
    assert grammar["engine"] == "pocketsphinx-grammar" and grammar["text"] == "do you have oat milk"
    assert (turn["engine"] == "pocketsphinx-grammar") == (not grammar["rejected"])
    assert turn["audio"]["sample_rate"] == rate
    assert {"audio", "asr_grammar", "intent", "answer", "tts", "total"} <= set(turn["timings"])
    with wave.open(io.BytesIO(base64.b64decode(turn["audio_wav_base64"]))) as answer:
        assert answer.getnframes() > answer.getframerate() // 2


def test_speech_outside_the_grammar_falls_back_to_whisper(voice_app, speak):
    turn = post_wav(voice_app.test_client(), wav_bytes(speak("can I pay by card"), 16000), speak="false").get_json()
    assert turn["engine"] == "faster-whisper-tiny.en", turn
    assert turn["asr_tried"][0]["engine"] == "pocketsphinx-grammar" and turn["asr_tried"][0]["rejected"]
    assert "card" in turn["transcript"].lower() and turn["intent"] == "FAQ"
    assert "audio_wav_base64" not in turn


def test_the_spoken_answer_round_trips_through_speech_to_text(voice_app):
    client = voice_app.test_client()
    audio = client.post("/v1/voice/tts", json={"text": "where is my order four seven one one"}, headers=HEADERS)
    assert audio.status_code == 200 and audio.mimetype == "audio/wav"
    turn = post_wav(client, audio.data, speak="false").get_json()
    assert turn["intent"] == "OrderStatus" and turn["slots"] == {"order_id": "4711"}


def test_chinese_speech_is_spoken_with_the_pinyin_voice(voice_app):
    audio = voice_app.test_client().post("/v1/voice/tts", json={"text": "订单已发货", "language": "zh"}, headers=HEADERS)
    assert audio.status_code == 200
    with wave.open(io.BytesIO(audio.data)) as wav:
        assert wav.getnframes() > wav.getframerate() // 2


def _wav_header_only() -> bytes:
    return wav_bytes(np.zeros(1600, np.float32), 16000)[:30]


@pytest.mark.parametrize("data, content_type, status, code", [
    (b"\x89PNG\r\n\x1a\n" + b"0" * 100, "audio/wav", 415, "not_audio"),
    (None, "audio/wav", 400, "bad_wav"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt ", "audio/wav", 400, "bad_wav"),
    (b"{}", "application/json", 415, "unsupported_media_type"),
])
def test_bad_audio_is_a_json_error(voice_app, data, content_type, status, code):
    client = voice_app.test_client()
    response = client.post("/v1/voice/turn", data=_wav_header_only() if data is None else data,
                           headers={**HEADERS, "Content-Type": content_type})
    assert response.status_code == status and response.get_json()["error"]["code"] == code, response.get_json()
    assert client.post("/v1/voice/text", json={"text": "is there parking"}, headers=HEADERS).status_code == 200


def _bad_rate_wav(rate: int, channels: int = 1) -> bytes:
    data = bytearray(wav_bytes(np.zeros(1600, np.float32), 16000, channels))
    data[24:28] = rate.to_bytes(4, "little")
    data[28:32] = (rate * 2 * channels).to_bytes(4, "little")
    return bytes(data)


@pytest.mark.parametrize("make, status, code", [
    (lambda: _bad_rate_wav(1_000_000), 400, "bad_sample_rate"),
    (lambda: wav_bytes(np.zeros(16000, np.float32), 16000), 422, "silence"),
    (lambda: wav_bytes(np.zeros(22050 * 31, np.float32) + 0.1, 22050), 413, "too_long"),
    (lambda: wav_bytes(np.zeros(0, np.float32), 16000), 400, "empty_audio"),
])
def test_absurd_silent_long_or_empty_audio_is_refused(voice_app, make, status, code):
    response = post_wav(voice_app.test_client(), make())
    assert response.status_code == status and response.get_json()["error"]["code"] == code


def test_unknown_language_and_long_text_to_speech_are_refused(voice_app):
    client = voice_app.test_client()
    assert post_wav(client, b"RIFF", language="xx").get_json()["error"]["code"] == "unknown_language"
    response = client.post("/v1/voice/tts", json={"text": "a" * 501}, headers=HEADERS)
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "text_too_long"


def _fake_weights(tmp_path, monkeypatch):
    package = tmp_path / "fake_weights_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.bin").write_bytes(b"first half ")
    (package / "b.bin").write_bytes(b"second half")
    monkeypatch.syspath_prepend(str(tmp_path))
    whole = b"first half second half"
    entry = {"file": "model.bin", "size": len(whole), "sha256": hashlib.sha256(whole).hexdigest(),
             "parts": [{"package": "fake_weights_pkg", "path": "a.bin"}, {"package": "fake_weights_pkg", "path": "b.bin"}]}
    return package, {"name": "fake", "files": [entry]}


def test_weights_are_joined_verified_and_a_tampered_file_is_refused(tmp_path, monkeypatch):
    from plugins.voice.stages import VoiceError
    from plugins.voice.weights import resolve_model

    package, spec = _fake_weights(tmp_path, monkeypatch)
    folder = resolve_model(spec, tmp_path / "cache")
    assert (folder / "model.bin").read_bytes() == b"first half second half"
    (folder / "model.bin").write_bytes(b"first half SECOND half")  # same size, other bytes
    with pytest.raises(VoiceError) as refused:
        resolve_model(spec, tmp_path / "cache")
    assert refused.value.code == "weights_tampered"
    (package / "a.bin").unlink()
    (folder / "model.bin").unlink()
    with pytest.raises((VoiceError, FileNotFoundError)):
        resolve_model(spec, tmp_path / "cache")


def test_the_shipped_bundle_pins_every_weight_file_it_loads(voice_app):
    from plugins.voice.plugin import voice_bundle
    from plugins.voice.weights import package_root, sha256_file

    _, spec = voice_bundle(voice_app.extensions["storefront_edge"])
    weights = {w["name"]: w for w in spec["weights"]}
    assert set(weights) == {"whisper-tiny.en", "whisper-base"}
    assert [f["sha256"] for f in weights["whisper-base"]["files"] if f["file"] == "model.bin"] == [
        "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"]  # the joined parts, as published
    tiny = weights["whisper-tiny.en"]
    for entry in tiny["files"]:
        assert sha256_file(package_root(entry["package"]) / tiny["folder"] / entry["path"]) == entry["sha256"]


def test_wyoming_server_answers_describe_transcribe_synthesize_and_recognize(voice_app, speak):
    from wyoming.asr import Transcribe, Transcript
    from wyoming.audio import AudioChunk, AudioStart, AudioStop
    from wyoming.client import AsyncTcpClient
    from wyoming.info import Describe, Info
    from wyoming.intent import Intent, NotRecognized, Recognize
    from wyoming.tts import Synthesize

    from plugins.voice.textnorm import normalize
    from plugins.voice.wyoming_server import start_server

    node = voice_app.extensions["storefront_edge"]
    pcm = (speak("where can i find the pineapple") * 32767).astype("<i2").tobytes()

    # bounds that stop the test, never timings: the first transcript loads Whisper, on a loaded machine slowly
    READ_BOUND_S = 90

    async def session():
        server = await start_server(node, "127.0.0.1", 0)
        port = server._server.sockets[0].getsockname()[1]
        try:
            async with AsyncTcpClient("127.0.0.1", port) as client:
                await client.write_event(Describe().event())
                info = Info.from_event(await asyncio.wait_for(client.read_event(), READ_BOUND_S))
                await client.write_event(Transcribe(language="en").event())
                await client.write_event(AudioStart(rate=22050, width=2, channels=1).event())
                for i in range(0, len(pcm), 4096):
                    await client.write_event(AudioChunk(rate=22050, width=2, channels=1, audio=pcm[i:i + 4096]).event())
                await client.write_event(AudioStop().event())
                transcript = Transcript.from_event(await asyncio.wait_for(client.read_event(), 3 * READ_BOUND_S))
                await client.write_event(Synthesize(text="hello there").event())
                events = [await asyncio.wait_for(client.read_event(), READ_BOUND_S)]
                while events[-1].type != "audio-stop":
                    events.append(await asyncio.wait_for(client.read_event(), READ_BOUND_S))
                await client.write_event(Recognize(text="where is my order 4711").event())
                intent = await asyncio.wait_for(client.read_event(), READ_BOUND_S)
                await client.write_event(Recognize(text="sing me a song").event())
                not_recognized = await asyncio.wait_for(client.read_event(), READ_BOUND_S)
        finally:
            await server.stop()
        return info, transcript, events, intent, not_recognized

    info, transcript, events, intent, not_recognized = asyncio.run(session())
    assert info.asr and info.tts and info.intent
    assert normalize(transcript.text).replace("the ", "") == "where can i find pineapple"  # grammar or Whisper
    assert events[0].type == "audio-start" and sum(len(e.payload or b"") for e in events) > 10_000
    assert Intent.is_type(intent.type) and "ready for pickup" in Intent.from_event(intent).text
    assert NotRecognized.is_type(not_recognized.type)


def test_the_grammar_vouches_for_a_sentence_only_when_its_words_pass_the_phone_loop_ratio(voice_app, speak):
    from plugins.voice.asr.sphinx import SphinxGrammarEngine
    from plugins.voice.audio import resample
    from plugins.voice.service import transcribe
    from plugins.voice.stages import Timings

    node = voice_app.extensions["storefront_edge"]
    samples = resample(speak("where is my order four seven one one"), 22050)
    _, tried = transcribe(node, samples, "en", Timings())
    assert tried[0]["engine"] == "pocketsphinx-grammar"
    assert not tried[0]["rejected"] or tried[0]["reason"] in ("low_confidence", "no_sentence")
    recognizer = node.slot("voice").pipeline.recognizer(node.db(), "en")
    verdicts = {}
    for floors in ((-100.0, -100.0), (0.0, 0.0)):
        engine = SphinxGrammarEngine(*floors, (0.0, 0.0))
        engine.set_grammar(recognizer, [])
        verdicts[floors] = engine.transcribe(samples, "en")
    lenient, strict = verdicts[(-100.0, -100.0)], verdicts[(0.0, 0.0)]
    assert lenient.text == "where is my order four seven one one" and not lenient.rejected and 0.5 <= lenient.confidence <= 1
    assert strict.rejected and strict.detail["reason"] == "low_confidence" and strict.confidence == 0.0
    assert strict.detail["worst_word_ratio"] <= strict.detail["mean_ratio"] < 0
    assert not strict.detail["fallback"] and not lenient.detail["fallback"]  # (0, 0) fallback floors; accepted
    kept = SphinxGrammarEngine(0.0, 0.0, (-100.0, -100.0))
    kept.set_grammar(recognizer, [])
    fallback = kept.transcribe(samples, "en")
    assert fallback.rejected and fallback.detail["fallback"]  # rejected, yet kept for a Whisper that is unsure


def test_wyoming_audio_past_the_limit_is_not_kept_and_is_refused_and_a_bad_format_is_a_voice_error(voice_app):
    from wyoming.audio import AudioChunk, AudioStart, AudioStop

    from plugins.voice.stages import VoiceError
    from plugins.voice.wyoming_server import Handler, _samples

    node = voice_app.extensions["storefront_edge"]
    handler = Handler(node, None, None)
    seconds = node.plugin_config("voice").max_seconds
    second = bytes(2 * 16000)

    class Connection:
        async def write_event(self, event):
            raise AssertionError(f"answered {event.type} to a recording over the limit")

    async def feed():
        await handler._dispatch(Connection(), AudioStart(rate=16000, width=2, channels=1).event())
        for _ in range(int(seconds) + 5):
            await handler._dispatch(Connection(), AudioChunk(rate=16000, width=2, channels=1, audio=second).event())
        await handler._dispatch(Connection(), AudioStop().event())

    with pytest.raises(VoiceError) as refused:
        asyncio.run(feed())
    assert refused.value.code == "too_long"
    assert handler.chunks == [] and handler.received == 0
    for rate, channels, code in ((0, 1, "bad_sample_rate"), (10**12, 1, "bad_sample_rate"), (16000, 0, "bad_channels")):
        with pytest.raises(VoiceError) as bad:
            _samples([second], rate, 2, channels)
        assert bad.value.code == code


def test_a_session_id_with_a_trailing_newline_is_refused_like_any_other_bad_one(voice_app):
    client = voice_app.test_client()
    for session_id in ("kiosk-1\n", "../kiosk", "k" * 65):
        response = post_wav(client, b"", session_id=session_id)
        assert response.status_code == 400 and response.get_json()["error"]["code"] == "bad_session_id", session_id
