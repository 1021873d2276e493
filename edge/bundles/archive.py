"""Bundle archives (``.tar.gz``): packing, and extraction that refuses anything unsafe.

Refused members: absolute paths, ``..``, links, devices, FIFOs; and archives whose members add up
to more than ``max_bytes`` or number more than ``max_members`` (size and decompression bombs).
Bytes are counted while they are written, so a lying header cannot push past the limit.
"""

from __future__ import annotations

import gzip
import shutil
import tarfile
import zlib
from pathlib import Path

from .errors import BundleError
from .manifest import safe_relative

CHUNK = 1 << 20


def pack(directory: Path, archive: Path) -> Path:
    """Write the regular files of ``directory`` into a ``.tar.gz`` at ``archive``."""
    directory, archive = Path(directory), Path(archive)
    tmp = archive.with_name(archive.name + ".partial")
    with tarfile.open(tmp, "w:gz") as tar:
        for path in sorted(p for p in directory.rglob("*") if p.is_file() and not p.is_symlink()):
            tar.add(path, arcname=path.relative_to(directory).as_posix(), recursive=False)
    tmp.replace(archive)
    return archive


def _check_member(member: tarfile.TarInfo) -> None:
    safe_relative(member.name.rstrip("/"))
    if not (member.isfile() or member.isdir()):
        kind = "link" if (member.issym() or member.islnk()) else "special file"
        raise BundleError(f"archive member '{member.name}' is a {kind}; bundles hold regular files only", "unsafe_member")


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
    budget, members = max_bytes, 0
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                members += 1
                if members > max_members:
                    raise BundleError(f"archive has more than {max_members} members", "too_many_members", 413)
                _check_member(member)
                destination = target / member.name
                if member.isdir():
                    destination.mkdir(parents=True, exist_ok=True)
                    continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                budget -= _copy_limited(tar.extractfile(member), destination, budget)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise BundleError(f"archive is truncated or not a .tar.gz: {exc}", "bad_archive", 400) from None


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
