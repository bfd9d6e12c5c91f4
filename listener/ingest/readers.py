"""Export files into rows: CSV, XLSX/XLS, JSON and NDJSON, with the real exports' quirks.

``read_rows`` parses a whole file before anything is written (``iter_rows`` gives the same
rows as they are read, for ingest, which stages a file in one transaction and so can drop
what a late refusal invalidates). It either returns one ``Row`` per non-blank data row of
the file (a payload, or a reject code and reason with the row's
raw bytes) or raises ``FileRefused`` with one line naming where the file went wrong and what
to do; it raises nothing else, whatever the bytes. Blank rows (every field empty or
whitespace) are not rows: they are skipped and not counted. docs/ingest.md "What the readers accept
and reject" lists every reject code and refusal.

This module holds the entry point and the CSV reader; ``listener.ingest.text`` decodes text,
``listener.ingest.json_records`` reads JSON and NDJSON, ``listener.ingest.sheets`` reads workbooks.
"""

from __future__ import annotations

import csv
import itertools
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from listener.core.errors import UserError
from listener.ingest import json_records, sheets
from listener.ingest.rows import (
    DEFAULT_LIMITS,
    NUL_REASON,
    REJECT_CODES,
    SURROGATE,
    TITLE_LOOKAHEAD,
    TITLE_MAX_NAMES,
    FileRefused,
    HeaderEcho,
    ReadLimits,
    Row,
    clean_headers,
    header_problem,
    junk_finder,
    mark_totals_row,
    text_needs_tidy,
    tidy_fields,
    title_refusal,
)
from listener.ingest.text import Decoded, decode, refuse_binary

__all__ = ["DEFAULT_LIMITS", "FORMATS", "REJECT_CODES", "FileRefused", "ReadLimits", "Row",
           "clean_headers", "detect_format", "iter_rows", "read_rows", "shown", "sniff_format"]

FORMATS = ("csv", "xlsx", "xls", "json", "ndjson")


def shown(path: Path | str) -> str:
    """A path as text that PostgreSQL and JSON can hold: a file name that is not UTF-8 (a
    ZIP made on Windows, an old Mac disk: Python keeps its bytes as lone surrogates, which
    failed the run with a DataError) is read as Windows-1252, as such names mostly are."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text).decode("cp1252", "replace")
    return text


def detect_format(path: Path, explicit: str | None = None) -> str:
    """The file's format from ``--format`` or its extension."""
    if explicit:
        if explicit not in FORMATS:
            raise UserError(f"unknown format {explicit!r}; use one of {', '.join(FORMATS)}")
        return explicit
    suffix = path.suffix.lower().lstrip(".")
    aliases = {"jsonl": "ndjson", "txt": "csv", "tsv": "csv"}
    fmt = aliases.get(suffix, suffix)
    if fmt not in FORMATS:
        raise UserError(f"{shown(path)}: cannot tell the format from '.{suffix}'; pass --format")
    return fmt


_WORKBOOK_MAGIC = ((b"PK", "xlsx"), (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "xls"))
_SNIFF_BYTES = 1 << 16
# control bytes no text export holds (tab, line ends, form feed and a DOS end mark aside)
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0e-\x19\x1b-\x1f]")


def _is_text(data: bytes) -> bool:
    """Whether a file is text: a byte-order mark, or no control byte in its first 64 KiB."""
    return data.startswith(_TEXT_BOMS) or _BINARY.search(data, 0, _SNIFF_BYTES) is None


