"""Build the storefront-edge image from this checkout: with Docker when a daemon answers, else with buildah.

    python3 scripts/image_build.py [--target node|converters] [--tag TAG] [--builder auto|docker|buildah]

Without a Docker daemon the build runs under buildah (``--isolation chroot``, no daemon) on a Debian
bookworm base that ``scripts/image-base.sh`` makes once with debootstrap and keeps in buildah's storage.
The build's pip reaches the package index the way this machine's pip does: the index settings of
``pip config list`` and of the ``PIP_*`` environment go in as build arguments, and the local paths they
name (a certificate bundle, file:// indexes, find-links folders) are mounted read-only for the build only.

A buildah build is tagged with a content hash of the Dockerfile, the files its COPY lines take, the
target and the base image; when an image with that hash exists already, it is tagged again instead of
rebuilt (``--rebuild`` builds anyway). Prints the image's name on the last line of stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCAL_BASE = "localhost/storefront-edge-base:bookworm"
DEFAULT_TAGS = {"node": "localhost/storefront-edge:latest", "converters": "localhost/storefront-convert:latest"}
# The pip settings that say where packages come from (and how long to wait for them).
PIP_SETTINGS = ("index-url", "extra-index-url", "find-links", "cert", "trusted-host", "default-timeout")


def docker_answers() -> bool:
    """Whether a Docker client is installed and its daemon answers."""
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=15).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def pip_settings(python: str = sys.executable) -> dict[str, str]:
    """This machine's pip index settings, as ``PIP_*`` names: pip's configuration files, then the environment."""
    found: dict[str, str] = {}
    listed = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True)
    for line in listed.stdout.splitlines():
        key, _, value = line.partition("=")
        name = key.rpartition(".")[2]
        if name in PIP_SETTINGS:
            found[name] = value.strip().strip("'\"")
    for name in PIP_SETTINGS:
        value = os.environ.get("PIP_" + name.upper().replace("-", "_"))
        if value:
            found[name] = value
    return {"PIP_" + name.upper().replace("-", "_"): value for name, value in found.items()}


def local_paths(settings: dict[str, str]) -> list[Path]:
    """The existing local folders the pip settings name (file:// URLs and plain paths), each once, outermost."""
    folders: list[Path] = []
    for name, value in settings.items():
        for item in value.split():
            path = Path(item[len("file://"):] if item.startswith("file://") else item)
            if not path.is_absolute() or not path.exists():
                continue
            # An index's pages (<root>/simple) link to files beside them: its root goes in whole.
            folder = path.parent if name.endswith("INDEX_URL") or not path.is_dir() else path
            if folder not in folders and not any(p in folder.parents for p in folders):
                folders.append(folder)
    return folders


def copied_sources(dockerfile: Path) -> list[str]:
    """The build-context paths the Dockerfile's COPY lines take (stages' ``--from`` copies excluded)."""
    sources: list[str] = []
    for line in dockerfile.read_text().splitlines():
        words = shlex.split(line, comments=True) if line.strip().upper().startswith("COPY") else []
        if len(words) < 3 or any(w.startswith("--from") for w in words):
            continue
        sources += [w for w in words[1:-1] if not w.startswith("--")]
    return sources


def content_hash(context: Path, target: str, base_id: str) -> str:
    """A hash of what the image is made from: the Dockerfile, the tracked files it copies, target and base."""
    digest = hashlib.sha256(f"{target}\0{base_id}\0".encode())
    dockerfile = context / "Dockerfile"
    tracked = subprocess.run(["git", "ls-files", "-z", "--", *copied_sources(dockerfile)], cwd=context,
                             capture_output=True, check=True).stdout.split(b"\0")
    for name in ["Dockerfile", *sorted(n.decode() for n in tracked if n)]:
        digest.update(name.encode() + b"\0" + (context / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def buildah_image_id(name: str) -> str | None:
    """The id of the image ``name`` in buildah's storage, or None."""
    found = subprocess.run(["buildah", "inspect", "--type", "image", "--format", "{{.FromImageID}}", name],
                           capture_output=True, text=True)
    return found.stdout.strip() or None if found.returncode == 0 else None


def buildah_command(context: Path, target: str, tag: str, settings: dict[str, str]) -> list[str]:
    """The ``buildah bud`` command line: chroot isolation, Docker format (keeps HEALTHCHECK), pip settings."""
    command = ["buildah", "bud", "--isolation", "chroot", "--format", "docker", "--layers", "--force-rm",
               "--build-arg", f"BASE_IMAGE={LOCAL_BASE}", "--target", target, "-t", tag]
    for name, value in settings.items():
        command += ["--build-arg", f"{name}={value}"]
    for folder in local_paths(settings):
        command += ["-v", f"{folder}:{folder}:ro"]
    return command + [str(context)]


def docker_command(context: Path, target: str, tag: str, settings: dict[str, str]) -> list[str]:
    """The ``docker build`` command line: the pip settings that name no local path go in as build args."""
    command = ["docker", "build", "--target", target, "-t", tag]
    for name, value in settings.items():
        if not any(item.startswith("file://") or item.startswith("/") for item in value.split()):
            command += ["--build-arg", f"{name}={value}"]
    return command + [str(context)]


def drop_older_builds(current: str) -> None:
    """Untag the other ``:src-<hash>`` images of ``current``'s repository (their layers go when unused)."""
    repository = current.rpartition(":")[0]
    listed = subprocess.run(["buildah", "images", "--json"], capture_output=True, text=True)
    for image in json.loads(listed.stdout or "[]") if listed.returncode == 0 else []:
        for name in image.get("names") or []:
            if name.startswith(repository + ":src-") and name != current:
                subprocess.run(["buildah", "rmi", name], capture_output=True)


def build_with_buildah(context: Path, target: str, tag: str, rebuild: bool) -> str:
    """Build (or reuse, by content hash) the image under buildah; returns its name."""
    subprocess.run(["sh", str(context / "scripts" / "image-base.sh"), LOCAL_BASE], check=True)
    base_id = buildah_image_id(LOCAL_BASE) or ""
    hashed = f"{tag.rpartition(':')[0] or tag}:src-{content_hash(context, target, base_id)}"
    if rebuild or buildah_image_id(hashed) is None:
        subprocess.run(buildah_command(context, target, hashed, pip_settings()), check=True, stdout=sys.stderr)
        drop_older_builds(hashed)
    else:
        print(f"image {hashed} is up to date with the sources", file=sys.stderr)
    subprocess.run(["buildah", "tag", hashed, tag], check=True)
    return hashed


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, build with the builder that works here, print the image's name."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=sorted(DEFAULT_TAGS), default="node")
    parser.add_argument("--tag")
    parser.add_argument("--builder", choices=["auto", "docker", "buildah"], default="auto")
    parser.add_argument("--context", type=Path, default=ROOT)
    parser.add_argument("--rebuild", action="store_true", help="build even when the content hash matches")
    args = parser.parse_args(argv)
    tag, context = args.tag or DEFAULT_TAGS[args.target], args.context.resolve()
    builder = args.builder if args.builder != "auto" else ("docker" if docker_answers() else "buildah")
    try:
        if builder == "docker":
            subprocess.run(docker_command(context, args.target, tag, pip_settings()), check=True, stdout=sys.stderr)
            print(tag)
        else:
            if not shutil.which("buildah"):
                print("error: no Docker daemon answers and buildah is missing (apt-get install buildah debootstrap)",
                      file=sys.stderr)
                return 2
            print(build_with_buildah(context, args.target, tag, args.rebuild))
    except subprocess.CalledProcessError as failed:
        print(f"error: {shlex.join(map(str, failed.cmd))[:200]} exited {failed.returncode}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
