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


def clean_headers(headers: Sequence[Any]) -> list[str]:
    """Trim and collapse whitespace (exports have trailing and doubled spaces), name blank
    columns, and suffix repeated headers ``_1``, ``_2`` as ClinicHQ's exports need. The names
    are unique, so no column can hide another in the payload (a literal ``Fleas_1`` after two
    ``Fleas`` becomes ``Fleas_1_1``)."""
    out: list[str] = []
    taken: set[str] = set()
    repeats: dict[str, int] = {}
    for i, h in enumerate(headers, start=1):
        base = _SPACES.sub(" ", str(h if h is not None else "")).strip() or f"column_{i}"
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
# under the keys "Rescue Net export", "column_2" with the real header among the rows.
TITLE_LOOKAHEAD = 10


def title_refusal(title_where: str, title: str, table_where: str,
                  table: Sequence[str]) -> FileRefused:
    """The refusal of a file whose first non-blank row names one column while a later row
    and the one after it hold two values or more: a title above the real header."""
    names = ", ".join(repr(v.strip()) for v in table if v.strip())
    return FileRefused(
        f"{title_where} ({title.strip()!r}) names one column, but the table starts at "
        f"{table_where} ({names}): delete the title lines above the header row (or save the "
        "table alone) and ingest again")


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