_TEXT_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def sniff_format(data: bytes, fmt: str) -> tuple[str, str | None]:
    """The format of a file whose name said ``fmt``, by what it holds, and a note when that
    is another: a workbook named .csv, a CSV or TSV named .xls (many systems' "Export to
    Excel" writes one), JSON named .csv or .txt. Only when the content leaves no doubt;
    anything else keeps the name's format (and its reader says what is wrong). ``--format``
    is never second-guessed: the caller does not ask then."""
    for magic, kind in _WORKBOOK_MAGIC:
        if data.startswith(magic):
            if fmt in ("xlsx", "xls"):
                return fmt, None    # the workbook reader tells the two kinds apart itself
            return kind, f"read as an {kind.upper()} workbook, which the file is"
    if fmt not in ("xlsx", "xls", "csv") or not data or not _is_text(data):
        return fmt, None
    start = data[:_SNIFF_BYTES]
    for bom in _TEXT_BOMS:
        if start.startswith(bom):
            start = start[len(bom):].decode("utf-16" if len(bom) == 2 else "utf-8",
                                            "ignore").encode()
            break
    lead = start.lstrip()[:1]
    if lead in (b"[", b"{"):
        return "json", f"read as JSON, which the file is, not {fmt.upper()}"
    first_line = start.lstrip().split(b"\n", 1)[0]
    if fmt == "csv" or lead == b"<" or not any(d.encode() in first_line for d in _DELIMITERS):
        # a web page or an XML spreadsheet (the workbook reader names it), or text with no
        # table in it (a PDF's first line): the name's format, and its reader's refusal
        return fmt, None
    return "csv", f"read as CSV text, which the file is, not an {fmt.upper()} workbook"


def read_rows(
    data: bytes,
    fmt: str,
    encoding: str | None = None,
    *,
    limits: ReadLimits = DEFAULT_LIMITS,
    records_key: str | None = None,
) -> list[Row]:
    """Every non-blank data row of a file, or ``FileRefused``; see the module docstring.

    ``encoding`` applies to the text formats when the file has no byte-order mark (default
    UTF-8); ``records_key`` names the member of a top-level JSON object that holds the
    records; ``limits`` bound what a file may cost.
    """
    return list(iter_rows(data, fmt, encoding, limits=limits, records_key=records_key))


