"""Export files into rows: CSV, XLSX/XLS, JSON and NDJSON, with the real exports' quirks.

A reader parses the whole file before anything is written, so a file that cannot be parsed
at all is refused whole. Row-level trouble (undecodable bytes, NUL characters, a line that
is not JSON, an element that is not an object) becomes a rejected row with its raw bytes;
the rest of the file goes through.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from listener.errors import UserError

FORMATS = ("csv", "xlsx", "xls", "json", "ndjson")


class FileRefused(UserError):
    """The file cannot be parsed at all; nothing from it is written."""


@dataclass
class Row:
    """One data row of a file: its payload, or why it was rejected, and its raw bytes."""

    row_number: int
    raw: bytes
    payload: dict[str, Any] | None = None
    record_id: str | None = None          # an id the container carried (Airtable's rec…)
    reject_code: str | None = None
    reject_reason: str | None = None


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
        raise UserError(f"{path}: cannot tell the format from '.{suffix}'; pass --format")
    return fmt


_SPACES = re.compile(r"\s+")


def clean_headers(headers: Sequence[Any]) -> list[str]:
    """Trim and collapse whitespace (exports have trailing and doubled spaces), name blank
    columns, and suffix repeated headers ``_1``, ``_2`` as ClinicHQ's exports need."""
    out: list[str] = []
    seen: dict[str, int] = {}
    for i, h in enumerate(headers, start=1):
        name = _SPACES.sub(" ", str(h if h is not None else "")).strip() or f"column_{i}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
            while name in seen:  # a literal "Fleas_1" already present
                name += "_"
        else:
            seen[name] = 0
        out.append(name)
    return out


_NUL_REASON = "contains a NUL character, which PostgreSQL text and JSONB cannot hold"
_SURROGATE = re.compile("[\udc80-\udcff]")


def _bad_byte_offset(fields: Sequence[str]) -> int | None:
    """Where the first undecodable byte (kept as a surrogate escape) sits, if any."""
    match = _SURROGATE.search("\x1f".join(fields))
    return match.start() if match else None


def _check_text(row: Row, fields: Sequence[str], encoding: str) -> bool:
    bad = _bad_byte_offset(fields)
    if bad is not None:
        row.reject_code = "undecodable"
        row.reject_reason = (
            f"bytes that are not valid {encoding} near character {bad}; "
            "re-export as UTF-8 or pass --encoding (for example cp1252)"
        )
        return False
    if any("\x00" in f for f in fields):
        row.reject_code = "nul_character"
        row.reject_reason = _NUL_REASON
        return False
    return True


