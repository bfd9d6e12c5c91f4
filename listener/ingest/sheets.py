"""Workbooks into rows: the first sheet of an XLSX (streamed) or XLS (xlrd) workbook.

An XLSX sheet is read as a stream of XML from the ZIP, cell by cell, so memory follows the
cells the sheet really holds, never the extent it declares or the rectangle its cells span
(python-calamine, used before issue 15, allocated that rectangle: a lone cell at XFD1048576
aborted the process). Every part is inflated through a counter (``max_unzipped_bytes``),
DTDs are refused (entity expansion), and a cell past ``max_sheet_rows`` or
``max_sheet_columns`` refuses the file naming the cell. XLS (BIFF) goes through xlrd, which
is pure Python and keeps only the cells that exist. docs/ingest.md "What the readers accept and
reject" lists what becomes of formulas, dates, merged cells and other sheets.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import posixpath
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal
from xml.parsers import expat

import xlrd
from xlrd.biffh import XLRDError
from xlrd.sheet import Sheet

from listener.ingest.rows import (
    NUL_REASON,
    SURROGATE,
    TITLE_LOOKAHEAD,
    TITLE_MAX_NAMES,
    FileRefused,
    HeaderEcho,
    ReadLimits,
    Row,
    clean_headers,
    header_problem,
    needs_tidy,
    one_line,
    surrogate_reason,
    tidy_value,
    title_refusal,
)


def _tidy(text: str) -> str:
    """A text cell tidied (rows.tidy_value): once per shared string, not per cell that
    shows it; each inline string."""
    return tidy_value(text) if needs_tidy(text) else text

_CFB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_CHUNK = 1 << 20
# Workbook metadata (relationships, workbook.xml, styles) is small; a huge one is hostile.
_MAX_META_BYTES = 64 << 20
_NOT_READABLE = "not a readable spreadsheet"


def read_spreadsheet(data: bytes, limits: ReadLimits) -> Iterator[Row]:
    """Rows of the first sheet of a workbook, told apart by its first bytes (an .xls named
    .xlsx is read as what it is), as they are read: a refusal may come after some rows, and
    the caller drops those (ingest stages a file in one transaction)."""
    if not data:
        raise FileRefused(f"{_NOT_READABLE}: the file is empty")
    if data.startswith(b"PK"):
        return _read_xlsx(data, limits)
    if data.startswith(_CFB):
        if "EncryptedPackage".encode("utf-16-le") in data:
            raise FileRefused(
                "the workbook is password-protected (encrypted); open it in Excel, remove the "
                "password (File > Info > Protect Workbook) and save it again")
        return _read_xls(data, limits)
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"urn:schemas-microsoft-com:office:spreadsheet" in data[:4096]:
        raise FileRefused("the file is an Excel 2003 XML Spreadsheet, which is not read; open "
                          "it in Excel or LibreOffice and save it as .xlsx (or CSV)")
    if head.startswith((b"<html", b"<!doctype html", b"<table", b"<meta", b"<head")) or (
            head.startswith(b"<") and b"<table" in head):
        raise FileRefused("the file is a web page (an HTML table), as some systems' \"Export to "
                          "Excel\" write one: open it in Excel or LibreOffice and save it as "
                          ".xlsx (or CSV)")
    raise FileRefused(f"{_NOT_READABLE}: neither an XLSX workbook (a ZIP file) nor an XLS "
                      f"workbook (OLE2); it starts with {data[:8]!r}")


@contextmanager
def _library(what: str) -> Iterator[None]:
    """Turns a parsing library's failure on a damaged file into a refusal naming it: zipfile
    and xlrd raise whatever their parsing trips on (struct.error, IndexError, …)."""
    try:
        yield
    except (FileRefused, MemoryError):
        raise
    except Exception as exc:
        raise FileRefused(f"{_NOT_READABLE}: {what} ({type(exc).__name__}: {one_line(exc)})"
                          ) from exc


# --- cell values ----------------------------------------------------------------------------

_EPOCH_1900 = dt.datetime(1899, 12, 30)
_EPOCH_1904 = dt.datetime(1904, 1, 1)
_LAST_SERIAL = 2_958_465          # 9999-12-31 in the 1900 date system


def number_text(value: float) -> str:
    """A number as text; spreadsheets store chip numbers and ids as floats, and 9.8102e14
    must stay digits."""
    if not math.isfinite(value):
        return repr(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _clock(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def excel_date(serial: float, date1904: bool, kind: str) -> str | None:
    """An Excel date serial as MM/DD/YYYY (with the time when there is one), a time as
    HH:MM:SS, a duration as Python prints it; None when the serial is no date at all."""
    if not 0 <= serial <= _LAST_SERIAL:
        return None
    seconds = round(serial * 86400)
    if kind == "duration":
        return str(dt.timedelta(seconds=seconds))
    if kind == "time" and seconds < 86400:
        return _clock(seconds)
    epoch = _EPOCH_1904 if date1904 else _EPOCH_1900
    if not date1904 and serial < 60:      # Excel counts a 29 February 1900 that never was
        epoch += dt.timedelta(days=1)
    try:
        value = epoch + dt.timedelta(seconds=seconds)
    except OverflowError:
        return None
    if seconds % 86400 == 0:
        return value.strftime("%m/%d/%Y")
    return value.strftime("%m/%d/%Y %H:%M:%S")


_BUILTIN_FORMATS = {
    **dict.fromkeys((14, 15, 16, 17, 22, *range(27, 37), *range(50, 59)), "date"),
    **dict.fromkeys((18, 19, 20, 21, 45, 47), "time"),
    46: "duration",
}
_FORMAT_LITERALS = re.compile(r'"[^"]*"|\\.|_.|\*.')
_DURATION = re.compile(r"\[(?:h+|m+|s+)\]", re.IGNORECASE)
_BRACKETS = re.compile(r"\[[^\]]*\]")


def format_kind(code: str) -> str | None:
    """Whether a number format shows a date, a time or a duration (None: a plain number)."""
    text = _FORMAT_LITERALS.sub("", code)
    if _DURATION.search(text):
        return "duration"
    section = _BRACKETS.sub("", text).split(";")[0].lower()
    if "d" in section or "y" in section:
        return "date"
    if "h" in section or "s" in section:
        return "time"
    return "date" if "m" in section else None


def zero_layout(code: str) -> str | None:
    """The layout of a number format that pads with zeros — Excel's ZIP code ``00000``, ZIP+4
    ``00000\\-0000``, an id shown as ``000123`` — as ``0`` placeholders and the literal text
    between them (``00000-0000``); None for any other format. A ZIP of 01234 is stored as the
    number 1234 under such a format, and read as ``1234`` it named another town."""
    section = _BRACKETS.sub("", code.split(";")[0])
    out: list[str] = []
    i = 0
    while i < len(section):
        ch = section[i]
        if ch == "0" or ch in "- ()/":   # (a bare "." would make it a decimal format)
            out.append(ch)
        elif ch == "\\" and i + 1 < len(section):
            i += 1
            out.append(section[i])
        elif ch == '"':
            end = section.find('"', i + 1)
            if end < 0 or "0" in section[i + 1:end]:
                return None
            out.append(section[i + 1:end])
            i = end
        else:
            return None
        i += 1
    layout = "".join(out)
    return layout if layout.count("0") >= 2 and layout.startswith("0") else None


def padded_number(value: float, layout: str) -> str | None:
    """A whole number laid out by ``zero_layout``'s layout (1234 by ``00000`` is ``01234``);
    None when it does not fit (a fraction, a negative, more digits than placeholders)."""
    slots = layout.count("0")
    if not value.is_integer() or value < 0 or len(str(int(value))) > slots:
        return None
    digits = iter(str(int(value)).zfill(slots))
    return "".join(next(digits) if ch == "0" else ch for ch in layout)


_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _unescape(text: str) -> str:
    """OOXML writes control characters as _xHHHH_ (_x000D_ for a carriage return)."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


