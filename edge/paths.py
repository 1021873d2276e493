"""Where things live: the data folder layout and the project's shipped ``models_lite/`` folder."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def models_lite_dir() -> Path:
    """The shipped default bundles and demo catalog (``STOREFRONT_EDGE_MODELS_DIR`` overrides)."""
    return Path(os.environ.get("STOREFRONT_EDGE_MODELS_DIR") or PROJECT_ROOT / "models_lite")


def data_dir(value: str | None = None) -> Path:
    """The node's data folder: ``value``, else ``STOREFRONT_EDGE_DATA_DIR``, else ``./var``."""
    return Path(value or os.environ.get("STOREFRONT_EDGE_DATA_DIR") or "./var").resolve()


def keys_dir(data: Path) -> Path:
    return data / "keys"


def trusted_dir(data: Path) -> Path:
    return data / "keys" / "trusted"
