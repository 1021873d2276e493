"""The bundles folder's layout, and the in-place upgrade from the single-bundle one.

Current layout (format 2): ``bundles/<name>/<version>/`` and ``state.json`` =
``{"format": 2, "bundles": {name: {"active", "history"}}}``. The single-bundle layout had
``bundles/<version>/`` and ``{"active": version, "history": [...]}``, whatever the bundles' names.

The upgrade runs under the registry's lock, is idempotent and safe to interrupt: first every
``bundles/<version>/`` folder is renamed to ``bundles/<its manifest's name>/<version>/`` (one rename each),
then ``state.json`` is rewritten, each old version placed in its own name's line. Until then a half-upgraded
folder is recognised (old state or version folders at the top) and finished on the next open.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

STATE = "state.json"
FORMAT = 2

log = logging.getLogger(__name__)


def _old_state(root: Path) -> dict | None:
    try:
        data = json.loads((root / STATE).read_text())
    except (FileNotFoundError, ValueError):
        return None
    return None if "bundles" in data else data


def _top_level_bundles(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.glob("*/manifest.json")) if root.is_dir() else []


def needs_upgrade(root: Path) -> bool:
    """Whether ``root`` (a ``bundles`` folder) still holds any part of the single-bundle layout."""
    return _old_state(root) is not None or bool(_top_level_bundles(root))


def _move_versions(root: Path) -> None:
    from .errors import BundleError
    from .manifest import read_manifest

    for folder in _top_level_bundles(root):
        try:
            name = read_manifest(folder).name
        except BundleError as exc:
            log.warning("left %s in place during the layout upgrade: %s", folder, exc)
            continue
        target = root / name / folder.name
        target.parent.mkdir(exist_ok=True)
        if target.exists():  # an interrupted upgrade copied it already
            shutil.rmtree(folder)
        else:
            folder.rename(target)


def _name_of(root: Path, version: str) -> str | None:
    names = sorted(p.parent.parent.name for p in root.glob(f"*/{version}/manifest.json"))
    return names[0] if names else None


def convert_state(root: Path, old: dict) -> dict:
    """The format-2 state for the single-bundle ``old`` state (its versions found under their names)."""
    lines: dict[str, dict] = {}
    for version in old.get("history", []):
        name = _name_of(root, version)
        if name:
            lines.setdefault(name, {"active": None, "history": []})["history"].append(version)
    active = old.get("active")
    name = _name_of(root, active) if active else None
    if name:
        lines.setdefault(name, {"active": None, "history": []})["active"] = active
        lines[name]["history"] = [v for v in lines[name]["history"] if v != active]
    return {"format": FORMAT, "bundles": dict(sorted(lines.items()))}


def upgrade(root: Path, write_json) -> None:
    """Bring ``root`` to the current layout (call with the registry's lock held)."""
    if not needs_upgrade(root):
        return
    _move_versions(root)
    old = _old_state(root)
    if old is not None:
        write_json(root / STATE, convert_state(root, old))
    log.info("bundles folder %s upgraded to one version line per bundle name", root)
