"""Voice plugin hooks: tables, routes, commands, demo knowledge, and the per-node pipeline in its slot.

The plugin needs the catalog (product names for the templates and the grammar, stock for answers).
Templates, grammar settings and the pinned weight digests come from the active ``storefront-voice``
bundle when there is one (``voice`` section of its signed ``bundle.json``), else the plugin's own
templates; without a voice bundle the Whisper path answers 503 ``no_voice_bundle``.
"""

from __future__ import annotations

import json
from pathlib import Path

from edge.api import HealthReport, PluginInfo, SyncedTable, hookimpl, write_transaction

from . import routes, schema
from .config import VoiceConfig

PLUGIN_NAME = "voice"
BUNDLE_NAME = "storefront-voice"
DEMO = Path(__file__).parent / "demo" / "knowledge.json"


@hookimpl
def plugin_info():
    return PluginInfo(name="voice", version="0.1.0", description="Voice customer service: speech or text in, "
                      "answers from the store's data, speech out, hand-off to a person", config=VoiceConfig,
                      requires=("catalog",))


@hookimpl
def migrations():
    return schema.migrations


@hookimpl
def synced_tables():
    owned = [SyncedTable(name, direction="hub_to_edge", policy="hub_owned", store_column="store", store_key=own)
             for name, own in schema.OWN_KEYS.items()]
    return owned + [SyncedTable(name, direction="edge_to_hub", policy="append_only", store_column="store")
                    for name in schema.EDGE_TO_HUB]


def voice_bundle(node):
    """The active ``storefront-voice`` bundle and its ``voice`` spec, or ``(None, {})``."""
    bundle = node.bundles.get(BUNDLE_NAME)
    if bundle is None:
        return None, {}
    spec = json.loads((bundle.directory / "bundle.json").read_text(encoding="utf-8"))
    return bundle, spec.get("voice", {})


@hookimpl
def startup(node):
    from .encoder import EncoderSource
    from .pipeline import VoicePipeline
    from .speech import SpeechRouter
    from .tts import Speaker

    config = node.plugin_config(PLUGIN_NAME)
    slot = node.slot(PLUGIN_NAME)
    slot.pipeline = VoicePipeline(config, encoder_source=EncoderSource(node))
    slot.speaker = Speaker(config.tts_cache)
    slot.router = SpeechRouter(config, lambda name: _weights(node, name))


def _weights(node, name: str):
    from .stages import VoiceError
    from .weights import resolve_model

    bundle, spec = voice_bundle(node)
    if bundle is None:
        raise VoiceError(f"no active {BUNDLE_NAME} bundle: the '{name}' weights are pinned there", "no_voice_bundle", 503)
    if name == "vosk":
        return _vosk_folder(bundle, spec)
    weights = {w["name"]: w for w in spec.get("weights", [])}
    if name not in weights:
        raise VoiceError(f"the {BUNDLE_NAME} bundle lists no '{name}' weights", "weights_missing", 503)
    return resolve_model(weights[name], Path(node.config["DATA_DIR"]) / "voice-weights")


def _vosk_folder(bundle, spec: dict):
    """The Vosk model folder inside the voice bundle (verified with it) and its language."""
    from .stages import VoiceError

    vosk = spec.get("vosk") or {}
    folder = (bundle.directory / vosk.get("folder", "")).resolve()
    if not vosk.get("folder") or not folder.is_relative_to(bundle.directory.resolve()) or not folder.is_dir():
        raise VoiceError(f"the {BUNDLE_NAME} bundle {bundle.version} has no Vosk model folder", "weights_missing", 503)
    return folder, vosk.get("language", "en")


@hookimpl
def blueprint(node):
    return routes.make_blueprint()


@hookimpl
def load_demo(node, models_dir):
    data = json.loads(DEMO.read_text(encoding="utf-8"))
    db, stores = node.db(), node.config["STORES"]
    with write_transaction(db):
        for table, rows in data.items():
            own = schema.OWN_KEYS[table]
            db[table].upsert_all(({**{k: v for k, v in row.items() if k != "id"}, "id": f"{store}/{row['id']}",
                                   "store": store, own: row["id"]} for store in stores for row in rows), pk="id")
    count = sum(len(rows) for rows in data.values())
    return f"voice: {count} knowledge rows (facts, FAQ, orders)" + (f" in each of {len(stores)} stores" if len(stores) > 1 else "")


@hookimpl
def cli_commands():
    from .commands import hub_group, voice_group

    return [voice_group, hub_group]


@hookimpl
def health(node):
    bundle, _ = voice_bundle(node)
    return HealthReport(ready=True, detail="", data={"voice_bundle": bundle.version if bundle else None})