def column_name(index: int) -> str:
    """Column letters of a 0-based column index (0 -> A, 16383 -> XFD)."""
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name


def _column_index(letters: str) -> int:
    index = 0
    for ch in letters:
        index = index * 26 + ord(ch) - 64
    return index - 1


# --- rows from cells, for both workbook kinds -----------------------------------------------

class _SheetRows:
    """Turns each sheet row's cells into a Row: the first non-blank row is the header."""

    def __init__(self, limits: ReadLimits, sheet: str) -> None:
        self.limits = limits
        self.sheet = sheet
        self.headers: list[str] | None = None
        self.rows: list[Row] = []
        self.last_row = 0
        self._text_bytes = 0
        self._cells = 0
        # a header of one or two names: the next rows are watched for a table below a title
        self._title: tuple[int, list[str]] | None = None
        self._watch = 0
        self._wide_row: tuple[int, list[str], int, bool] | None = None
        self._echo: HeaderEcho | None = None
        self._header_row = 0

    def drain(self) -> Iterator[Row]:
        """The rows made since the last drain, handed over and forgotten."""
        rows, self.rows = self.rows, []
        yield from rows

    def check_cell(self, row: int, col: int) -> None:
        """Refuse a value past the sheet limits, naming its cell."""
        if row > self.limits.max_sheet_rows or col >= self.limits.max_sheet_columns:
            which = "row" if row > self.limits.max_sheet_rows else "column"
            limit = (f"{self.limits.max_sheet_rows:,}-row" if which == "row"
                     else f"{self.limits.max_sheet_columns:,}-column")
            raise FileRefused(
                f"sheet {self.sheet!r}, cell {column_name(col)}{row}: a value past the "
                f"{limit} limit; delete stray cells far from the data (Ctrl+End shows the "
                "last one) or split the export")

    def add(self, number: int, cells: dict[int, str], problem: str | None = None,
            unsaved: Sequence[int] = ()) -> None:
        """One sheet row: its Excel row number, its non-empty cells by 0-based column, and the
        columns of its formula cells that hold no saved value."""
        if problem is None and not any(v.strip() for v in cells.values()):
            return
        if number <= self.last_row:
            raise FileRefused(
                f"sheet {self.sheet!r}: row {number} comes after row {self.last_row} in the "
                "sheet's XML, which Excel never writes; open the workbook and save it again")
        self.last_row = number
        if self.headers is None:
            self._header(number, cells, problem)
            return
        if self._watch:
            self._watch_title(number, cells)
        row = self._row(number, cells, problem)
        if unsaved:
            headers = self.headers
            row.unsaved_formulas = tuple(headers[c] if c < len(headers) else column_name(c)
                                         for c in unsaved)
        self.rows.append(row)

    def _watch_title(self, number: int, cells: dict[int, str]) -> None:
        """Refuse when two rows in a row below a header of one or two names hold values
        past the header's last column (the real header and its first row), or, below a
        header of one name, two values or more: the header was a title above the table
        (rows.title_refusal)."""
        self._watch -= 1
        assert self._title is not None and self.headers is not None
        held = sorted(c for c in cells if cells[c].strip())
        values = [cells[c] for c in held]
        width, named = len(self.headers), len(self._title[1])
        last = held[-1] if held else -1
        padded = named == 1 and len(values) >= 2
        if not (padded or last >= width):
            self._wide_row = None
            return
        if self._wide_row is not None:
            row, names, before, was_padded = self._wide_row
            if (last >= width and before >= width) or (padded and was_padded):
                raise title_refusal(f"sheet {self.sheet!r}, row {self._title[0]}",
                                    self._title[1], f"row {row}", names)
        self._wide_row = (number, values, last, padded)

    def _header(self, number: int, cells: dict[int, str], problem: str | None) -> None:
        if problem is not None:
            raise FileRefused(f"sheet {self.sheet!r}, header row {number}: {problem}")
        width = max(cells) + 1
        values = [cells.get(i, "") for i in range(width)]
        bad = header_problem(values)
        if bad is not None:
            col = next(i for i, v in enumerate(values) if header_problem([v]))
            raise FileRefused(f"sheet {self.sheet!r}, cell {column_name(col)}{number}: the "
                              f"header contains {bad}; fix that header cell")
        self.headers = clean_headers(values)
        self._echo, self._header_row = HeaderEcho(values), number
        named = [v for v in values if v.strip()]
        if len(named) <= TITLE_MAX_NAMES:
            self._title, self._watch = (number, named), TITLE_LOOKAHEAD

    def _row(self, number: int, cells: dict[int, str], problem: str | None) -> Row:
        headers = self.headers or []
        width = len(headers)
        fields = [""] * width
        beyond: list[int] = []
        for col, value in cells.items():
            if col < width:
                fields[col] = value
            elif value.strip():
                beyond.append(col)
        beyond.sort()
        joined = "\t".join(fields + [cells[c] for c in beyond])
        raw = joined.encode("utf-8", "surrogatepass")
        self._count(number, len(raw), width)
        row = Row(number, raw)
        if problem is not None:
            row.reject_code, row.reject_reason = "malformed", problem
        elif "\x00" in joined:
            row.reject_code, row.reject_reason = "nul_character", NUL_REASON
        elif SURROGATE.search(joined):
            row.reject_code = "lone_surrogate"
            row.reject_reason = surrogate_reason(joined)
        elif beyond:
            row.reject_code = "malformed"
            row.reject_reason = (f"cell {column_name(beyond[0])}{number} holds a value but the "
                                 f"header has {width} columns")
        else:
            echo = (self._echo.check(fields, f"sheet {self.sheet!r}, row {number}",
                                     f"row {self._header_row}")
                    if self._echo is not None and self._echo.may_repeat(fields) else None)
            if echo is not None:
                row.reject_code, row.reject_reason = "malformed", echo
            else:
                row.payload = dict(zip(headers, fields, strict=True))
        return row

    def _count(self, number: int, raw_bytes: int, width: int) -> None:
        """Refuse a sheet whose rows outgrow the limits (a bomb of repeated shared strings,
        or more rows x columns than payloads should hold)."""
        self._text_bytes += raw_bytes
        self._cells += width
        if self._text_bytes > self.limits.max_text_bytes:
            raise FileRefused(
                f"sheet {self.sheet!r}, row {number}: the rows add up to more than "
                f"{self.limits.max_text_bytes:,} bytes of text (the same long text "
                "repeated in many cells?); split the export")
        if self._cells > self.limits.max_sheet_cells:
            raise FileRefused(
                f"sheet {self.sheet!r}, row {number}: more than "
                f"{self.limits.max_sheet_cells:,} cells (rows x header columns); split the "
                "export")


