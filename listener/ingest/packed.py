"""Exports that come packed: compressed with gzip, bzip2 or xz (``people.csv.gz``), or in a
ZIP archive that holds one export (``export.zip``, as systems mail a report). Each is
unpacked in memory, bounded by ``max_unzipped_bytes`` as a workbook's parts are, and read as
the file inside, whose format its name tells (``people.csv.gz``: CSV) unless ``--format``
says. A ZIP holding no export or several, a password-protected or a damaged one, is refused
naming what it holds; an XLSX workbook (a ZIP itself) is passed on as it is.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import posixpath
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import PurePath
from typing import IO

from listener.ingest.rows import FileRefused, one_line

# first bytes, the suffix a compressed file's name ends with, and what it is
_COMPRESSED = ((b"\x1f\x8b", ".gz", "gzip"), (b"BZh", ".bz2", "bzip2"),
               (b"\xfd7zXZ\x00", ".xz", "xz"))
# members of a ZIP that are no export: folders, macOS resource forks, hidden files
_NOT_EXPORTS = ("__MACOSX/",)
# the formats a ZIP member may be, by its name (the readers' own list, without a ZIP)
_EXPORT_SUFFIXES = (".csv", ".tsv", ".txt", ".json", ".jsonl", ".ndjson", ".xlsx", ".xls")


@dataclass(frozen=True)
class Unpacked:
    """The bytes to read, the name that tells their format, and what was unpacked (None
    for a file that was not packed)."""

    data: bytes
    name: str
    what: str | None = None


def _bounded(stream: IO[bytes] | io.BufferedIOBase, limit: int, what: str) -> bytes:
    """All of ``stream``, or a refusal once it passes ``limit`` bytes (a decompression
    bomb costs time up to the limit, never memory past it)."""
    out = stream.read(limit + 1)
    if len(out) > limit:
        raise FileRefused(f"the {what} unpacks to more than {limit:,} bytes; unpack it and "
                          "split the export")
    return out


def _decompress(data: bytes, name: str, limit: int) -> Unpacked | None:
    for magic, suffix, what in _COMPRESSED:
        if data.startswith(magic):
            packed = io.BytesIO(data)
            try:
                with (gzip.GzipFile(fileobj=packed) if what == "gzip"
                      else bz2.BZ2File(packed) if what == "bzip2"
                      else lzma.LZMAFile(packed)) as stream:
                    inner = _bounded(stream, limit, f"{what} file")
            except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
                raise FileRefused(f"the {what} file is damaged or cut short "
                                  f"({one_line(exc)}); compress it again or send it "
                                  "uncompressed") from exc
            inner_name = name[:-len(suffix)] if name.lower().endswith(suffix) else name
            return Unpacked(inner, inner_name, f"{what}-compressed")
    return None


def _is_export(member: zipfile.ZipInfo) -> bool:
    base = posixpath.basename(member.filename)
    return (not member.is_dir() and bool(base) and not base.startswith(".")
            and not member.filename.startswith(_NOT_EXPORTS))


def _from_zip(data: bytes, name: str, limit: int) -> Unpacked | None:
    """The one export a plain ZIP archive holds; None for a workbook (or what is no ZIP)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None      # the workbook reader says what is wrong with a damaged one
    if "[Content_Types].xml" in names or any(n.startswith("xl/") for n in names):
        return None      # an XLSX workbook
    members = [m for m in archive.infolist() if _is_export(m)]
    exports = [m for m in members if m.filename.lower().endswith(_EXPORT_SUFFIXES)]
    if len(exports) != 1:
        held = ", ".join(repr(m.filename) for m in members[:8]) or "no file"
        more = f" and {len(members) - 8} more" if len(members) > 8 else ""
        how = "several exports" if exports else "no CSV, XLSX, XLS, JSON or NDJSON file"
        raise FileRefused(f"the ZIP archive holds {how} ({held}{more}); unpack it and "
                          "ingest each export as a file of its own")
    member = exports[0]
    if member.flag_bits & 0x1:
        raise FileRefused(f"{member.filename!r} in the ZIP archive is password-protected; "
                          "unpack it and ingest the file itself")
    try:
        with archive.open(member) as stream:
            inner = _bounded(stream, limit, f"ZIP member {member.filename!r}")
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError,
            RuntimeError) as exc:
        raise FileRefused(f"{member.filename!r} in the ZIP archive cannot be unpacked "
                          f"({one_line(exc)}); unpack it and ingest the file itself") from exc
    return Unpacked(inner, PurePath(member.filename).name,
                    f"{member.filename!r} from the ZIP archive")


def unpack(data: bytes, name: str, limit: int) -> Unpacked:
    """The export inside ``data`` (a file named ``name``): unpacked when it is compressed or a
    ZIP archive of one export, else ``data`` itself."""
    if data.startswith(b"PK"):
        return _from_zip(data, name, limit) or Unpacked(data, name)
    return _decompress(data, name, limit) or Unpacked(data, name)