def iter_rows(
    data: bytes,
    fmt: str,
    encoding: str | None = None,
    *,
    limits: ReadLimits = DEFAULT_LIMITS,
    records_key: str | None = None,
) -> Iterator[Row]:
    """``read_rows``' rows as they are read. Workbooks stream (memory follows a chunk of
    the sheet, not the sheet); a ``FileRefused`` may then come after some rows, and whoever
    consumes them must drop those."""
    if fmt in ("xlsx", "xls"):
        return mark_totals_row(sheets.read_spreadsheet(data, limits))
    if fmt not in ("csv", "json", "ndjson"):
        raise FileRefused(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    refuse_binary(data, fmt)
    doc = decode(data, encoding)
    if fmt == "csv":
        return mark_totals_row(iter(read_csv(doc)))
    if fmt == "json":
        return iter(json_records.read_json(doc, limits, records_key))
    return iter(json_records.read_ndjson(doc, limits))


# --- CSV ------------------------------------------------------------------------------------

# A line ends at \n, \r\n or a lone \r (old Mac exports; files mixing them are read as-is).
_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_DELIMITERS = (",", "\t", ";", "|")
_SEP_HINT = re.compile(r"sep=([^\r\n])\s*")
# Re-reading after broken quotes may cover each line a few times, never without bound.
_RESCAN_LINES = 4


@dataclass
class _Record:
    """One CSV record: the lines it covers (0-based) and its fields, or why its quote broke."""

    first: int
    last: int
    fields: list[str] | None
    code: str = ""                  # the reject code when fields is None
    problem: str = ""
    ends_file: bool = False         # its quote is still open where the file ends


class _CsvRecords:
    """The records of a CSV text under the quote rule.

    A field that begins with a quote ends at a quote followed by the delimiter, a line end or
    the end of the file (RFC 4180; a doubled quote inside is a literal quote), so a quoted
    field may run over several lines, as Airtable's notes do. A quote breaks that rule when
    the file ends inside it, when the quote that closes it is followed by other text, or when
    the record it makes runs over several lines but has not the header's number of fields.
    Then the quote is taken as a stray: the line it opened on is rejected
    ``unbalanced_quote`` and reading starts again on the next line, so the lines it would
    have swallowed are read as the rows they are. Lines read again this way that lie inside
    the broken quote's reach and have not the header's number of fields are rejected too
    (they are the rest of the broken field). Why: one stray quote must not hide the rest of
    the file (issue 15 found "read 1" for a whole export), and rejecting every line it would
    have swallowed would set aside good rows for one typo.
    """

    def __init__(self, lines: list[str], delimiter: str) -> None:
        self.lines = lines
        self.delimiter = delimiter
        self.width: int | None = None      # the header's number of fields, once read
        self.reach = (-1, -1)              # (first, last) line of the broken quotes' reach
        self._rescanned = 0

    def __iter__(self) -> Iterator[_Record]:
        start, total = 0, len(self.lines)
        while start < total:
            # skipinitialspace: a quoted field after ", " (a file typed or written by hand,
            # "1, "Lee, Ann", a@x.org") is the quoted field; it was split at its comma and
            # the row rejected malformed
            reader = csv.reader(map(self.lines.__getitem__, range(start, total)),
                                delimiter=self.delimiter, strict=True, skipinitialspace=True)
            done = start                    # lines before the record being read
            try:
                for fields in reader:
                    first, last = done, start + reader.line_num - 1
                    done = last + 1
                    if last > first and self.width is not None and len(fields) != self.width:
                        yield self._broken(first, last, "unbalanced_quote", (
                            f"the quoted field that opens on line {first + 1} runs to line "
                            f"{last + 1} and leaves {len(fields)} fields where the header "
                            f"has {self.width}"))
                        start = first + 1
                        break
                    yield _Record(first, last, fields)
                else:
                    return
            except csv.Error as exc:
                last = start + reader.line_num - 1
                broken = self._broken(done, max(done, last), *self._quote_problem(done, last, exc))
                broken.ends_file = "end of data" in str(exc)
                yield broken
                start = done + 1

    @staticmethod
    def _quote_problem(first: int, last: int, exc: csv.Error) -> tuple[str, str]:
        """(reject code, reason) for the record that opens on line ``first``; the csv module
        says what went wrong only in its message."""
        if "end of data" in str(exc):
            return "unbalanced_quote", (f"a quote opens a field on line {first + 1} and the "
                                        "file ends inside it")
        if "expected after" in str(exc):
            return "unbalanced_quote", (
                f"the quoted field that opens on line {first + 1} is closed on line "
                f"{last + 1} by a quote followed by other text (a stray or unescaped quote)")
        return "malformed", f"line {first + 1} is not readable as CSV ({exc})"

    def _broken(self, first: int, last: int, code: str, problem: str) -> _Record:
        """The record of a broken quote; refuses a file that would be re-read without end."""
        self._rescanned += last - first + 1
        if self._rescanned > _RESCAN_LINES * len(self.lines) + 10_000:
            raise FileRefused(
                f"line {first + 1}: too many broken quotes to read this file reliably "
                f"({problem}); fix the quoting and export again")
        # A quote broken inside the reach of an earlier one extends that reach.
        self.reach = ((self.reach[0], max(self.reach[1], last)) if first <= self.reach[1]
                      else (first, last))
        return _Record(first, last, None, code,
                       f"{problem}; the line is set aside and reading goes on at line "
                       f"{first + 2}")

    def in_reach(self, record: _Record) -> bool:
        """Whether ``record`` starts inside the reach of the last broken quote."""
        return self.reach[0] < record.first <= self.reach[1]


def _strip_eol(text: str) -> str:
    """``text`` without its one line ending."""
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith(("\n", "\r")):
        return text[:-1]
    return text


_QUOTED = re.compile(r'"[^"]*"')


def _delimiter(first_line: str) -> str:
    """The delimiter the header line uses most outside its quoted names: comma, tab,
    semicolon or pipe (comma on a tie, or for a one-column file). (Counted inside them too,
    a semicolon file whose names hold commas, "Name (Last, First)", was split at the commas.)"""
    line = _QUOTED.sub("", first_line) if '"' in first_line else first_line
    counts = {d: line.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _encoding_label(doc: Decoded) -> str:
    return "UTF-8" if doc.encoding == "utf-8" else doc.encoding


def _header(doc: Decoded, lines: list[str], record: _Record) -> list[str]:
    """The header's column names, or a refusal naming the byte that makes it unreadable."""
    if record.fields is None:
        raise FileRefused(f"line {record.first + 1}: the header cannot be read: "
                          f"{record.problem.split(';')[0]}; fix the quoting and export again")
    text = "".join(lines[record.first:record.last + 1])
    before = doc.bom + len(doc.raw("".join(lines[:record.first])))
    bad = doc.bad_byte(text)
    if bad is not None:
        raise FileRefused(
            f"line {record.first + 1}, byte offset {before + bad[0]}: the header has a byte "
            f"(0x{bad[1]:02X}) that is not valid {_encoding_label(doc)}; pass --encoding with "
            "the file's encoding (for example cp1252) or export it as UTF-8")
    problem = header_problem(record.fields)
    if problem == "a NUL character":
        offset = before + len(doc.raw(text[:text.index("\x00")]))
        raise FileRefused(
            f"line {record.first + 1}, byte offset {offset}: the header contains a NUL byte, "
            "as UTF-16 text read as UTF-8 does; pass --encoding utf-16-le (or utf-16-be) or "
            "export it as UTF-8")
    if problem:
        raise FileRefused(f"line {record.first + 1}: the header contains {problem}; export "
                          "the file as UTF-8")
    return clean_headers(record.fields)


def _text_reject(doc: Decoded, row: Row, text: str) -> bool:
    """Reject ``row`` when its text holds an undecodable byte, a NUL or a lone surrogate."""
    match = SURROGATE.search(text)
    if match is not None and "\udc00" <= match.group() <= "\udcff":
        offset, value = doc.bad_byte(text) or (0, 0)
        row.reject_code = "undecodable"
        row.reject_reason = (
            f"byte 0x{value:02X} at byte {offset} of the row is not valid "
            f"{_encoding_label(doc)}; export as UTF-8 or pass --encoding (for example cp1252)")
        return True
    if "\x00" in text:
        row.reject_code, row.reject_reason = "nul_character", NUL_REASON
        return True
    if match is not None:
        row.reject_code = "lone_surrogate"
        row.reject_reason = (f"contains a lone surrogate (U+{ord(match.group()):04X}) that no "
                             "UTF-8 text can hold")
        return True
    return False


@dataclass
class _Table:
    """What the rows of a CSV are read against: the header's names, the pattern that finds a
    row to tidy, and the header's echo."""

    headers: list[str]
    junk: re.Pattern[str] | None    # None: the file holds nothing to tidy
    echo: HeaderEcho
    header_line: int


def _csv_row(doc: Decoded, lines: list[str], record: _Record, table: _Table,
             records: _CsvRecords) -> Row | None:
    """The row of one record after the header, or None for a blank one."""
    number = record.first + 1
    if record.fields is None:
        # a quote opened on the file's last line, still open where it ends without a line
        # end: the file was cut off inside this row (ingest keys the reject so that the
        # whole row corrects it; a stray quote further up is no cut)
        return Row(number, doc.raw(_strip_eol(lines[record.first])),
                   reject_code=record.code, reject_reason=record.problem,
                   cut_off=(record.ends_file and record.first == len(lines) - 1
                            and not lines[-1].endswith(("\n", "\r"))))
    fields = record.fields
    if not any(f.strip() for f in fields):
        return None
    text = _strip_eol(lines[record.first] if record.first == record.last
                      else "".join(lines[record.first:record.last + 1]))
    row = Row(number, doc.raw(text))
    if _text_reject(doc, row, text):
        return row
    width = len(table.headers)
    if len(fields) != width and records.in_reach(record):
        row.reject_code = "unbalanced_quote"
        row.reject_reason = (
            f"line {number} lies inside the broken quote of line {records.reach[0] + 1} and "
            f"has {len(fields)} fields where the header has {width}: probably the rest of "
            "that field")
        return row
    if len(fields) > width and any(f.strip() for f in fields[width:]):
        row.reject_code = "malformed"
        row.reject_reason = f"row has {len(fields)} fields but the header has {width}"
        return row
    # (a record over several lines has a line break in a field, perhaps at its end)
    if record.last > record.first or (table.junk is not None and table.junk.search(text)):
        fields = tidy_fields(fields)
        if not any(fields):        # nothing but characters that print as nothing
            return None
    if len(fields) < width:  # exports drop trailing empty fields
        # ... but the file's last line, short of the header and without a line end, is a
        # file cut off inside that row (an upload interrupted): padded, it was staged as a
        # version of its record with its last values cut or empty, and processed as such
        row.cut_off = (record.last == len(lines) - 1
                       and not lines[record.last].endswith(("\n", "\r")))
        fields = fields + [""] * (width - len(fields))
    if table.echo.may_repeat(fields):
        echo = table.echo.check(fields, f"line {number}", f"line {table.header_line}")
        if echo is not None:
            row.reject_code, row.reject_reason = "malformed", echo
            return row
    row.payload = dict(zip(table.headers, fields[:width], strict=True))
    return row


def _fields(line: str) -> list[str]:
    """The fields of one line, split by its own most frequent delimiter."""
    try:
        return next(csv.reader([_strip_eol(line)], delimiter=_delimiter(line),
                               skipinitialspace=True), [])
    except csv.Error:
        return []


def _refuse_title(lines: list[str], header: _Record) -> None:
    """Refuse a header of one or two names above a table: a title (``title_refusal``). The
    table is two lines in a row of the next few that hold values past the header's last
    field, with as many fields as each other (the real header and its first row); or, for a
    header of one name padded with delimiters as wide as the table, two lines in a row that
    hold two values or more. Each line is split by its own delimiter, so a semicolon table
    below a title line without one is seen too."""
    if header.fields is None:
        return
    named = [f for f in header.fields if f.strip()]
    if not named or len(named) > TITLE_MAX_NAMES:
        return
    width = len(header.fields)
    after = [(i, _fields(line)) for i, line in enumerate(lines[header.last + 1:],
                                                         start=header.last + 1)
             if line.strip()][:TITLE_LOOKAHEAD]
    for (i, fields), (_, below) in itertools.pairwise(after):
        wider = (len(fields) == len(below) and any(f.strip() for f in fields[width:])
                 and any(f.strip() for f in below[width:]))
        padded = (len(named) == 1 and sum(1 for f in fields if f.strip()) >= 2
                  and sum(1 for f in below if f.strip()) >= 2)
        if wider or padded:
            raise title_refusal(f"line {header.first + 1}", named, f"line {i + 1}", fields)


def read_csv(doc: Decoded) -> list[Row]:
    """Rows of a CSV (or TSV) text; the first non-blank record is the header."""
    text = doc.text[:-1] if doc.text.endswith("\x1a") else doc.text  # DOS end-of-file mark
    lines: list[str] = _LINES.findall(text)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise FileRefused("no header row: the file is empty")
    if lines[first].lstrip().startswith(("{", "[{", "[\n", "[\r")) or lines[first].strip() == "[":
        # a header names columns; this opens a JSON document (read as CSV, it was one
        # header of many odd names and no row: "read 0")
        raise FileRefused(f"line {first + 1}: the file holds JSON, not CSV; pass --format json "
                          "(or ndjson for one record a line)")
    delimiter = _delimiter(lines[first])
    hint = _SEP_HINT.fullmatch(lines[first])
    if hint:  # Excel's "sep=;" line names the delimiter; it is no header (nor a row)
        delimiter, lines[first] = hint.group(1), "\n"
    # Fields are as large as the text they sit in, which is already in memory.
    csv.field_size_limit(sys.maxsize)
    records = _CsvRecords(lines, delimiter)
    table: _Table | None = None
    rows: list[Row] = []
    for record in records:
        if table is None:
            if record.fields is not None and not any(f.strip() for f in record.fields):
                continue
            headers = _header(doc, lines, record)
            _refuse_title(lines, record)
            records.width = len(headers)
            assert record.fields is not None   # _header refuses a broken one
            # looked for in the whole text once (line ends left out): most files hold
            # nothing to tidy, and their rows are then not searched one by one
            ends = delimiter + "\r\n"
            table = _Table(headers, junk_finder(ends) if text_needs_tidy(text, ends) else None,
                           HeaderEcho(record.fields), record.first + 1)
            continue
        row = _csv_row(doc, lines, record, table, records)
        if row is not None:
            rows.append(row)
    if table is None:
        raise FileRefused("no header row: the file has only blank lines")
    return rows