# --- XLSX -----------------------------------------------------------------------------------

class _Xml:
    """Streams one XML part through expat with handlers, refusing DTDs (entity bombs)."""

    def __init__(self, part: str) -> None:
        self.part = part
        self.parser = expat.ParserCreate()
        self.parser.buffer_text = True
        self.parser.buffer_size = 1 << 16
        self.parser.StartDoctypeDeclHandler = self._no_dtd
        self.parser.EntityDeclHandler = self._no_dtd

    def _no_dtd(self, *_: Any) -> None:
        raise FileRefused(f"{self.part} declares a DTD (<!DOCTYPE> or entities), which no "
                          "workbook does; refused as possibly hostile (entity expansion)")

    def feed(self, chunks: Iterator[bytes]) -> Iterator[None]:
        """Parse the part's bytes to the end, pausing after each chunk (the caller takes
        what the handlers made so far: memory follows one chunk, not the sheet)."""
        try:
            for chunk in chunks:
                self.parser.Parse(chunk, False)
                yield
            self.parser.Parse(b"", True)
        except expat.ExpatError as exc:
            raise FileRefused(
                f"{_NOT_READABLE}: {self.part} is not well-formed XML at line {exc.lineno}, "
                f"column {exc.offset} ({expat.ErrorString(exc.code)})") from exc
        except (LookupError, UnicodeError) as exc:  # an <?xml encoding="…"?> expat asks of Python
            raise FileRefused(f"{_NOT_READABLE}: {self.part} declares an encoding that cannot "
                              f"be read ({one_line(exc)})") from exc