def read_csv(data: bytes, encoding: str = "utf-8") -> Iterator[Row]:
    """Rows of a CSV file; the first row is the header."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode(encoding, errors="surrogateescape")
    except LookupError as exc:
        raise FileRefused(f"unknown encoding {encoding!r}") from exc
    csv.field_size_limit(64 * 1024 * 1024)
    try:
        sniff_sample = text[:4096]
        dialect: Any = csv.excel_tab if sniff_sample.count("\t") > sniff_sample.count(",") \
            else csv.excel
        rows = list(csv.reader(io.StringIO(text, newline=""), dialect))
    except csv.Error as exc:
        raise FileRefused(f"not a readable CSV file: {exc}") from exc
    if not rows or not any(h.strip() for h in rows[0]):
        raise FileRefused("no header row")
    headers = clean_headers(rows[0])
    for n, fields in enumerate(rows[1:], start=1):
        if not any(f.strip() for f in fields):
            continue
        raw = ",".join(fields).encode(encoding, errors="surrogateescape")
        row = Row(n, raw)
        if not _check_text(row, fields, encoding):
            yield row
            continue
        if len(fields) > len(headers) and any(f.strip() for f in fields[len(headers):]):
            row.reject_code = "malformed"
            row.reject_reason = f"row has {len(fields)} fields but the header has {len(headers)}"
            yield row
            continue
        padded = list(fields[: len(headers)]) + [""] * (len(headers) - len(fields))
        row.payload = dict(zip(headers, padded, strict=True))
        yield row


def _cell(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Spreadsheets store chip numbers and ids as floats: 9.8102e14 must stay digits.
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.strftime("%m/%d/%Y")
        return value.strftime("%m/%d/%Y %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%m/%d/%Y")
    if isinstance(value, dt.timedelta):
        return str(value)
    return str(value)


def read_spreadsheet(data: bytes) -> Iterator[Row]:
    """Rows of the first sheet of an XLSX/XLS workbook; the first row is the header."""
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        cells = book.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except Exception as exc:
        raise FileRefused(f"not a readable spreadsheet: {exc}") from exc
    if not cells or not any(str(c).strip() for c in cells[0]):
        raise FileRefused("no header row in the first sheet")
    headers = clean_headers(cells[0])
    width = len(headers)
    blank = [""] * width
    for n, values in enumerate(cells[1:], start=1):
        # The hot loop of a 300,000-line ClinicHQ export: keep it lean.
        fields = [v if type(v) is str else _cell(v) for v in values]
        joined = "\t".join(fields)
        if not joined.strip():
            continue
        row = Row(n, joined.encode("utf-8", errors="surrogatepass"))
        if "\x00" in joined:
            row.reject_code = "nul_character"
            row.reject_reason = _NUL_REASON
            yield row
            continue
        if len(fields) < width:
            fields += blank[len(fields):]
        row.payload = dict(zip(headers, fields[:width], strict=True))
        yield row


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _object_row(n: int, element: Any, raw: bytes) -> Row:
    row = Row(n, raw)
    if not isinstance(element, dict):
        row.reject_code = "not_an_object"
        row.reject_reason = f"expected a JSON object, found {type(element).__name__}"
        return row
    if _has_nul(element):
        row.reject_code = "nul_character"
        row.reject_reason = "contains a NUL character (\\u0000), which JSONB cannot hold"
        return row
    # Airtable's API wraps each record: {"id": "rec…", "createdTime": …, "fields": {…}}.
    if isinstance(element.get("fields"), dict) and isinstance(element.get("id"), str):
        row.payload = element["fields"]
        row.record_id = element["id"]
    else:
        row.payload = element
    return row


def _records_of(doc: Any) -> list[Any]:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict):
        for key in ("records", "data", "items", "results", "animals", "people", "events",
                    "submissions", "entries"):
            if isinstance(doc.get(key), list):
                return list(doc[key])
        lists = [v for v in doc.values() if isinstance(v, list)]
        if len(lists) == 1:
            return list(lists[0])
        return [doc]
    raise FileRefused("a JSON export must be an array of objects or an object holding one")


def read_json(data: bytes) -> Iterator[Row]:
    """Elements of a JSON array (or of the one array an API response object holds)."""
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise FileRefused(f"not UTF-8 JSON: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise FileRefused(f"not valid JSON: {exc}") from exc
    for n, element in enumerate(_records_of(doc), start=1):
        raw = json.dumps(element, ensure_ascii=False).encode("utf-8", errors="surrogatepass")
        yield _object_row(n, element, raw)


def read_ndjson(data: bytes) -> Iterator[Row]:
    """One JSON object per line; a bad line is rejected, the others go through."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for n, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            element = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            yield Row(n, line, reject_code="undecodable",
                      reject_reason=f"line is not valid UTF-8 at byte {exc.start}")
            continue
        except json.JSONDecodeError as exc:
            yield Row(n, line, reject_code="malformed", reject_reason=f"not JSON: {exc}")
            continue
        yield _object_row(n, element, line)


def read_rows(data: bytes, fmt: str, encoding: str = "utf-8") -> list[Row]:
    """Parse a whole file into rows (or refuse it) before anything is written."""
    if fmt == "csv":
        return list(read_csv(data, encoding))
    if fmt in ("xlsx", "xls"):
        return list(read_spreadsheet(data))
    if fmt == "json":
        return list(read_json(data))
    if fmt == "ndjson":
        return list(read_ndjson(data))
    raise UserError(f"unknown format {fmt!r}")
