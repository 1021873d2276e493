"""The node image: its size and what a build costs with buildah on the debootstrap base (README, "Container image").

Figures, from a clean clone of the committed sources (one run each: a build takes minutes):
``first_build_s`` the build this run needed to have the clone's image (0-ish when the image test's image
already matched the hash); ``reuse_s`` the same command again (content hash matches, nothing built);
``rebuild_after_source_change_s`` one changed line in ``edge/``: the apt layer comes from buildah's
layer cache, pip installs again from its cache mount; ``node_image_mb`` and ``base_image_mb`` as
buildah counts them. A cold build (no base, no caches) is measured by hand (figures below the table).
Without buildah or root it reports why and measures nothing. Run: ``python -m benchmarks image``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TAG = "localhost/storefront-edge-bench:latest"


def _build(context: Path) -> tuple[float, str]:
    """Run the build script on ``context``; return (seconds, image name)."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(context / "scripts" / "image_build.py"), "--builder", "buildah",
                           "--context", str(context), "--tag", TAG], capture_output=True, text=True, check=True)
    return round(time.monotonic() - started, 1), done.stdout.strip().splitlines()[-1]


def _size_mb(image: str) -> float:
    """The image's size in MB, parsed from ``buildah images --json`` (e.g. "760 MB")."""
    listed = json.loads(subprocess.run(["buildah", "images", "--json", image], capture_output=True, text=True,
                                       check=True).stdout)
    number, unit = listed[0]["size"].split()
    return float(number) * {"kB": 1e-3, "MB": 1.0, "GB": 1e3}[unit]


def main() -> dict:
    """Build from a clean clone, again, and after a one-line change; return the figures."""
    if shutil.which("buildah") is None or os.geteuid() != 0:
        return {"skipped": "needs buildah (make apt-image) and root"}
    with tempfile.TemporaryDirectory() as folder:
        clone = Path(folder) / "clone"
        subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True)
        first, image = _build(clone)
        reuse, _ = _build(clone)
        size = _size_mb(image)
        with open(clone / "edge" / "__init__.py", "a") as source:
            source.write("# a changed line\n")
        rebuild, changed = _build(clone)
        for name in {image, changed, TAG}:
            subprocess.run(["buildah", "rmi", name], capture_output=True)
    return {"first_build_s": first, "reuse_s": reuse, "rebuild_after_source_change_s": rebuild,
            "node_image_mb": size, "base_image_mb": _size_mb("localhost/storefront-edge-base:bookworm")}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