def _local(name: str) -> str:
    """An element or attribute name without its namespace prefix (x:row -> row)."""
    return name.rpartition(":")[2]


class _Package:
    """The parts of an XLSX file, each inflated through a byte counter."""

    def __init__(self, data: bytes, limits: ReadLimits) -> None:
        self.limits = limits
        with _library("the ZIP container is damaged"):
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zip.infolist()
        # Excel finds parts case-insensitively; some writers use backslashes.
        self.parts = {i.filename.replace("\\", "/").lstrip("/").lower(): i for i in infos}

    def has(self, name: str) -> bool:
        return name.lower() in self.parts

    def chunks(self, name: str, cap: int | None = None) -> Iterator[bytes]:
        """The inflated bytes of a part, refusing past ``cap`` (default max_unzipped_bytes)."""
        info = self.parts[name.lower()]
        if info.flag_bits & 0x1:
            raise FileRefused(f"{name} is encrypted inside the ZIP; save the workbook without a "
                              "password")
        cap = self.limits.max_unzipped_bytes if cap is None else cap
        total = 0
        with _library(f"{name} cannot be inflated"):
            member = self.zip.open(info)
        with member:
            while True:
                with _library(f"{name} cannot be inflated"):
                    chunk = member.read(_CHUNK)
                if not chunk:
                    return
                total += len(chunk)
                if total > cap:
                    raise FileRefused(
                        f"{name} inflates past {cap:,} bytes (from {info.compress_size:,} in "
                        "the file): a decompression bomb, or an export to split")
                yield chunk

    def parse(self, name: str, start: Callable[[str, dict[str, str]], None],
              cap: int | None = _MAX_META_BYTES) -> None:
        """Stream a part through ``start`` (called with the local name and attributes)."""
        xml = _Xml(name)
        xml.parser.StartElementHandler = lambda tag, attrs: start(_local(tag), attrs)
        for _ in xml.feed(self.chunks(name, cap)):
            pass


