"""A catalog uploaded over HTTP: a zip holding one CSV and its images, unpacked safely, then imported.

The archive is refused (400 ``bad_archive``, nothing imported) when it is not a zip, holds more than
``MAX_MEMBERS`` entries, a name that is absolute, has ``..`` or a backslash, a link, no CSV or several
CSVs at its top, or declares more than ``MAX_UNPACKED_BYTES`` unpacked (or one entry compressed more
than ``MAX_RATIO`` times: a zip bomb). Entries are unpacked with their sizes counted as they are
written, so a header that lies about a size is caught too. The unpacked folder is then imported by
:func:`importer.import_catalog`, which checks every row and image first; its problems come back as
422 ``invalid_catalog`` with ``details.problems`` (``line``, ``error``).
"""

from __future__ import annotations

import shutil
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

MAX_MEMBERS = 20_000
MAX_UNPACKED_BYTES = 2 * 1024 ** 3
MAX_RATIO = 200
CHUNK = 1 << 20


class ArchiveRefused(ValueError):
    """The zip cannot be unpacked safely."""


def _unsafe(name: str) -> bool:
    path = PurePosixPath(name)
    return not path.parts or path.is_absolute() or ".." in path.parts or "\\" in name or ":" in path.parts[0]


def _shown(member: zipfile.ZipInfo) -> str:
    """An entry's name as an error message shows it (a zip entry's name may be 64 KiB long)."""
    return member.filename[:200]


def _checked_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise ArchiveRefused(f"the archive has {len(members)} entries, more than {MAX_MEMBERS}")
    total = 0
    for member in members:
        if _unsafe(member.filename):
            raise ArchiveRefused(f"entry '{_shown(member)}' points outside the catalog folder")
        if stat.S_ISLNK(member.external_attr >> 16):
            raise ArchiveRefused(f"entry '{_shown(member)}' is a link")
        if member.compress_size and member.file_size / member.compress_size > MAX_RATIO:
            raise ArchiveRefused(f"entry '{_shown(member)}' unpacks {member.file_size // member.compress_size} times its size (a zip bomb?)")
        total += member.file_size
    if total > MAX_UNPACKED_BYTES:
        raise ArchiveRefused(f"the archive unpacks to {total} bytes, more than {MAX_UNPACKED_BYTES}")
    return members


def _unpack(archive: zipfile.ZipFile, members, folder: Path) -> None:
    total = 0
    for member in members:
        try:
            total = _unpack_member(archive, member, folder / member.filename, total)
        except zlib.error as exc:  # corrupt compressed data
            raise ArchiveRefused(f"entry '{_shown(member)}' is corrupt: {exc}") from None
        except OSError as exc:  # a name too long, a file where the archive has a folder, ...
            raise ArchiveRefused(f"entry '{_shown(member)}' cannot be unpacked: {exc.strerror or exc}") from None


def _unpack_member(archive: zipfile.ZipFile, member, target: Path, total: int) -> int:
    """Write one entry to ``target``; return the bytes unpacked so far (``total`` included)."""
    if member.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return total
    target.parent.mkdir(parents=True, exist_ok=True)
    with archive.open(member) as source, open(target, "wb") as out:
        while chunk := source.read(CHUNK):
            total += len(chunk)
            if out.tell() + len(chunk) > member.file_size or total > MAX_UNPACKED_BYTES:
                raise ArchiveRefused(f"entry '{_shown(member)}' unpacks to more than it declares")
            out.write(chunk)
    return total


def catalog_csv(folder: Path) -> Path:
    """The one CSV at the top of the unpacked folder."""
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".csv" and p.is_file())
    if len(found) != 1:
        raise ArchiveRefused(f"the archive must hold exactly one .csv file at its top, it holds {len(found)}")
    return found[0]


def import_zip(db, zip_path: Path, media_dir: Path, work_dir: Path, store: str = "default") -> int:
    """Unpack ``zip_path`` into a temporary folder under ``work_dir`` and import its CSV into ``store``'s catalog;
    return the rows imported."""
    from .importer import import_catalog

    folder = Path(tempfile.mkdtemp(prefix=".catalog-", dir=work_dir))
    try:
        try:
            with zipfile.ZipFile(zip_path) as archive:
                _unpack(archive, _checked_members(archive), folder)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
            raise ArchiveRefused(f"not a readable zip archive: {exc}") from None
        return import_catalog(db, catalog_csv(folder), media_dir, store)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
