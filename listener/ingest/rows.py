"""What every reader returns: one ``Row`` per data row of a file, or ``FileRefused`` for the
whole file, within the ``ReadLimits``. The per-format readers live in
``listener.ingest.readers`` (CSV), ``listener.ingest.json_records`` and
``listener.ingest.sheets``; see docs/ingest.md "What the readers accept and reject"."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from listener.core.errors import UserError


class FileRefused(UserError):
    """The file cannot be read at all; nothing from it is written. Its message is one line
    that names where the trouble is (line, byte offset or sheet cell) and what to do."""


@dataclass(slots=True)
class Row:
    """One data row of a file: its payload, or why it was rejected, and its raw bytes.

    ``row_number`` is where a person finds the row: the line its record starts on in a CSV or
    NDJSON file (the header is line 1), the row number Excel shows for a sheet, the 1-based
    index of the element in a JSON array."""

    row_number: int
    raw: bytes
    payload: dict[str, Any] | None = None
    record_id: str | None = None          # an id the container carried (Airtable's rec…)
    reject_code: str | None = None
    reject_reason: str | None = None
    # the headers of a sheet row's formula cells that hold no saved value (read blank): a
    # workbook written by a program that does not calculate (openpyxl, pandas)
    unsaved_formulas: tuple[str, ...] = ()
    # the file ends inside this row (an upload or a copy interrupted): a CSV's last line with
    # no line end and fewer fields than the header (its payload holds what it has; ingest
    # rejects it under its record id) or a quote still open there, an NDJSON last line that
    # is no JSON (rejected by the reader: ingest keys it by its bytes as a prefix). Either
    # way the whole file sent again corrects the reject
    cut_off: bool = False


@dataclass(frozen=True)
class ReadLimits:
    """How much a file may ask of the readers before it is refused.

    The defaults take ClinicHQ's largest real exports (about 300,000 rows of about 60
    columns, docs/research/atlas-data.md §5) with room to spare and keep a hostile file from
    costing more
    than its real content: the spreadsheet readers stream, so memory follows the rows a
    sheet really has, and these limits bound that."""

    # Highest sheet row that may hold a value (Excel itself stops at 1,048,576).
    max_sheet_rows: int = 1_000_000
    # Highest sheet column that may hold a value (Excel stops at 16,384, column XFD).
    max_sheet_columns: int = 1_024
    # Data rows x header columns of a sheet: each is a slot in a payload (~30 bytes).
    max_sheet_cells: int = 20_000_000
    # Bytes any one part of a workbook may inflate to (a decompression bomb).
    max_unzipped_bytes: int = 1 << 30
    # Text a sheet's rows may add up to (each row keeps its raw text): one shared string
    # repeated in a million cells is a bomb too. The atlas appointment export at 58 columns
    # (317,941 rows) holds 31 MB.
    max_text_bytes: int = 192 << 20
    # Nesting of a JSON record: {"a": {"b": 1}} is 2 deep. ShelterLuv's records are 3.
    max_json_depth: int = 64


DEFAULT_LIMITS = ReadLimits()

# Every reject code a reader gives (ingest adds oversized and missing_id); docs/ingest.md "What the
# readers accept and reject" says when each is given.
REJECT_CODES = ("undecodable", "nul_character", "lone_surrogate", "too_deep",
                "unbalanced_quote", "malformed", "not_an_object")

NUL_REASON = "contains a NUL character, which PostgreSQL text and JSONB cannot hold"
# Undecodable bytes are kept in the decoded text as U+DC00 + byte (listener.ingest.text).
UNDECODABLE = re.compile("[\udc00-\udcff]")
SURROGATE = re.compile("[\ud800-\udfff]")


def surrogate_reason(text: str) -> str | None:
    """Why ``text`` holds a lone surrogate (a UTF-16 half that no UTF-8 can carry), if it
    does: PostgreSQL and the row hash need real characters."""
    match = SURROGATE.search(text)
    if match is None:
        return None
    return (f"contains a lone surrogate (U+{ord(match.group()):04X}), half of a UTF-16 pair "
            "that no UTF-8 text can hold")


_SPACES = re.compile(r"\s+")

# --- cell values as spreadsheets, web pages and Excel-minded exporters leave them ------------

# Characters that print as nothing: pasted from a web page, a PDF or a word processor they
# sit in or around a value and make it another value to every reader downstream
# ("ana@example.org" + U+200B is no email address, "116" after U+200B another record id);
# a byte-order mark in mid-file starts a second export appended to the first. Joiners
# (U+200C, U+200D) are kept: emoji and some scripts are written with them.
_INVISIBLE = ("\u00ad\u180e\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
              "\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff")
# Spaces other than the ASCII one (no-break, narrow, thin, ideographic…): a space to a
# person, but not to PostgreSQL's btrim, so "ben@example.org" + U+00A0 read as no email.
_SPACELIKE = ("\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
              "\u2009\u200a\u202f\u205f\u3000")
_TIDY = str.maketrans({**dict.fromkeys(_INVISIBLE), **dict.fromkeys(_SPACELIKE, " ")})
# Whitespace the SQL readers do not trim (btrim takes spaces only): a tab, a line break
# left at the end of a cell (Alt+Enter), a vertical tab, the separators U+001C-U+001F.
_EDGE_SPACE = "\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029"
# A number written for Excel to keep as text: a leading apostrophe ('01234), which Excel
# hides and other tools export, and the formula ="01234", which keeps its leading zeros
# through Excel's CSV import and which reporting tools write for ids, ZIP codes and phones.
_APOSTROPHE_NUMBER = re.compile(r"'[\d(+][\d\s()+./-]*")
_EXCEL_TEXT = re.compile(r'="(.*)"', re.DOTALL)


def junk_finder(leave_out: str = "") -> re.Pattern[str]:
    """A pattern that finds, in a row's text, anything ``tidy_value`` would change but for
    spaces at a value's ends (which every reader trims): most rows hold none, and only those
    that do are tidied. The characters of ``leave_out`` are not looked for: a whitespace
    delimiter (a tab), or every row of a TSV would match; line ends, for a whole file."""
    spaces = "".join(c for c in _EDGE_SPACE if c not in leave_out)
    return re.compile(f"[{re.escape(_INVISIBLE + _SPACELIKE + spaces)}]|=\"|'[\\d(+]")


def tidy_value(value: str) -> str:
    """A cell's value as a person reads it: the characters that print as nothing dropped,
    other spaces made ASCII ones, trimmed (the row hash trims too, so a row is the row it
    was), and a number written for Excel as text (``="01234"``, ``'01234``) its digits."""
    value = value.translate(_TIDY).strip()
    if value[:2] == '="':
        text = _EXCEL_TEXT.fullmatch(value)
        if text:
            value = text[1].replace('""', '"').strip()
    if value[:1] == "'" and _APOSTROPHE_NUMBER.fullmatch(value):
        value = value[1:]
    return value


def tidy_fields(fields: Sequence[str]) -> list[str]:
    """``tidy_value`` of each field."""
    return [tidy_value(f) if f else f for f in fields]


_ANY_JUNK = junk_finder()
_NUMBER_AFTER_APOSTROPHE = re.compile(r"'[\d(+]")


def text_needs_tidy(text: str, leave_out: str) -> bool:
    """Whether any row of a file's ``text`` may need tidying (``junk_finder(leave_out)``
    finds something), asked once per file so that a clean file's rows are not searched one
    by one. ASCII text (most files) is scanned for each character alone, which is many times
    faster than one expression of them all over a large export."""
    if not text.isascii():
        return junk_finder(leave_out).search(text) is not None
    controls = "".join(c for c in _EDGE_SPACE if c.isascii() and c not in leave_out)
    return (any(c in text for c in controls) or '="' in text
            or _NUMBER_AFTER_APOSTROPHE.search(text) is not None)


def needs_tidy(value: str) -> bool:
    """Whether ``tidy_value`` would change ``value`` but for trimming spaces: asked of
    every text cell of a workbook, so ASCII text (nearly all) is looked at without a
    regular expression: only a control character (a tab, a line break), or an apostrophe
    or an equals sign in front, is then anything to tidy."""
    if value.isascii():
        lead = value[:1]
        if lead == " ":
            lead = value.lstrip(" ")[:1]
        return lead in ("'", "=") or not value.isprintable()
    return _ANY_JUNK.search(value) is not None


def tidy_record(value: Any) -> Any:
    """A JSON record with ``tidy_value`` applied to every string value at any depth (keys
    are kept as they are: Airtable's ``"Internal Notes "`` is the field's name)."""
    if isinstance(value, str):
        return tidy_value(value) if needs_tidy(value) else value
    if isinstance(value, dict):
        return {k: tidy_record(v) for k, v in value.items()}
    if isinstance(value, list):
        return [tidy_record(v) for v in value]
    return value


def _echo_key(value: str) -> str:
    return " ".join(tidy_value(value).split()).casefold()


class HeaderEcho:
    """Tells a data row that repeats the header: two exports joined into one file (``cat``,
    copy and paste) or a report that repeats its header on every page. Staged, it was a record
    whose id is the id column's name, and whose fields are the column names.

    A row repeats the header when it holds two names or more, every value it holds is one of
    the header's names (in any case and spacing), and it holds at least half of them."""

    def __init__(self, header: Sequence[str]) -> None:
        self.keys = [_echo_key(h) for h in header]
        self.names = {k for k in self.keys if k}
        self.first = next((i for i, k in enumerate(self.keys) if k), 0)
        # what a value that is a header name looks like, trimmed and lower-cased: read for
        # every row, so without tidying it first (a name written with doubled spaces, as
        # the header has them, is here as it is)
        self._looks = self.names | {h.strip().casefold() for h in header}

    def may_repeat(self, fields: Sequence[str]) -> bool:
        """Whether a row may repeat the header: its value in the header's first named
        column is one of the names. Read for every row, and false for nearly every one."""
        lead = fields[self.first] if self.first < len(fields) else ""
        return bool(lead) and lead.strip().casefold() in self._looks

    def check(self, fields: Sequence[str], where: str, header_where: str) -> str | None:
        """The reject reason of a row that repeats the header in its order (``where`` says
        where the row is), None for any other row; refuses the file when the row holds the
        header's names in another order, since the rows after it are laid out by it."""
        if len(self.names) < 2 or not self.may_repeat(fields):
            return None
        keys = [_echo_key(f) if f else "" for f in fields]
        held = {k for k in keys if k}
        if len(held) < 2 or not held <= self.names or 2 * len(held) < len(self.names):
            return None
        if all(not k or (i < len(self.keys) and self.keys[i] == k)
               for i, k in enumerate(keys)):
            return (f"repeats the header row ({header_where}): two exports joined into one "
                    "file, or a header repeated on every page; not a record")
        raise FileRefused(
            f"{where} holds the header's column names in another order than {header_where}: "
            "two exports with different columns joined into one file; ingest each export "
            "as a file of its own")


def clean_headers(headers: Sequence[Any]) -> list[str]:
    """Trim and collapse whitespace (exports have trailing and doubled spaces), drop the
    characters that print as nothing (``tidy_value``), name blank columns, and suffix
    repeated headers ``_1``, ``_2`` as ClinicHQ's exports need. The names are unique, so no
    column can hide another in the payload (a literal ``Fleas_1`` after two ``Fleas``
    becomes ``Fleas_1_1``)."""
    out: list[str] = []
    taken: set[str] = set()
    repeats: dict[str, int] = {}
    for i, h in enumerate(headers, start=1):
        text = str(h if h is not None else "").translate(_TIDY)
        base = _SPACES.sub(" ", text).strip() or f"column_{i}"
        name = base
        while name in taken:
            repeats[base] = repeats.get(base, 0) + 1
            name = f"{base}_{repeats[base]}"
        taken.add(name)
        out.append(name)
    return out


def header_problem(cells: Sequence[str]) -> str | None:
    """Why a header cannot name columns (a NUL or a lone surrogate in it), if it cannot."""
    for cell in cells:
        if "\x00" in cell:
            return "a NUL character"
        if SURROGATE.search(cell):
            return "a lone surrogate"
    return None


def one_line(message: object) -> str:
    """A library's error message as one line, for a refusal or a reject reason."""
    return " ".join(str(message).split())


# A title and a date above the table ("Rescue Net export" / "Generated 2025-03-01") made the
# title the header: every row was then rejected `malformed`, or, padded with commas, staged
# under the keys "Rescue Net export", "column_2" with the real header among the rows. A
# title with a comma in it ("Exported from ShelterLuv on Jan 2, 2024") names two columns.
TITLE_LOOKAHEAD = 10
TITLE_MAX_NAMES = 2


def title_refusal(title_where: str, title: Sequence[str], table_where: str,
                  table: Sequence[str]) -> FileRefused:
    """The refusal of a file whose first non-blank row names one or two columns while the
    rows below it hold more: a title above the real header (or a header short of names)."""
    names = ", ".join(repr(v.strip()) for v in table if v.strip())
    said = ", ".join(repr(v.strip()) for v in title if v.strip())
    count = "one column" if len(title) == 1 else f"{len(title)} columns"
    return FileRefused(
        f"{title_where} ({said}) names {count}, but the table starts at {table_where} "
        f"({names}): delete the title lines above the header row (or save the table alone), "
        "or name every column in the header, and ingest again")


# A footer that sums the table is no record (Excel reports end with one).
_TOTALS = re.compile(r"(?:grand\s+)?(?:totals?|sum|count)\s*:?", re.IGNORECASE)


def is_totals_row(payload: dict[str, Any]) -> bool:
    """Whether a row is a totals footer: its first cell says Total (Totals, Grand Total, Sum,
    Count), and it is not the only non-empty cell of a one-column table."""
    values = list(payload.values())
    if len(values) < 2 or not isinstance(values[0], str):
        return False
    return bool(_TOTALS.fullmatch(values[0].strip()))


def mark_totals_row(rows: Iterator[Row]) -> Iterator[Row]:
    """``rows`` with the last one rejected when it is a totals footer (kept in
    ingest_rejects as ``malformed``, so it is counted, not lost, and never staged)."""
    held: Row | None = None
    for row in rows:
        if held is not None:
            yield held
        held = row
    if held is not None:
        if held.payload is not None and is_totals_row(held.payload):
            first = next(iter(held.payload.values()))
            held.payload = None
            held.reject_code = "malformed"
            held.reject_reason = (f"the last row starts with {first.strip()!r}: a totals "
                                  "row, not a record")
        yield held
