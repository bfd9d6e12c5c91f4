"""The readers on bad input, without PostgreSQL: every file of tests/corpus/files.toml, one
test per class of trouble (issue 15), and a property test that corrupts small valid exports
at random and checks that every record is still accounted for."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import subprocess
import sys
import tomllib
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listener.ingest.readers import (
    DEFAULT_LIMITS,
    REJECT_CODES,
    FileRefused,
    ReadLimits,
    Row,
    read_rows,
)
from tests.corpus import make_files as mk

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
FILES = CORPUS / "files"
CASES: list[dict[str, Any]] = tomllib.loads((CORPUS / "files.toml").read_text())["file"]


def read(name: str, fmt: str | None = None, **options: Any) -> list[Row]:
    fmt = fmt or Path(name).suffix.lstrip(".")
    return read_rows((FILES / name).read_bytes(), fmt, **options)


def check_rows(rows: list[Row]) -> None:
    """What holds for any rows a reader returns."""
    numbers = [r.row_number for r in rows]
    assert len(set(numbers)) == len(numbers), f"row numbers repeat: {numbers}"
    assert all(n >= 1 for n in numbers)
    for row in rows:
        assert isinstance(row.raw, bytes)
        if row.payload is None:
            assert row.reject_code in REJECT_CODES, row
            assert row.reject_reason and "\n" not in row.reject_reason
        else:
            assert row.reject_code is None and isinstance(row.payload, dict)
            text = json.dumps(row.payload, ensure_ascii=False)   # what ingest stages
            assert "\x00" not in text and "\\u0000" not in text
            text.encode("utf-8")                                  # no lone surrogate


def case_id(case: dict[str, Any]) -> str:
    options = [f"{k}={case[k]}" for k in ("encoding", "records_key", "limits") if k in case]
    return "-".join([case["name"], *options])


def test_the_corpus_covers_every_class() -> None:
    assert len(CASES) >= 30
    on_disk = {p.name for p in FILES.iterdir()}
    assert {c["name"] for c in CASES} <= on_disk
    assert on_disk <= {c["name"] for c in CASES}, "a corpus file without an expected outcome"
    produced = {code for c in CASES for code in c.get("rejects", {})}
    assert produced == set(REJECT_CODES)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_corpus_file(case: dict[str, Any]) -> None:
    options: dict[str, Any] = {}
    if "encoding" in case:
        options["encoding"] = case["encoding"]
    if "records_key" in case:
        options["records_key"] = case["records_key"]
    if "limits" in case:
        options["limits"] = ReadLimits(**case["limits"])
    if "refused" in case:
        with pytest.raises(FileRefused) as refused:
            read(case["name"], case["format"], **options)
        message = str(refused.value)
        assert case["refused"] in message
        assert "\n" not in message
        return
    rows = read(case["name"], case["format"], **options)
    check_rows(rows)
    assert len(rows) == case["rows"]
    assert Counter(r.reject_code for r in rows if r.reject_code) == case["rejects"]
    assert [r.row_number for r in rows if r.reject_code] == case.get("reject_rows", [])


# --- one test per class ---------------------------------------------------------------------

def test_a_stray_quote_hides_no_row() -> None:
    rows = read("csv_stray_quote_to_eof.csv")
    assert [r.payload["ID"] for r in rows if r.payload] == ["1", "3", "4", "5"]
    bad = next(r for r in rows if r.reject_code)
    assert (bad.row_number, bad.raw) == (3, b'2,"Bob,never closed')
    assert "line 3" in (bad.reject_reason or "") and "reading goes on at line 4" in (
        bad.reject_reason or "")


def test_quoted_multiline_fields_still_work_and_rows_are_numbered_by_line() -> None:
    rows = read("csv_airtable_multiline.csv")
    assert [r.row_number for r in rows] == [2, 5, 6]
    first = rows[0].payload or {}
    assert first["Case Info"] == 'Colony behind the barn.\r\nFeeder: Ann, "Mrs. A"\r\nCall first'
    assert rows[0].raw.startswith(b'rec1,"Colony') and rows[0].raw.endswith(b"Call first\",Open")


@pytest.mark.parametrize("name", ["csv_utf16le_bom.csv", "csv_utf16be_bom.csv",
                                  "csv_utf32le_bom.csv", "csv_utf32be_bom.csv"])
def test_a_byte_order_mark_decides_the_encoding(name: str) -> None:
    rows = read(name)
    assert rows[0].payload == {"ID": "1", "Name": "Café"}
    assert all(r.reject_code is None for r in rows)


def test_undecodable_bytes_reject_their_row_and_keep_its_bytes() -> None:
    rows = read("csv_undecodable_rows.csv")
    bad = [r for r in rows if r.reject_code == "undecodable"]
    assert [r.raw for r in bad] == [b"2,Caf\xe9", b"3,\xff\xfe"]
    assert "0xE9 at byte 5" in (bad[0].reject_reason or "")
    assert "--encoding" in (bad[0].reject_reason or "")


def test_a_header_that_cannot_be_decoded_is_refused_naming_the_byte() -> None:
    with pytest.raises(FileRefused, match=r"byte offset 10.*0xF3.*--encoding"):
        read("csv_cp1252_header.csv")
    with pytest.raises(FileRefused, match=r"byte offset 1: .*NUL.*--encoding utf-16-le"):
        read("csv_utf16le_no_bom.csv")
    assert read("csv_cp1252_header.csv", encoding="cp1252")[0].payload == {
        "ID": "1", "Dirección": "Calle 5", "Email": "a@x.org"}


def test_delimiters_and_line_ends() -> None:
    assert read("csv_semicolon.csv")[1].payload == {"ID": "2", "Name": "Bob", "Email": "b@x.org"}
    assert read("csv_tab.csv")[0].payload == {"ID": "1", "Name": "Ann", "Note": "has, commas"}
    rows = read("csv_mixed_line_endings.csv")
    assert [(r.row_number, (r.payload or {})["Name"]) for r in rows] == [
        (2, "Ann"), (3, "Bob"), (4, "Cy"), (5, "Di")]


def test_delimiters_inside_quoted_names_and_spaces_after_them() -> None:
    rows = read("csv_semicolon_commas_in_names.csv")
    assert rows[0].payload == {"ID": "1", "Name (Last, First)": "Lee, Ann",
                               "Address (Street, City, Zip)": "1 Main St, Napa, 94558"}
    assert [r.payload for r in read("csv_spaces_after_commas.csv")] == [
        {"ID": "1", "Name": "Lee, Ann", "Email": "a@x.org"},
        {"ID": "2", "Name": "Bob", "Email": "b@x.org"}]


def test_repeated_headers_never_hide_a_column() -> None:
    assert read("csv_duplicate_headers.csv")[0].payload == {
        "ID": "1", "Fleas": "Yes", "Fleas_1": "No", "Fleas_1_1": "Maybe", "column_5": "x"}


def test_values_as_web_pages_and_excel_leave_them_are_tidied() -> None:
    """No-break and zero-width spaces, a line break at a cell's end, and numbers written
    for Excel as text (="01234", '01234) are what a person reads: an email with a no-break
    space after it was no email to PostgreSQL, an id after a zero-width space another id."""
    rows = read("csv_invisible_characters.csv")
    assert [r.row_number for r in rows] == [2, 4, 6]   # line 5: nothing but invisibles
    assert [r.payload for r in rows] == [
        {"ID": "1", "Name": "Ann", "Email": "ann@x.org", "Phone": "(707) 555-1234",
         "Zip": "01234"},
        {"ID": "2", "Name": "Bob", "Email": "bob@x.org", "Phone": "7075551234",
         "Zip": "01234"},
        {"ID": "3", "Name": "O'Neil", "Email": "cy@x.org", "Phone": "'5'10", "Zip": ""}]
    assert rows[1].raw.startswith("\u200b2,Bob".encode())   # the file's bytes, as they were
    twice = read_rows(codecs.BOM_UTF8 * 2 + "ID,Na\u200bme\n1,Ann\n".encode(), "csv")
    assert twice[0].payload == {"ID": "1", "Name": "Ann"}   # a second mark, in the header
    sheet = read("xlsx_header_repeated.xlsx")
    assert sheet[-1].payload == {"ID": "2", "Name": "Bob"}
    doc = json.dumps([{"id": " 7\u00a0", "Internal Notes ": "\u200bnote\n",
                       "Microchips": [{"Id": "\ufeff985112000000101"}], "n": 1.5}])
    assert read_rows(doc.encode(), "json")[0].payload == {
        "id": "7", "Internal Notes ": "note", "Microchips": [{"Id": "985112000000101"}],
        "n": 1.5}


def test_a_repeated_header_is_told_from_rows_that_hold_a_header_name() -> None:
    """Only a row made of the header's names (half of them at least) repeats it."""
    rows = read_rows(b"Name,Status,Note\nStatus,Open,x\nAnn,Name,\nName,Status,\n", "csv")
    assert [r.reject_code for r in rows] == [None, None, "malformed"]
    assert "repeats the header row (line 1)" in (rows[2].reject_reason or "")
    one_column = read_rows(b"Name\nName\nAnn\n", "csv")
    assert [r.payload for r in one_column] == [{"Name": "Name"}, {"Name": "Ann"}]
    with pytest.raises(FileRefused, match="line 3 holds the header's column names in another"):
        read("csv_header_other_order.csv")


def test_a_header_of_two_names_is_no_title_when_the_rows_fit_it() -> None:
    """A title names one or two columns while the rows below it hold more; a table of two
    columns, or with unnamed columns the header is padded to, is read as it is."""
    two = read_rows(b"Name,Email\nAnn,a@x.org\nBob,b@x.org\n", "csv")
    assert [r.payload for r in two] == [{"Name": "Ann", "Email": "a@x.org"},
                                        {"Name": "Bob", "Email": "b@x.org"}]
    padded = read_rows(b"Name,Email,,\nAnn,a@x.org,n1,n2\nBob,b@x.org,n3,n4\n", "csv")
    assert padded[0].payload == {"Name": "Ann", "Email": "a@x.org", "column_3": "n1",
                                 "column_4": "n2"}
    with pytest.raises(FileRefused, match=r"row 1 \('People report', 'Generated 2024-01-02'\)"
                                          r" names 2 columns, but the table starts at row 3"):
        read("xlsx_title_two_cells.xlsx")


def test_json_records_with_bad_text_are_rejected_alone() -> None:
    rows = read("json_lone_surrogate.json")
    assert [r.reject_code for r in rows] == [None, "lone_surrogate", None]
    assert rows[1].raw == b'{"id": "2", "n": "bad \\ud800 half"}'


def test_json_nested_beyond_any_parser_keeps_the_other_elements() -> None:
    rows = read("json_deep_100k.json")
    assert [r.reject_code for r in rows] == [None, "too_deep", None]
    assert [(r.payload or {}).get("id") for r in rows] == ["1", None, "3"]
    assert rows[1].raw == b'{"id": "2", "deep": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def test_an_object_holding_two_arrays_is_refused_or_read_by_key() -> None:
    with pytest.raises(FileRefused, match="--records-key"):
        read("json_two_arrays.json")
    rows = read("json_two_arrays.json", records_key="animals")
    assert [r.payload for r in rows] == [{"id": "1"}]


def test_known_json_wrappers_still_unwrap() -> None:
    airtable = read("json_airtable.json")
    assert [(r.record_id, r.payload) for r in airtable] == [
        ("recA1", {"Case Number": "TR-1", "Internal Notes ": "trailing space kept"}),
        ("recA2", {"Case Number": "TR-2"})]
    shelterluv = read("json_shelterluv_wrapper.json")
    assert shelterluv[0].payload == {"Internal-ID": "1",
                                     "Microchips": [{"Id": "981020000000001"}]}


def test_ndjson_lines_are_rejected_one_by_one() -> None:
    rows = read("ndjson_mixed.ndjson")
    assert [(r.row_number, r.reject_code) for r in rows] == [
        (1, None), (2, "lone_surrogate"), (4, "nul_character"), (5, "too_deep"),
        (6, "malformed"), (7, "not_an_object"), (8, "malformed"), (9, "undecodable"),
        (11, None)]


def test_far_cells_cost_what_the_cells_are_not_the_rectangle() -> None:
    tracemalloc.start()
    try:
        rows = read("xlsx_far_cell_CV400000.xlsx")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [r.row_number for r in rows] == [2, 400000]
    assert "cell CV400000 holds a value" in (rows[1].reject_reason or "")
    assert peak < 20 << 20, f"{peak:,} bytes for two rows"


def test_the_far_corner_cell_neither_aborts_nor_allocates() -> None:
    # python-calamine aborted the process on this 1.6 kB file (issue 15); run it in a child
    # whose address space is capped, so a regression cannot take the test run down with it.
    code = ("import sys, resource; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30));"
            "from listener.ingest.readers import read_rows, FileRefused\n"
            "try:\n read_rows(open(sys.argv[1], 'rb').read(), 'xlsx')\n"
            "except FileRefused as e:\n print(e)")
    done = subprocess.run([sys.executable, "-c", code,
                           str(FILES / "xlsx_far_cell_XFD1048576.xlsx")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "cell XFD1048576: a value past the 1,000,000-row limit" in done.stdout


def test_sheet_limits_refuse_naming_the_cell() -> None:
    data = (FILES / "xlsx_plain.xlsx").read_bytes()
    with pytest.raises(FileRefused, match=r"cell A3: a value past the 2-row limit"):
        read_rows(data, "xlsx", limits=ReadLimits(max_sheet_rows=2))
    with pytest.raises(FileRefused, match=r"cell C1: a value past the 2-column limit"):
        read_rows(data, "xlsx", limits=ReadLimits(max_sheet_columns=2))
    with pytest.raises(FileRefused, match=r"row 3: more than 5 cells"):
        read_rows(data, "xlsx", limits=ReadLimits(max_sheet_cells=5))


def test_sheet_values_dates_formulas_and_escapes() -> None:
    dates = read("xlsx_dates.xlsx")[0].payload
    assert dates == {"ID": "1", "Date": "03/14/2025", "Stamp": "03/14/2025 12:00:00",
                     "Time": "10:30:00", "Qty": "12.5", "Iso": "03/14/2025", "Far": "99999999"}
    assert read("xlsx_dates_1904.xlsx")[0].payload == {"ID": "1", "Date": "03/14/2025"}
    formulas = [r.payload for r in read("xlsx_formulas.xlsx")]
    assert formulas == [{"ID": "1", "Total": "3", "Label": "ab"},
                        {"ID": "2", "Total": "", "Label": ""},
                        {"ID": "3", "Total": "#DIV/0!", "Label": "true"}]
    escaped = read("xlsx_escaped_controls.xlsx")
    assert escaped[0].payload == {"ID": "1", "Note": "line\rbreak"}
    shared = read("xlsx_shared_strings_count_lies.xlsx")
    assert shared[0].payload == {"ID": "rich text", "Name": ""}


def test_xls_values() -> None:
    rows = read("xls_plain.xls")
    assert [(r.row_number, r.payload) for r in rows] == [
        (2, {"Microchip": "981020000000001", "ID": "1001", "Seen": "03/14/2025"}),
        (4, {"Microchip": "981020000000002", "ID": "1002.5", "Seen": "text"})]


@pytest.mark.parametrize("name", ["xlsx_plain.xlsx", "xlsx_dates.xlsx", "xlsx_merged_cells.xlsx",
                                  "xlsx_prefixed_namespace.xlsx", "xlsx_lying_dimension.xlsx",
                                  "xlsx_no_references.xlsx", "xls_plain.xls"])
def test_the_streaming_reader_agrees_with_calamine(name: str) -> None:
    # python-calamine read every workbook before issue 15; where it is safe, the values
    # must not change. (One change is deliberate: calamine gave error cells such as #DIV/0!
    # as "", the readers keep the error's text; test_sheet_values checks it.)
    from python_calamine import CalamineWorkbook

    from listener.ingest.sheets import excel_date, number_text

    sheet = CalamineWorkbook.from_filelike(io.BytesIO((FILES / name).read_bytes()))
    grid = sheet.get_sheet_by_index(0).to_python()

    def text(value: Any) -> str:
        if isinstance(value, float):
            return number_text(value)
        if hasattr(value, "strftime") and hasattr(value, "year"):
            serial = (value - type(value)(1899, 12, 30)).total_seconds() / 86400 \
                if hasattr(value, "hour") else None
            return (excel_date(serial, False, "date") if serial is not None
                    else value.strftime("%m/%d/%Y")) or ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value) if value is not None else ""

    header, *body = grid
    expected = [dict(zip([str(h) for h in header], map(text, values), strict=False))
                for values in body if any(text(v).strip() for v in values)]
    got = [r.payload for r in read(name)]
    assert got == expected


def test_read_rows_refuses_an_unknown_format_and_keeps_its_contract() -> None:
    with pytest.raises(FileRefused, match="unknown format 'parquet'"):
        read_rows(b"x", "parquet")
    assert DEFAULT_LIMITS.max_sheet_rows >= 300_000 and DEFAULT_LIMITS.max_sheet_columns >= 60
    assert DEFAULT_LIMITS.max_sheet_cells >= 300_000 * 60


# --- the property test ----------------------------------------------------------------------

TOKEN = re.compile(r"R\d{4}")
WORDS = ["Ann", "Bob Ray", "Zoë", "café, bar", "line one\nline two", "O'Neil", "x", "", "5'10"]
ENCODINGS = [("utf-8", None, b""), ("utf-8", "utf-8", codecs.BOM_UTF8),
             ("utf-16-le", None, codecs.BOM_UTF16_LE), ("utf-16-be", None, codecs.BOM_UTF16_BE),
             ("utf-32-le", None, codecs.BOM_UTF32_LE), ("cp1252", "cp1252", b""),
             ("cp1252", None, b""), ("utf-16-le", None, b""), ("utf-16-le", "utf-16-le", b"")]
NASTY = [b'"', b",", b";", b"\t", b"\r", b"\n", b"\x00", b"\x1a", b"\xff", b"\xe9", b"\x80",
         b"\xed\xa0\x80", b"{", b"[", b"]", b"}", b"\\", b"\\ud800", b"<", b"&", b"PK"]


@st.composite
def corruption(draw: st.DrawFn, size: int) -> tuple[str, int, bytes]:
    """A byte-level corruption: (kind, position, bytes)."""
    kind = draw(st.sampled_from(["none", "insert", "delete", "replace", "truncate"]))
    pos = draw(st.integers(0, max(size - 1, 0)))
    what = draw(st.sampled_from(NASTY) | st.binary(min_size=1, max_size=3))
    return kind, pos, what


def corrupt(data: bytes, how: tuple[str, int, bytes]) -> bytes:
    kind, pos, what = how
    if kind == "insert":
        return data[:pos] + what + data[pos:]
    if kind == "delete":
        return data[:pos] + data[pos + len(what):]
    if kind == "replace":
        return data[:pos] + what + data[pos + len(what):]
    if kind == "truncate":
        return data[:pos]
    return data


@st.composite
def csv_case(draw: st.DrawFn) -> tuple[bytes, str, str | None, str, int]:
    n = draw(st.integers(1, 6))
    records = [[f"R{i:04d}", draw(st.sampled_from(WORDS)), draw(st.sampled_from(WORDS))]
               for i in range(n)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(["ID", "Name", "Note"])
    writer.writerows(records)
    codec, option, bom = draw(st.sampled_from(ENCODINGS))
    data = bom + out.getvalue().encode(codec)
    header_end = len(bom) + len("ID,Name,Note\n".encode(codec))
    return data, "csv", option, codec, header_end


def element(i: int, draw: st.DrawFn) -> dict[str, Any]:
    return {"id": f"R{i:04d}", "name": draw(st.sampled_from(WORDS)),
            "chips": [{"Id": "981020000000001"}], "n": {"a": [1, 2.5, True, None]}}


SPOILERS: list[tuple[str, Any]] = [
    ("lone_surrogate", "\ud800"), ("nul_character", "a\x00b"), ("too_deep", "deep"),
    ("too_deep", "very deep"), ("malformed", float("nan"))]


def spoil(value: dict[str, Any], how: Any) -> dict[str, Any]:
    if how == "deep":
        nested: Any = []
        for _ in range(70):
            nested = [nested]
        return {**value, "n": nested}
    if how == "very deep":
        return {**value, "n": "@DEEP@"}
    return {**value, "name": how}


def dump(doc: Any, indent: int | None) -> str:
    return json.dumps(doc, ensure_ascii=indent is None, indent=indent).replace(
        '"@DEEP@"', "[" * 3000 + "]" * 3000)


@st.composite
def json_case(draw: st.DrawFn) -> tuple[bytes, str, str | None, str, int, int | None]:
    """(data, format, encoding option, codec, header end, spoiled element or None)."""
    n = draw(st.integers(1, 6))
    elements = [element(i, draw) for i in range(n)]
    spoiled = draw(st.none() | st.integers(0, n - 1))
    if spoiled is not None:
        elements[spoiled] = spoil(elements[spoiled], draw(st.sampled_from(SPOILERS))[1])
    fmt = draw(st.sampled_from(["json", "ndjson"]))
    indent = draw(st.sampled_from([None, 1]))
    if fmt == "ndjson":
        text = "".join(dump(e, None) + "\n" for e in elements)
    else:
        shape = draw(st.sampled_from(["array", "wrapper", "airtable"]))
        doc: Any = elements if shape == "array" else {"success": 1, "animals": elements}
        if shape == "airtable":
            doc = {"records": [{"id": f"rec{i:05d}", "fields": e}  # one token per record
                               for i, e in enumerate(elements)]}
        text = dump(doc, indent)
    codec, option, bom = draw(st.sampled_from(ENCODINGS[:5]))
    return bom + text.encode(codec, "surrogatepass"), fmt, option, codec, 0, spoiled


def xlsx_case(draw: st.DrawFn) -> tuple[bytes, str, str | None, str, int, int | None]:
    n = draw(st.integers(1, 5))
    rows = [["ID", "Name"]] + [[f"R{i:04d}", draw(st.sampled_from(WORDS))] for i in range(n)]
    body = mk.rows_xml(rows)
    twist = draw(st.sampled_from(["none", "far", "nul", "surrogate", "dup", "no-refs", "swap",
                                  "dimension", "dtd"]))
    last = n + 1
    if twist == "far":
        body += f'<row r="{last + 5}">' + mk.cell(f"ZZ{last + 5}", "x") + "</row>"
    elif twist in ("nul", "surrogate"):
        body = body.replace("R0000", "R0000 _x0000_" if twist == "nul" else "R0000 _xD800_")
    elif twist == "dup":
        body = body.replace('</row><row r="3">', mk.cell("A2", "again") + '</row><row r="3">')
    elif twist == "no-refs":
        body = re.sub(r' r="[A-Z]*\d+"', "", body)
    elif twist == "swap" and n > 1:
        parts = body.split("</row>")
        parts[1], parts[2] = parts[2], parts[1]
        body = "</row>".join(parts)
    before = '<dimension ref="A1:XFD1048576"/>' if twist == "dimension" else ""
    prolog = '<!DOCTYPE x [<!ENTITY e "e">]>' if twist == "dtd" else ""
    data = mk.xlsx([("Sheet1", mk.sheet(body, before=before, prolog=prolog))])
    return data, "xlsx", None, "utf-8", 0, None


def tokens_in(data: bytes, codec: str) -> set[str]:
    """The record tokens whose encoded bytes are intact in ``data``."""
    return {f"R{i:04d}" for i in range(10) if f"R{i:04d}".encode(codec) in data}


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_corrupted_exports_lose_no_record(data: st.DataObject) -> None:
    """Corrupt a small valid export (one byte-level change, or one spoiled record) and read
    it: nothing but FileRefused may come out, and when rows do, every record token still
    intact in the file is in the raw bytes of some row (nothing vanished or was skipped),
    and no staged payload holds two tokens (no record swallowed by another: today's CSV
    reader staged a stray quote's whole tail as one row)."""
    fmt = data.draw(st.sampled_from(["csv", "csv", "json", "xlsx"]))
    spoiled = None
    if fmt == "csv":
        original, fmt, option, codec, header_end = data.draw(csv_case())
    elif fmt == "json":
        original, fmt, option, codec, header_end, spoiled = data.draw(json_case())
    else:
        original, fmt, option, codec, header_end, spoiled = xlsx_case(data.draw)
    how = data.draw(corruption(len(original)))
    if spoiled is not None:
        how = ("none", 0, b"")                     # one corruption at a time
    damaged = corrupt(original, how)
    try:
        rows = read_rows(damaged, fmt, option)
    except FileRefused as refused:
        assert "\n" not in str(refused)
        assert spoiled is None, f"a valid document with one bad record was refused: {refused}"
        return
    check_rows(rows)
    # A corruption that took a line break away (or put a quote where one was) joins two
    # lines into one record for real: two tokens in it are then the file's, not the reader's.
    newline = "\n".encode(codec)
    joined = damaged.count(newline) < original.count(newline)
    for row in rows:  # values only: a damaged header line may carry a token as a name
        if not joined:
            assert len(TOKEN.findall(json.dumps(list((row.payload or {}).values())))) <= 1, row
    if fmt == "xlsx":
        return
    if how[0] != "none" and how[1] <= header_end:
        return                                     # a damaged header may absorb a record
    unit = 4 if "32" in codec else 2 if "16" in codec else 1
    if how[0] in ("insert", "delete", "replace") and len(how[2]) % unit:
        return                # every later UTF-16/32 character shifted: nothing left to find
    missing = [t for t in tokens_in(damaged, codec)
               if not any(t.encode(codec) in r.raw for r in rows)]
    assert not missing, f"records vanished: {missing}"
    if spoiled is not None:
        assert len(rows) == len(tokens_in(original, codec))
        assert [r.reject_code is not None for r in rows].count(True) == 1
