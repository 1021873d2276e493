"""Configuration: defaults, then an instance config file, then ``STOREFRONT_EDGE_*`` variables, then overrides.

The instance config file is ``<data dir>/config.toml`` (or the path in ``STOREFRONT_EDGE_CONFIG_FILE``).
Environment values are parsed as JSON where they are JSON (``STOREFRONT_EDGE_MAX_CONTENT_LENGTH=1000``),
else kept as strings; nested keys use ``__`` (``STOREFRONT_EDGE_PLUGIN_CONFIG__visual_search__k=5``).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

ENV_PREFIX = "STOREFRONT_EDGE"

DEFAULTS = {
    "DATA_DIR": "./var",
    "CLIENT_KEY": None,
    "ADMIN_KEY": None,
    "MAX_CONTENT_LENGTH": 10 * 1024 * 1024,
    "PLUGINS": None,  # None: every installed plugin; else a list of names
    "PLUGIN_CONFIG": {},
    "TRACE_HOOKS": False,
    "BUNDLE_POLL_INTERVAL": 0.2,
    "MODEL_THREADS": 1,  # threads per model run (while other requests are in progress, if MODEL_THREADS_IDLE is on)
    "MODEL_THREADS_IDLE": 1,  # threads for a model run while its request is alone ("auto": every core, at most 4);
                              # off by default: on a 2-core node shared with other machines its gain comes
                              # and goes (measured side by side in `make bench`, visual search)
    "MAX_BUNDLE_BYTES": 1024 * 1024 * 1024,
    "MAX_BUNDLE_MEMBERS": 10_000,
    "KEEP_BUNDLES": 3,
    "HUB_URL": None,
    "HUB_TOKEN": None,  # "<node>.<secret>" from `hub register-node`; or <data dir>/keys/hub.token. Never logged.
    "SYNC_INTERVAL": 30,  # seconds between sync rounds (backoff with jitter after failures)
    "SYNC_BATCH": 5000,  # changes per pushed delta
    "SYNC_WORKER": True,  # run the elected background sync loop in this process group
    "LOOPBACK_ONLY_WITHOUT_KEYS": True,
}


def _data_dir(overrides: dict) -> Path:
    value = overrides.get("DATA_DIR") or os.environ.get(f"{ENV_PREFIX}_DATA_DIR") or DEFAULTS["DATA_DIR"]
    return Path(value).resolve()


def _instance_file(data_dir: Path) -> Path:
    explicit = os.environ.get(f"{ENV_PREFIX}_CONFIG_FILE")
    return Path(explicit) if explicit else data_dir / "config.toml"


def _normalise(config) -> None:
    plugins = config.get("PLUGINS")
    if isinstance(plugins, str):
        config["PLUGINS"] = [p.strip() for p in plugins.split(",") if p.strip()]
    trace = config.get("TRACE_HOOKS")
    if isinstance(trace, str):
        config["TRACE_HOOKS"] = trace.lower() in {"1", "true", "yes", "on"}
    for key in ("CLIENT_KEY", "ADMIN_KEY", "HUB_TOKEN"):
        if config.get(key) is not None:
            config[key] = str(config[key]) or None
    config["DATA_DIR"] = str(Path(config["DATA_DIR"]).resolve())


def load_config(app, overrides: dict | None = None) -> None:
    """Fill ``app.config`` in the documented order of precedence."""
    overrides = dict(overrides or {})
    app.config.from_mapping(DEFAULTS)
    data_dir = _data_dir(overrides)
    app.config["DATA_DIR"] = str(data_dir)
    instance = _instance_file(data_dir)
    if instance.is_file():
        with instance.open("rb") as handle:
            app.config.from_mapping({k.upper(): v for k, v in tomllib.load(handle).items()})
    app.config.from_prefixed_env(ENV_PREFIX)
    app.config.update(overrides)
    _normalise(app.config)