def _relationships(pkg: _Package, rels: str, base: str) -> list[tuple[str, str, str]]:
    """(id, type's last word, target part) of a .rels part; targets resolved against
    ``base``, the folder of the part they belong to."""
    found: list[tuple[str, str, str]] = []
    if not pkg.has(rels):
        return found

    def start(tag: str, attrs: dict[str, str]) -> None:
        if tag == "Relationship" and attrs.get("TargetMode") != "External":
            target = attrs.get("Target", "")
            path = target.lstrip("/") if target.startswith("/") else posixpath.join(base, target)
            found.append((attrs.get("Id", ""), attrs.get("Type", "").rpartition("/")[2],
                          posixpath.normpath(path)))

    pkg.parse(rels, start)
    return found


def _workbook_part(pkg: _Package) -> str:
    """The workbook part named by the package's relationships, or the usual one."""
    for _, kind, target in _relationships(pkg, "_rels/.rels", ""):
        if kind == "officeDocument" and pkg.has(target):
            return target
    if pkg.has("xl/workbook.xml"):
        return "xl/workbook.xml"
    if pkg.has("xl/workbook.bin"):
        raise FileRefused("the workbook is binary XLSB, which is not read; save it as .xlsx")
    if pkg.has("content.xml"):
        raise FileRefused("the file is an OpenDocument spreadsheet (.ods); save it as .xlsx")
    raise FileRefused(f"{_NOT_READABLE}: a ZIP file with no Excel workbook in it (no "
                      "xl/workbook.xml)")


class _Workbook:
    """The workbook's sheets in order, its date system, shared strings and date styles."""

    def __init__(self, pkg: _Package) -> None:
        self.pkg = pkg
        part = _workbook_part(pkg)
        folder = posixpath.dirname(part)
        rels = _relationships(
            pkg, posixpath.join(folder, "_rels", posixpath.basename(part) + ".rels"), folder)
        by_id = {rid: (kind, target) for rid, kind, target in rels}
        self.sheets: list[tuple[str, str, str]] = []     # (name, kind, part)
        self.date1904 = False

        def start(tag: str, attrs: dict[str, str]) -> None:
            if tag == "sheet":
                rid = next((v for k, v in attrs.items() if _local(k) == "id"), "")
                kind, target = by_id.get(rid, ("missing", ""))
                self.sheets.append((attrs.get("name", "?"), kind, target))
            elif tag == "workbookPr":
                self.date1904 = attrs.get("date1904", "").lower() in ("1", "true")

        pkg.parse(part, start)
        self.shared_part = next((t for _, k, t in rels if k == "sharedStrings"),
                                posixpath.join(folder, "sharedStrings.xml"))
        self.styles_part = next((t for _, k, t in rels if k == "styles"), "")

    def shared_strings(self) -> list[str]:
        """The shared-string table (streamed; its declared count is not trusted)."""
        strings: list[str] = []
        if not self.pkg.has(self.shared_part):
            return strings
        parts: list[str] = []
        state = {"text": False, "phonetic": 0}
        xml = _Xml(self.shared_part)

        def start(name: str, _: dict[str, str]) -> None:
            tag = _local(name)
            if tag == "t" and not state["phonetic"]:
                state["text"] = True
            elif tag == "rPh":
                state["phonetic"] += 1
            elif tag == "si":
                parts.clear()

        def end(name: str) -> None:
            tag = _local(name)
            if tag == "t":
                state["text"] = False
            elif tag == "rPh":
                state["phonetic"] -= 1
            elif tag == "si":
                strings.append(_tidy(_unescape("".join(parts))))

        def text(data: str) -> None:
            if state["text"]:
                parts.append(data)

        xml.parser.StartElementHandler = start
        xml.parser.EndElementHandler = end
        xml.parser.CharacterDataHandler = text
        for _ in xml.feed(self.pkg.chunks(self.shared_part)):
            pass
        return strings

    def date_styles(self) -> dict[str, str]:
        """Style index (as written in a cell's s attribute) -> date, time or duration, or
        ``zeros:`` and the layout of a format that pads with zeros (``zero_layout``)."""
        if not self.styles_part or not self.pkg.has(self.styles_part):
            return {}
        formats: dict[int, str] = {}
        xf_formats: list[int] = []
        inside = {"cellXfs": False}

        def start(tag: str, attrs: dict[str, str]) -> None:
            if tag == "numFmt":
                with _library("styles: a number format without a numeric id"):
                    formats[int(attrs.get("numFmtId", "-1"))] = attrs.get("formatCode", "")
            elif tag == "cellXfs":
                inside["cellXfs"] = True
            elif tag == "cellStyles":
                inside["cellXfs"] = False
            elif tag == "xf" and inside["cellXfs"]:
                with _library("styles: a cell format without a numeric number format id"):
                    xf_formats.append(int(attrs.get("numFmtId", "0")))

        self.pkg.parse(self.styles_part, start)
        kinds: dict[str, str] = {}
        for index, fmt_id in enumerate(xf_formats):
            kind = (format_kind(formats[fmt_id]) if fmt_id in formats
                    else _BUILTIN_FORMATS.get(fmt_id))
            if kind is None and fmt_id in formats and (layout := zero_layout(formats[fmt_id])):
                kind = "zeros:" + layout
            if kind:
                kinds[str(index)] = kind
        return kinds


