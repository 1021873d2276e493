"""Bundle archives (``.tar.gz``): packing, and extraction that refuses anything unsafe.

Refused members: absolute paths, ``..``, ``.`` or empty names, names longer than ``MAX_NAME`` characters
(or a part longer than ``MAX_PART``), links, devices, FIFOs, a name given twice, a file where a folder
was (``x/`` then ``x``) or a folder where a file was (``y`` then ``y/z``); and archives whose members add
up to more than ``max_bytes`` or number more than ``max_members`` (size and decompression bombs).
Bytes are counted while they are written, so a lying header cannot push past the limit. Every refusal
is a ``BundleError`` (400/413/422) whose message names the member, never a path of the server.
"""

from __future__ import annotations

import gzip
import shutil
import tarfile
import zlib
from pathlib import Path, PurePosixPath

from .errors import BundleError
from .manifest import safe_relative

CHUNK = 1 << 20
MAX_NAME, MAX_PART = 255, 100


def pack(directory: Path, archive: Path) -> Path:
    """Write the regular files of ``directory`` into a ``.tar.gz`` at ``archive``."""
    directory, archive = Path(directory), Path(archive)
    tmp = archive.with_name(archive.name + ".partial")
    with tarfile.open(tmp, "w:gz") as tar:
        for path in sorted(p for p in directory.rglob("*") if p.is_file() and not p.is_symlink()):
            tar.add(path, arcname=path.relative_to(directory).as_posix(), recursive=False)
    tmp.replace(archive)
    return archive


def _member_name(member: tarfile.TarInfo) -> str:
    """The member's normalised relative name; refuses unsafe, empty, ``.`` and over-long names."""
    raw = member.name
    shown = raw[:60] + ("..." if len(raw) > 60 else "")
    if len(raw) > MAX_NAME or any(len(part) > MAX_PART for part in raw.split("/")):
        raise BundleError(f"archive member '{shown}' has a name longer than {MAX_NAME} characters "
                          f"(or a part longer than {MAX_PART})", "unsafe_member", 400)
    name = safe_relative(raw.rstrip("/")) if raw.rstrip("/") else ""
    if name in ("", ".") or "\0" in raw:
        raise BundleError(f"archive member '{shown}' has no usable name", "unsafe_member", 400)
    if not (member.isfile() or member.isdir()):
        kind = "link" if (member.issym() or member.islnk()) else "special file"
        raise BundleError(f"archive member '{shown}' is a {kind}; bundles hold regular files only", "unsafe_member")
    return name


class _Layout:
    """What the members extracted so far made: files and folders, to refuse clashes between them."""

    def __init__(self):
        self.files: set[str] = set()
        self.dirs: set[str] = set()

    def add(self, name: str, is_dir: bool) -> None:
        parents = [p.as_posix() for p in PurePosixPath(name).parents][:-1]
        clash = next((p for p in parents if p in self.files), None)
        if clash is not None:
            raise BundleError(f"archive member '{name}' lies inside '{clash}', which is a file", "duplicate_member", 400)
        if name in self.files or (not is_dir and name in self.dirs):
            raise BundleError(f"archive member '{name}' is given twice (or as a file and a folder)", "duplicate_member", 400)
        self.dirs.update(parents)
        (self.dirs if is_dir else self.files).add(name)


def _copy_limited(source, target: Path, budget: int) -> int:
    written = 0
    with open(target, "wb") as out:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > budget:
                raise BundleError("archive expands beyond the size limit (decompression bomb?)", "too_large", 413)
            out.write(chunk)
    return written


def extract(archive: Path, target: Path, max_bytes: int, max_members: int) -> None:
    """Extract ``archive`` into the empty folder ``target``, refusing unsafe or oversized content."""
    budget, members, layout = max_bytes, 0, _Layout()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                members += 1
                if members > max_members:
                    raise BundleError(f"archive has more than {max_members} members", "too_many_members", 413)
                name = _member_name(member)
                layout.add(name, member.isdir())
                destination = target / name
                if member.isdir():
                    destination.mkdir(parents=True, exist_ok=True)
                    continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                budget -= _copy_limited(tar.extractfile(member), destination, budget)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise BundleError(f"archive is truncated or not a .tar.gz: {exc}", "bad_archive", 400) from None
    except OSError as exc:  # whatever the layout checks missed: a clear refusal, without the server's paths
        raise BundleError(f"archive cannot be extracted: {exc.strerror or type(exc).__name__}", "bad_archive", 400) from None


def copy_tree(source: Path, target: Path, max_bytes: int) -> None:
    """Copy a bundle folder into ``target``, refusing links and special files."""
    total = 0
    for path in sorted(Path(source).rglob("*")):
        relative = path.relative_to(source).as_posix()
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            raise BundleError(f"'{relative}' is a link or special file; bundles hold regular files only", "unsafe_member")
        if path.is_dir():
            (target / relative).mkdir(parents=True, exist_ok=True)
            continue
        total += path.stat().st_size
        if total > max_bytes:
            raise BundleError("bundle folder exceeds the size limit", "too_large", 413)
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / relative)
