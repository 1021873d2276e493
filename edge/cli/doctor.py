"""``storefront-edge doctor``: what is installed and ready — runtimes, models, libraries, store, plugins."""

from __future__ import annotations

import importlib
import shutil
import sys

import click

from .common import app_overrides

# (import name, what needs it, required for a node)
LIBRARIES = (
    ("onnxruntime", "ONNX models", True),
    ("ai_edge_litert", "TFLite models (LiteRT)", False),
    ("annoy", "visual search index", False),
    ("cv2", "image decoding", False),
    ("pocketsphinx", "speech recognition", False),
    ("vosk", "speech recognition (grammar)", False),
    ("pyttsx3", "speech synthesis", False),
    ("torch", "converters", False),
)


def _version(name: str) -> str | None:
    try:
        module = importlib.import_module(name)
    except Exception:  # an optional library may fail in any way on import
        return None
    return getattr(module, "__version__", "installed")


def _line(ok: bool, label: str, detail: str) -> bool:
    mark = click.style("ok  ", fg="green") if ok else click.style("MISS", fg="red")
    click.echo(f"{mark} {label:<34} {detail}")
    return ok


@click.command()
@click.pass_context
def doctor(ctx):
    """Report runtimes, system libraries, the store, every active bundle and each plugin's readiness."""
    ok = _line(sys.version_info >= (3, 11), "python", sys.version.split()[0])
    for name, purpose, required in LIBRARIES:
        version = _version(name)
        ok &= _line(version is not None, f"{name} ({purpose})", version or ("missing" if required else "missing (optional)")) or not required
    _line(shutil.which("espeak-ng") is not None, "espeak-ng (system, optional)", shutil.which("espeak-ng") or "missing")
    from ..app import create_app

    node = create_app(app_overrides(ctx), watch=False).extensions["storefront_edge"]
    report = node.readiness()
    _line(True, "store", str(node.store.path))
    for name, error in report.get("bundle_errors", {}).items():
        ok &= _line(False, f"bundle {name}", error)
    for name, bundle in report["bundles"].items():
        _line(True, f"bundle {name}", f"{bundle['version']} (models: {', '.join(bundle['models']) or 'none'})")
    if not report["bundles"]:
        ok &= _line(False, "active bundle", "none: run 'storefront-edge init'")
    for name, status in report["plugins"].items():
        ok &= _line(status["ready"], f"plugin {name}", "ready" if status["ready"] else "; ".join(status["reasons"]))
    node.close()
    if not ok:
        raise click.exceptions.Exit(1)