_HAS_VALUE = re.compile(rb"<(?:\w+:)?(?:v|t)(?:\s[^>]*)?>\s*[^<\s]")


def _holds_values(pkg: _Package, part: str) -> bool:
    """Whether a worksheet part holds any cell value (stops at the first)."""
    tail = b""
    for chunk in pkg.chunks(part):
        if _HAS_VALUE.search(tail + chunk):
            return True
        tail = chunk[-256:]
    return False


def _sheets_with_data(names: list[str]) -> FileRefused:
    return FileRefused(
        f"the workbook has {len(names)} sheets with data "
        f"({', '.join(repr(n) for n in names)}); only one is read, so save each sheet as its "
        "own file and ingest them one by one")


def _sheet_to_read(book: _Workbook) -> tuple[str, str]:
    """The sheet to read: the first, unless it is empty and exactly one other worksheet
    holds values (a cover or instructions sheet left blank before the data). A workbook with
    values on two sheets is refused, as the rows of the other would be lost without a word."""
    name, _, part = book.sheets[0]
    others = [(n, p) for n, kind, p in book.sheets[1:]
              if kind == "worksheet" and book.pkg.has(p) and _holds_values(book.pkg, p)]
    if _holds_values(book.pkg, part):
        if others:
            raise _sheets_with_data([name, *(n for n, _ in others)])
        return name, part
    if len(others) > 1:
        raise _sheets_with_data([n for n, _ in others])
    return others[0] if others else (name, part)


def _read_xlsx(data: bytes, limits: ReadLimits) -> Iterator[Row]:
    pkg = _Package(data, limits)
    book = _Workbook(pkg)
    if not book.sheets:
        raise FileRefused(f"{_NOT_READABLE}: the workbook lists no sheets")
    name, kind, part = book.sheets[0]
    if kind != "worksheet":
        raise FileRefused(f"the first sheet, {name!r}, is a {kind}, not a worksheet of cells; "
                          "move the data sheet first")
    if not pkg.has(part):
        raise FileRefused(f"{_NOT_READABLE}: the first sheet, {name!r}, names the part "
                          f"{part!r}, which the file does not hold")
    name, part = _sheet_to_read(book)
    out = _SheetRows(limits, name)
    yield from _SheetXml(pkg, part, out, book).read()
    if out.headers is None:
        raise FileRefused(f"no header row in the first sheet ({name!r} holds no values)")


_CELL, _VALUE, _TEXT, _ROW, _INLINE, _PHONETIC, _FORMULA = range(1, 8)
_KINDS = {"c": _CELL, "v": _VALUE, "t": _TEXT, "row": _ROW, "is": _INLINE, "rPh": _PHONETIC,
          "f": _FORMULA}


