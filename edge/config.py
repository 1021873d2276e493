"""Configuration of the node and of the hub: one loader, by prefix.

Order of precedence (later wins): the defaults, then the instance file, then ``<PREFIX>_*`` environment
variables, then explicit overrides (the CLI's options, a test's dict). The node's prefix is
``STOREFRONT_EDGE``, the hub's ``STOREFRONT_EDGE_HUB``. The instance file is ``<data dir>/config.toml``
(or the path in ``<PREFIX>_CONFIG_FILE``); the data folder comes from the overrides, else
``<PREFIX>_DATA_DIR``, else the default.

Environment values are read by the type of their default, never as JSON: a setting whose default is a
number is parsed as a number (``STOREFRONT_EDGE_MAX_CONTENT_LENGTH=1000``; a value that is no number
stays a string for the setting to refuse or interpret, e.g. ``MODEL_THREADS_IDLE=auto``); a flag as
``1/true/yes/on`` or ``0/false/no/off``; every other setting, keys and tokens above all, is taken byte
for byte (``CLIENT_KEY=1.50`` is the key ``1.50``, ``ADMIN_KEY=true`` the key ``true``). ``PLUGINS`` and
``EXTRA_PLUGINS`` are comma-separated lists (a JSON array of strings is read too). Nested keys use ``__``
(``STOREFRONT_EDGE_PLUGIN_CONFIG__visual_search__default_k=5``); their values stay strings, which each
plugin's pydantic config converts and checks.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

ENV_PREFIX = "STOREFRONT_EDGE"
HUB_ENV_PREFIX = f"{ENV_PREFIX}_HUB"

DEFAULTS = {
    "DATA_DIR": "./var",
    "CLIENT_KEY": None,
    "ADMIN_KEY": None,
    "MAX_CONTENT_LENGTH": 10 * 1024 * 1024,
    "MAX_JSON_BYTES": 1024 * 1024,  # any JSON body (413 beyond it)
    "MAX_JSON_DEPTH": 32,  # nesting of arrays and objects in any JSON body (400 beyond it)
    "HEADER_TIMEOUT": 10.0,  # seconds for a request line and headers to arrive, from their first byte
    "BODY_TIMEOUT": 10.0,  # seconds for a body to arrive, plus Content-Length / MIN_BODY_RATE
    "MIN_BODY_RATE": 256 * 1024,  # bytes per second a large body (a bundle upload) must at least keep
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
    "STORES": "default",  # the stores this node serves (CDN edge mode: several; see edge/stores.py)
    "STORE_KEYS": {},  # {store: client key}: STOREFRONT_EDGE_STORE_KEYS__<store>=<key>. Never logged.
    "CATALOG_MAX_AGE": 60,  # seconds a shared cache may keep a catalog page or item (then revalidates)
    "STALE_IF_ERROR": 86400,  # seconds a shared cache may keep serving an expired cacheable answer while the node is down
}
SECRETS = ("CLIENT_KEY", "ADMIN_KEY", "HUB_TOKEN")
LISTS = ("PLUGINS", "EXTRA_PLUGINS")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def _flag(name: str, text: str) -> bool:
    if text.strip().lower() in _TRUE | _FALSE:
        return text.strip().lower() in _TRUE
    raise ValueError(f"{name} must be one of 1/true/yes/on or 0/false/no/off, not {text!r}")


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def typed(name: str, text: str, default):
    """An environment value as its setting's type (see the module docstring); strings stay as written."""
    if isinstance(default, bool):
        return _flag(name, text)
    if isinstance(default, (int, float)) and name not in SECRETS:
        return _number(text)
    return text


def _from_environment(prefix: str, defaults: dict, environ) -> dict:
    found: dict = {}
    for variable in sorted(environ):
        if not variable.startswith(f"{prefix}_"):
            continue
        name, *nested = variable[len(prefix) + 1:].split("__")
        if not nested:
            found[name] = typed(name, environ[variable], defaults.get(name))
            continue
        target = found.setdefault(name, dict(defaults.get(name) or {}))
        for part in nested[:-1]:
            target = target.setdefault(part, {})
        target[nested[-1]] = environ[variable]
    return found


def _instance_file(prefix: str, data_dir: Path, environ) -> Path:
    explicit = environ.get(f"{prefix}_CONFIG_FILE")
    return Path(explicit) if explicit else data_dir / "config.toml"


def _names(key: str, text: str) -> list[str]:
    """A list setting: ``a,b`` (or a JSON array of strings, ``["a", "b"]``)."""
    if text.strip().startswith("["):
        names = json.loads(text)
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{key} must be names separated by commas or a JSON array of strings")
        return names
    return [p.strip() for p in text.split(",") if p.strip()]


def normalise(config) -> None:
    """Lists from comma-separated strings, secrets as strings (or ``None`` when empty), an absolute data folder."""
    for key in LISTS:
        if isinstance(config.get(key), str):
            config[key] = _names(key, config[key])
    if isinstance(config.get("TRACE_HOOKS"), str):
        config["TRACE_HOOKS"] = _flag("TRACE_HOOKS", config["TRACE_HOOKS"])
    for key in SECRETS:
        if config.get(key) is not None:
            config[key] = str(config[key]) or None
    config["DATA_DIR"] = str(Path(config["DATA_DIR"]).resolve())
    if "STORES" in config:
        from .stores import parse_store_keys, parse_stores

        config["STORES"] = parse_stores(config["STORES"])
        config["STORE_KEYS"] = parse_store_keys(config.get("STORE_KEYS"), config["STORES"])


def load_settings(prefix: str, defaults: dict, overrides: dict | None = None, environ=None) -> dict:
    """The settings for ``prefix`` in the documented order of precedence, normalised.

    :param prefix: ``ENV_PREFIX`` for a node, ``HUB_ENV_PREFIX`` for a hub.
    :param defaults: every setting's default (its type decides how an environment value is read).
    :param overrides: explicit values that win over everything else.
    """
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    settings = dict(defaults)
    data_dir = Path(overrides.get("DATA_DIR") or environ.get(f"{prefix}_DATA_DIR") or defaults["DATA_DIR"]).resolve()
    settings["DATA_DIR"] = str(data_dir)
    instance = _instance_file(prefix, data_dir, environ)
    if instance.is_file():
        with instance.open("rb") as handle:
            settings.update({k.upper(): v for k, v in tomllib.load(handle).items()})
    settings.update(_from_environment(prefix, defaults, environ))
    settings.update(overrides)
    normalise(settings)
    return settings


def load_config(app, overrides: dict | None = None) -> None:
    """Fill a node app's ``app.config`` (see :func:`load_settings`)."""
    app.config.update(load_settings(ENV_PREFIX, DEFAULTS, overrides))
