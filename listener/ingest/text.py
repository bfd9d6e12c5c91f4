"""Bytes into text for the text formats (CSV, JSON, NDJSON), by one rule (docs/ingest.md "What the
readers accept and reject"): a byte-order mark decides the encoding; without one, the
``--encoding`` given; without that, UTF-8. Nothing is guessed.

Decoding never fails: a byte the encoding cannot read is kept in the text as the character
U+DC00 + byte (``surrogateescape``'s trick, extended to bytes below 0x80 for UTF-16/32), so
the readers can reject exactly the rows that hold one, name the byte, and give back the raw
bytes of any row unchanged (``Decoded.raw``).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from listener.ingest.rows import SURROGATE, UNDECODABLE, FileRefused

_BOMS = (  # UTF-32 first: its little-endian mark begins with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Files that are not text at all, told apart by their first bytes, with what to do instead.
_MAGIC = (
    (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook?)", "pass --format xlsx if it is one"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an OLE2 compound file (an .xls workbook?)",
     "pass --format xls if it is one"),
    (b"\x1f\x8b", "gzip-compressed", "decompress it first"),
    (b"BZh", "bzip2-compressed", "decompress it first"),
    (b"\xfd7zXZ\x00", "xz-compressed", "decompress it first"),
    (b"%PDF-", "a PDF document", "export the data as CSV or JSON instead"),
)

KEEP_BYTES = "atlas-keep-bytes"


def _keep_bytes(exc: UnicodeError) -> tuple[str | bytes, int]:
    """Codec error handler: undecodable bytes become U+DC00 + byte, and back again."""
    if isinstance(exc, UnicodeDecodeError):
        bad = exc.object[exc.start:exc.end]
        return "".join(chr(0xDC00 + b) for b in bad), exc.end
    if isinstance(exc, UnicodeEncodeError):
        chars = exc.object[exc.start:exc.end]
        if all(0xDC00 <= ord(c) <= 0xDCFF for c in chars):
            return bytes(ord(c) - 0xDC00 for c in chars), exc.end
        # A character the file's encoding cannot hold (a lone surrogate from a JSON escape):
        # the raw bytes are only kept for a person to read, so UTF-8 with the half as-is.
        return chars.encode("utf-8", "surrogatepass"), exc.end
    raise exc


codecs.register_error(KEEP_BYTES, _keep_bytes)


@dataclass(frozen=True)
class Decoded:
    """A file's text and how it was read."""

    text: str
    encoding: str     # the codec used, e.g. "utf-8" or "utf-16-le"
    bom: int          # bytes of byte-order mark before the text

    def raw(self, part: str) -> bytes:
        """The file's own bytes for a piece of its text."""
        try:
            return part.encode(self.encoding, KEEP_BYTES)
        except UnicodeEncodeError:
            # UTF-16/32 encoders take back no odd number of bytes from an error handler
            # (one stray byte of a misaligned file): encode around the kept bytes instead.
            out = bytearray()
            pos = 0
            for match in SURROGATE.finditer(part):
                out += part[pos:match.start()].encode(self.encoding, KEEP_BYTES)
                char = match.group()
                out += (bytes([ord(char) - 0xDC00]) if UNDECODABLE.match(char)
                        else char.encode("utf-8", "surrogatepass"))
                pos = match.end()
            return bytes(out + part[pos:].encode(self.encoding, KEEP_BYTES))

    def byte_offset(self, index: int) -> int:
        """The byte offset in the file of the character at ``index`` of the text."""
        return self.bom + len(self.raw(self.text[:index]))

    def bad_byte(self, part: str) -> tuple[int, int] | None:
        """(offset within ``part``'s bytes, value) of its first undecodable byte, if any."""
        match = UNDECODABLE.search(part)
        if match is None:
            return None
        return len(self.raw(part[:match.start()])), ord(match.group()) - 0xDC00


def codec_name(encoding: str) -> str:
    """The codec name for ``encoding``, or a refusal for a name Python does not know."""
    try:
        info = codecs.lookup(encoding)
    except (LookupError, ValueError) as exc:
        raise FileRefused(
            f"unknown encoding {encoding!r}; pass --encoding with a name such as utf-8, "
            "cp1252, latin-1 or utf-16") from exc
    if not getattr(info, "_is_text_encoding", True):
        raise FileRefused(f"{encoding!r} is not a text encoding; pass --encoding with a name "
                          "such as utf-8, cp1252, latin-1 or utf-16")
    return info.name


def refuse_binary(data: bytes, fmt: str) -> None:
    """Refuse a compressed file, a workbook or a PDF given as ``fmt`` text, saying what it is."""
    for magic, what, todo in _MAGIC:
        if data.startswith(magic):
            raise FileRefused(f"byte 0: the file is {what}, not {fmt.upper()} text; {todo}")


def decode(data: bytes, encoding: str | None) -> Decoded:
    """The text of a file by the rule in the module docstring."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            codec, skip = name, len(bom)
            break
    else:
        codec, skip = codec_name(encoding or "utf-8"), 0
        # utf-8-sig, utf-16 and utf-32 would strip a BOM we did not see: none is there.
        codec = {"utf-8-sig": "utf-8", "utf-16": "utf-16-le", "utf-32": "utf-32-le"}.get(
            codec, codec)
    body = data[skip:]
    try:
        # surrogateescape is the C fast path; it cannot keep bytes below 0x80, which only
        # UTF-16/32 and a few exotic codecs reject, so those take the slower handler.
        try:
            text = body.decode(codec, "surrogateescape")
        except UnicodeDecodeError:
            text = body.decode(codec, KEEP_BYTES)
    except (UnicodeError, ValueError) as exc:  # a codec (idna, punycode…) that gives up whole
        raise FileRefused(f"the {codec} codec cannot read this file ({exc}); pass --encoding "
                          "with the file's real encoding") from exc
    return Decoded(text, codec, skip)