class _SheetXml:
    """Reads a worksheet's cells, row by row, into ``out``. The expat handlers are the hot
    loop of a 300,000-row ClinicHQ export: closures over local state, one dict lookup per
    element; the rare paths (odd references, shared-string errors, dates) are methods."""

    def __init__(self, pkg: _Package, part: str, out: _SheetRows, book: _Workbook) -> None:
        self.pkg, self.part, self.out = pkg, part, out
        self.shared = book.shared_strings()
        self.styles = book.date_styles()
        self.date1904 = book.date1904
        self.columns: dict[str, int] = {}
        self.problem: str | None = None

    def read(self) -> Iterator[Row]:  # noqa: C901 - the handlers are one loop's body
        kinds: dict[str, int] = {}
        columns, shared, out = self.columns, self.shared, self.out
        max_row, max_col = out.limits.max_sheet_rows, out.limits.max_sheet_columns
        row, row_text, col, numbered = 0, "0", -1, True
        cells: dict[int, str] = {}
        parts: list[str] = []
        ctype: str | None = None
        style: str | None = None
        collect = inline = formula = False
        phonetic = 0
        unsaved: list[int] = []       # this row's formula cells with no saved value

        def start(name: str, attrs: dict[str, str]) -> None:
            nonlocal row, row_text, col, numbered, cells, ctype, style, collect, inline
            nonlocal phonetic, formula, unsaved
            kind = kinds.get(name)
            if kind is None:
                kind = kinds[name] = _KINDS.get(_local(name), 0)
            if kind == _CELL:
                ctype, style = attrs.get("t"), attrs.get("s")
                parts.clear()
                formula = False
                ref = attrs.get("r")
                if ref is None:
                    col += 1
                    return
                letters = ref.rstrip("0123456789")
                found = columns.get(letters)
                if found is None or ref[len(letters):] != row_text:
                    row, found, numbered = self._column(ref, row, numbered, bool(cells))
                    row_text = str(row)
                col = found
            elif kind == _VALUE:
                collect = True
            elif kind == _TEXT:
                collect = inline and not phonetic
            elif kind == _ROW:
                ref = attrs.get("r")
                row = row + 1 if ref is None else self._row_number(ref)
                row_text, col, numbered, cells = str(row), -1, ref is not None, {}
                self.problem = None
                if unsaved:
                    unsaved = []
            elif kind == _INLINE:
                inline = True
            elif kind == _PHONETIC:
                phonetic += 1
            elif kind == _FORMULA:
                formula = True

        def end(name: str) -> None:  # noqa: C901 - the hot loop, kept in one function
            nonlocal collect, inline, phonetic
            kind = kinds.get(name)
            if kind == _CELL:
                if not parts:
                    if formula:
                        unsaved.append(col)
                    return
                text = "".join(parts)
                if ctype == "s":
                    try:
                        index = int(text)
                    except ValueError:
                        index = -1
                    value = shared[index] if 0 <= index < len(shared) \
                        else self._bad_shared(text, col, row)
                elif ctype is None or ctype == "n":
                    value = self._number(text, style)
                elif ctype == "inlineStr":
                    value = _unescape(text) if "_x" in text else text
                    # (rows.needs_tidy's test for plain ASCII inline: once per cell)
                    if not (value.isascii() and value.isprintable()
                            and value[0] not in "'= "):
                        value = _tidy(value)
                else:
                    value = self._typed(ctype, text)
                if value:
                    if row > max_row or col >= max_col:
                        out.check_cell(row, col)
                    if col in cells:
                        self.problem = f"cell {column_name(col)}{row} appears twice"
                    cells[col] = value
            elif kind in (_VALUE, _TEXT):
                collect = False
            elif kind == _ROW:
                if cells or self.problem:
                    out.add(row, cells, self.problem, unsaved)
            elif kind == _INLINE:
                inline = False
            elif kind == _PHONETIC:
                phonetic -= 1

        def text(data: str) -> None:
            if collect:
                parts.append(data)

        xml = _Xml(self.part)
        xml.parser.StartElementHandler = start
        xml.parser.EndElementHandler = end
        xml.parser.CharacterDataHandler = text
        for _ in xml.feed(self.pkg.chunks(self.part)):
            yield from out.drain()
        yield from out.drain()

    def _row_number(self, ref: str) -> int:
        if not (ref.isascii() and ref.isdigit()) or not 0 < int(ref) <= 1 << 20:
            raise FileRefused(f"{_NOT_READABLE}: {self.part} has a row numbered {ref[:20]!r}")
        return int(ref)

    def _column(self, ref: str, row: int, numbered: bool, has_cells: bool
                ) -> tuple[int, int, bool]:
        """(row, column, numbered) for a cell reference such as "AB12" met for the first
        time or outside its row; refuses one that is no cell of the current row."""
        letters = ref.rstrip("0123456789")
        if not letters.isascii() or not letters.isalpha() or len(letters) > 3:
            raise FileRefused(f"{_NOT_READABLE}: {self.part} row {row} has a cell reference "
                              f"{ref[:20]!r} that is no cell")
        col = self.columns.setdefault(letters, _column_index(letters.upper()))
        digits = ref[len(letters):]
        if digits != str(row):
            if numbered or has_cells:
                raise FileRefused(f"{_NOT_READABLE}: {self.part} has the cell {ref[:20]!r} "
                                  f"inside row {row}")
            # A row written without its number takes it from its first cell's reference.
            row = self._row_number(digits)
        return row, col, True

    def _bad_shared(self, text: str, col: int, row: int) -> str:
        self.problem = (f"cell {column_name(col)}{row} refers to shared string "
                        f"{text[:20]!r}, but the workbook has {len(self.shared)}")
        return ""

    def _number(self, text: str, style: str | None) -> str:
        try:
            number = float(text)
        except ValueError:
            return text
        kind = self.styles.get(style or "0")
        if kind is not None and kind.startswith("zeros:"):
            return padded_number(number, kind[6:]) or number_text(number)
        if kind is not None:
            return excel_date(number, self.date1904, kind) or number_text(number)
        return number_text(number)

    @staticmethod
    def _typed(ctype: str, text: str) -> str:
        if ctype in ("inlineStr", "str"):
            return _tidy(_unescape(text))
        if ctype == "b":
            return {"1": "true", "0": "false"}.get(text.strip(), text)
        if ctype == "d":
            return _iso_date(text)
        return text                                  # "e": an error such as #N/A


def _iso_date(text: str) -> str:
    """A t="d" cell (ISO 8601) in the same form as a date serial's."""
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return text
    if value.time() == dt.time(0):
        return value.strftime("%m/%d/%Y")
    return value.strftime("%m/%d/%Y %H:%M:%S")


# --- XLS ------------------------------------------------------------------------------------

def _xls_value(ctype: int, value: Any, datemode: Literal[0, 1]) -> str:
    """One xlrd cell as text, the same way as an XLSX cell's."""
    if ctype == xlrd.XL_CELL_TEXT:
        return _tidy(str(value))
    if ctype == xlrd.XL_CELL_NUMBER:
        return number_text(float(value))
    if ctype == xlrd.XL_CELL_DATE:
        try:
            parts = xlrd.xldate_as_tuple(value, datemode)
        except (xlrd.xldate.XLDateError, ValueError, OverflowError):
            return number_text(float(value))
        if parts[:3] == (0, 0, 0):
            return _clock(parts[3] * 3600 + parts[4] * 60 + parts[5])
        return excel_date(float(value), datemode == 1, "date") or number_text(float(value))
    if ctype == xlrd.XL_CELL_BOOLEAN:
        return "true" if value else "false"
    if ctype == xlrd.XL_CELL_ERROR:
        return str(xlrd.error_text_from_code.get(value, "#ERR"))
    return ""


def _xls_cells(sheet: Sheet, rowx: int, datemode: Literal[0, 1]) -> dict[int, str]:
    values = sheet.row_values(rowx)
    return {colx: text for colx, ctype in enumerate(sheet.row_types(rowx))
            if ctype not in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK)
            and (text := _xls_value(ctype, values[colx], datemode))}


def _read_xls(data: bytes, limits: ReadLimits) -> Iterator[Row]:
    with _library("the XLS workbook is damaged"):
        try:
            book = xlrd.open_workbook(file_contents=data, on_demand=True, ragged_rows=True,
                                      logfile=io.StringIO())
        except XLRDError as exc:
            if "encrypt" in str(exc).lower():
                raise FileRefused("the workbook is password-protected (encrypted); open it in "
                                  "Excel, remove the password and save it again") from exc
            raise
        names = book.sheet_names()
        datemode: Literal[0, 1] = 1 if book.datemode == 1 else 0
        if not names:
            raise FileRefused(f"{_NOT_READABLE}: the workbook has no sheets")
        with_data = []
        for index in range(len(names)):
            other = book.sheet_by_index(index)
            if any(_xls_cells(other, r, datemode) for r in range(other.nrows)):
                with_data.append(index)
            book.unload_sheet(index)
        if len(with_data) > 1:
            raise _sheets_with_data([names[i] for i in with_data])
        # the first sheet, or the one sheet with values after an empty first one
        first = with_data[0] if with_data else 0
        sheet = book.sheet_by_index(first)
        out = _SheetRows(limits, names[first])
        for rowx in range(sheet.nrows):
            cells = _xls_cells(sheet, rowx, datemode)
            for col in cells:
                out.check_cell(rowx + 1, col)
            out.add(rowx + 1, cells)
            yield from out.drain()
    if out.headers is None:
        raise FileRefused(f"no header row in the first sheet ({names[0]!r} holds no values)")
