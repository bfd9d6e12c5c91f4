"""Writes the bad-input corpus of ``tests/corpus/files/`` (checked in; ``files.toml`` says
what the readers must make of each file).

    .venv/bin/python tests/corpus/make_files.py      # rewrites every file, byte for byte

Text files are written from literals here; workbooks are built part by part (``xlsx``), so
that each hostile detail (a far cell, a lying dimension, a bomb, a DTD…) is exactly what
its name says; XLS files come from xlwt. The output is deterministic (fixed ZIP times).
"""

from __future__ import annotations

import codecs
import datetime as dt
import gzip
import io
import json
import struct
import zipfile
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from synthetic.xlsx import column_letters

OUT = Path(__file__).resolve().parent / "files"
NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
OFFICE_DOC = f"{REL_NS}/officeDocument"

PEOPLE = b"ID,Name,Email\r\n1,Ann,a@x.org\r\n2,Bob,b@x.org\r\n3,Cy,c@x.org\r\n"


# --- XLSX building blocks ---------------------------------------------------------------------

col = column_letters


def cell(ref: str, value: str, kind: str = "inlineStr", style: int | None = None) -> str:
    """One <c> element: an inline string, a number ("n"), a shared index ("s"), …"""
    s = f' s="{style}"' if style is not None else ""
    if kind == "inlineStr":
        return (f'<c r="{ref}" t="inlineStr"{s}><is><t xml:space="preserve">{escape(value)}'
                "</t></is></c>")
    t = "" if kind == "n" else f' t="{kind}"'
    return f'<c r="{ref}"{t}{s}><v>{escape(value)}</v></c>'


def rows_xml(rows: Sequence[Sequence[str]], first: int = 1) -> str:
    """<row> elements of inline-string cells; empty strings are left out."""
    out = []
    for r, values in enumerate(rows, start=first):
        cells = "".join(cell(f"{col(i)}{r}", v) for i, v in enumerate(values) if v != "")
        out.append(f'<row r="{r}">{cells}</row>')
    return "".join(out)


def sheet(body: str, before: str = "", after: str = "", prolog: str = "") -> str:
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n{prolog}'
            f'<worksheet xmlns="{NS}" xmlns:r="{REL_NS}">{before}<sheetData>{body}'
            f"</sheetData>{after}</worksheet>")


def xlsx(sheets: Sequence[tuple[str, str] | tuple[str, str, str]], *,
         shared: Sequence[str] | None = None, shared_xml: str | None = None,
         styles: str | None = None, date1904: bool = False,
         extra: dict[str, bytes] | None = None) -> bytes:
    """A workbook: sheets as (name, xml) or (name, xml, kind), optional shared strings and
    styles; ``extra`` parts are added (or replace) as they are."""
    rels = [f'<Relationship Id="rId{i}" Type="{REL_NS}/{s[2] if len(s) > 2 else "worksheet"}" '
            f'Target="worksheets/sheet{i}.xml"/>' for i, s in enumerate(sheets, start=1)]
    parts: dict[str, bytes] = {
        "[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="http://schemas.'
                               b'openxmlformats.org/package/2006/content-types"/>',
        "_rels/.rels": (f'<?xml version="1.0"?><Relationships xmlns="{PKG_REL}">'
                        f'<Relationship Id="rId1" Type="{OFFICE_DOC}" '
                        'Target="xl/workbook.xml"/></Relationships>').encode(),
    }
    pr = '<workbookPr date1904="1"/>' if date1904 else ""
    entries = "".join(f'<sheet name="{escape(s[0])}" sheetId="{i}" r:id="rId{i}"/>'
                      for i, s in enumerate(sheets, start=1))
    parts["xl/workbook.xml"] = (f'<?xml version="1.0"?><workbook xmlns="{NS}" '
                                f'xmlns:r="{REL_NS}">{pr}<sheets>{entries}</sheets></workbook>'
                                ).encode()
    n = len(sheets)
    if shared is not None or shared_xml is not None:
        rels.append(f'<Relationship Id="rId{n + 1}" Type="{REL_NS}/sharedStrings" '
                    'Target="sharedStrings.xml"/>')
        parts["xl/sharedStrings.xml"] = (shared_xml or (
            f'<?xml version="1.0"?><sst xmlns="{NS}" count="{len(shared or [])}">'
            + "".join(f"<si><t>{escape(s)}</t></si>" for s in shared or []) + "</sst>")
        ).encode()
    if styles is not None:
        rels.append(f'<Relationship Id="rId{n + 2}" Type="{REL_NS}/styles" '
                    'Target="styles.xml"/>')
        parts["xl/styles.xml"] = styles.encode()
    parts["xl/_rels/workbook.xml.rels"] = (f'<?xml version="1.0"?><Relationships '
                                           f'xmlns="{PKG_REL}">{"".join(rels)}</Relationships>'
                                           ).encode()
    for i, s in enumerate(sheets, start=1):
        parts[f"xl/worksheets/sheet{i}.xml"] = s[1].encode()
    parts.update(extra or {})
    return zip_parts(parts)


def zip_parts(parts: dict[str, bytes]) -> bytes:
    """The parts as a deterministic ZIP (fixed times, deflate level 9)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data, compresslevel=9)
    return buf.getvalue()


HEADER = ["Number", "Date", "Animal Name"]
DATA = [["25-1139", "03/14/2025", "Tux"], ["25-1140", "03/14/2025", "Luna"]]


def plain_sheet(extra_rows: str = "") -> str:
    return sheet(rows_xml([HEADER, *DATA]) + extra_rows)


STYLES = (f'<?xml version="1.0"?><styleSheet xmlns="{NS}"><numFmts count="2">'
          '<numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd\\ hh:mm"/>'
          '<numFmt numFmtId="165" formatCode="&quot;Qty &quot;0.0"/></numFmts>'
          '<cellStyleXfs count="1"><xf numFmtId="0"/></cellStyleXfs>'
          '<cellXfs count="5"><xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="164"/>'
          '<xf numFmtId="20"/><xf numFmtId="165"/></cellXfs></styleSheet>')


# --- XLS (BIFF) via xlwt ------------------------------------------------------------------------

def xls(sheets: Sequence[tuple[str, Sequence[Sequence[object]]]],
        far: tuple[int, int, str] | None = None) -> bytes:
    """An XLS workbook; values may be str, float or datetime (written as dates)."""
    import xlwt

    book = xlwt.Workbook()
    date_style = xlwt.easyxf(num_format_str="MM/DD/YYYY")
    for name, rows in sheets:
        ws = book.add_sheet(name)
        for r, values in enumerate(rows):
            for c, v in enumerate(values):
                if isinstance(v, dt.datetime):
                    ws.write(r, c, v, date_style)
                elif v != "":
                    ws.write(r, c, v)
        if far is not None and name == sheets[0][0]:
            ws.write(far[0], far[1], far[2])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def rename_cfb_stream(data: bytes, old: str, new: str) -> bytes:
    """Rename a stream in a compound file's directory (to fake an encrypted package)."""
    old_name = old.encode("utf-16-le")
    at = data.index(old_name + b"\x00\x00")
    name = new.encode("utf-16-le") + b"\x00\x00"
    entry = bytearray(data[at:at + 128])
    entry[0:64] = name.ljust(64, b"\x00")
    entry[64:66] = struct.pack("<H", len(name))
    return data[:at] + bytes(entry) + data[at + 128:]


def flag_encrypted(data: bytes) -> bytes:
    """Set the 'encrypted' bit of every ZIP entry (local headers and central directory)."""
    out = bytearray(data)
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = out.find(sig)
        while i >= 0:
            flags = struct.unpack_from("<H", out, i + off)[0]
            struct.pack_into("<H", out, i + off, flags | 1)
            i = out.find(sig, i + 4)
    return bytes(out)


# --- the corpus -------------------------------------------------------------------------------

def text_files() -> dict[str, bytes]:
    """CSV, JSON and NDJSON cases."""
    multiline = ('Record ID,Case Info,Status\r\n'
                 'rec1,"Colony behind the barn.\r\nFeeder: Ann, ""Mrs. A""\r\nCall first",Open\r\n'
                 'rec2,"One line, with a comma",Closed\r\n'
                 'rec3,"Two\nlines",Open\r\n')
    deep = "[" * 100_000 + "]" * 100_000
    files: dict[str, bytes] = {
        "csv_stray_quote_to_eof.csv":
            b'ID,Name,Note\n1,Ann,ok\n2,"Bob,never closed\n3,Cy,ok\n4,Di,ok\n5,Ed,ok\n',
        "csv_stray_quote_closed_later.csv":
            b'ID,Name,Note\n1,Ann,ok\n2,"Bob,stray\n3,Cy,ok\n4,Di,"quoted" tail\n5,Ed,ok\n',
        "csv_unescaped_inner_quotes.csv":
            b'ID,Name,Note\n1,Ann,"He said "hi" to me"\n2,Bob,ok\n',
        "csv_truncated_multiline.csv":
            b'ID,Name,Note\n1,Ann,ok\n2,Bob,"first line of a note\nsecond line, then the file ends',
        "csv_swallow_same_width.csv":
            b'ID,Name,Note\n1,"Ann,x\n2,Bob",y\n3,Cy,z\n',
        "csv_airtable_multiline.csv": multiline.encode(),
        "csv_utf16le_bom.csv": codecs.BOM_UTF16_LE + "ID,Name\r\n1,Café\r\n2,Zoë\r\n"
            .encode("utf-16-le"),
        "csv_utf16be_bom.csv": codecs.BOM_UTF16_BE + "ID,Name\n1,Café\n2,Zoë\n"
            .encode("utf-16-be"),
        "csv_utf32le_bom.csv": codecs.BOM_UTF32_LE + "ID,Name\n1,Café\n".encode("utf-32-le"),
        "csv_utf32be_bom.csv": codecs.BOM_UTF32_BE + "ID,Name\n1,Café\n".encode("utf-32-be"),
        "csv_utf8_bom_header_spaces.csv": codecs.BOM_UTF8 + b" ID ,Name  -  Last ,Email\n"
                                                            b"1,Ann,a@x.org\n",
        "csv_utf16le_no_bom.csv": "ID,Name\n1,Ann\n2,Bob\n".encode("utf-16-le"),
        "csv_cp1252_header.csv": "ID,Dirección,Email\n1,Calle 5,a@x.org\n".encode("cp1252"),
        "csv_nul_header.csv": b"ID,Na\x00me\n1,Ann\n",
        "csv_undecodable_rows.csv": b"ID,Name\n1,Ann\n2,Caf\xe9\n3,\xff\xfe\n4,Bob\n",
        "csv_nul_row.csv": b"ID,Name\n1,Ann\n2,B\x00b\n",
        "csv_mixed_line_endings.csv": b"ID,Name\r\n1,Ann\n2,Bob\r3,Cy\r\n4,Di",
        "csv_semicolon.csv": b"ID;Name;Email\n1;Ann;a@x.org\n2;Bob;b@x.org\n",
        "csv_excel_sep_line.csv": b"sep=;\r\nID;Name;Note\r\n1;Ann;a, b\r\n",
        "csv_tab.csv": b"ID\tName\tNote\n1\tAnn\thas, commas\n",
        "csv_duplicate_headers.csv": b"ID,Fleas,Fleas,Fleas_1,\n1,Yes,No,Maybe,x\n",
        "csv_wider_row.csv": b"ID,Name\n1,Ann\n2,Bob,surplus\n3,Cy,,\n",
        "csv_blank_rows.csv": b"\n\nID,Name\n1,Ann\n\n,,\n  ,  \n2,Bob\n\n",
        "csv_gzip.csv": gzip.compress(PEOPLE, mtime=0),
        "csv_empty.csv": b"",
        "ndjson_empty.ndjson": b"",
        "ndjson_blank_lines.ndjson": codecs.BOM_UTF8 + b"\n  \r\n\n",
        "csv_bom_only.csv": codecs.BOM_UTF8,
        "csv_header_broken_quote.csv": b'ID,"Name,Email\n1,Ann,a@x.org\n',
        "csv_dos_eof_mark.csv": b"ID,Name\r\n1,Ann\r\n\x1a",
        "csv_old_mac.csv": b"ID,Name\r1,Ann\r2,Bob\r",
        "csv_people.csv": PEOPLE,
        "json_lone_surrogate.json":
            b'[{"id": "1", "n": "ok"}, {"id": "2", "n": "bad \\ud800 half"}, {"id": "3"}]',
        "json_nul.json": b'{"animals": [{"id": "1"}, {"id": "2", "n": "a\\u0000b"}]}',
        "json_deep_100k.json": ('{"records": [{"id": "1"}, {"id": "2", "deep": ' + deep
                                + '}, {"id": "3"}]}').encode(),
        "json_depth_70.json": ('[{"id": "1", "x": ' + "[" * 69 + "]" * 69 + '}, {"id": "2"}]'
                               ).encode(),
        "json_two_arrays.json": b'{"animals": [{"id": "1"}], "people": [{"id": "p1"}]}',
        "json_no_array.json": b'{"id": "1", "name": "Tux"}',
        "json_airtable.json": json.dumps({"records": [
            {"id": "recA1", "createdTime": "2024-01-01T00:00:00Z",
             "fields": {"Case Number": "TR-1", "Internal Notes ": "trailing space kept"}},
            {"id": "recA2", "fields": {"Case Number": "TR-2"}}], "offset": "itr1"}).encode(),
        "json_shelterluv_wrapper.json": json.dumps({"success": 1, "animals": [
            {"Internal-ID": "1", "Microchips": [{"Id": "981020000000001"}]}],
            "has_more": False, "total_count": 1}).encode(),
        "json_unstorable_numbers.json":
            b'[{"id": "1", "w": NaN}, {"id": "2", "w": 1e999}, {"id": "3", "w": '
            + b"9" * 5000 + b'}, {"id": "4", "w": 4.5}]',
        "json_duplicate_keys.json": b'[{"id": "1", "id": "2"}, {"id": "3"}]',
        "json_truncated.json": b'{"records": [{"id": "1"}, {"id": "2", "n',
        "json_ndjson_by_mistake.json": b'{"id": "1"}\n{"id": "2"}\n',
        "json_utf16_bom.json": codecs.BOM_UTF16_LE + '[{"id": "1", "n": "Zoë"}]'
            .encode("utf-16-le"),
        "json_cp1252_byte.json": '[{"id": "1", "n": "Café"}, {"id": "2"}]'.encode("cp1252"),
        "json_scalar.json": b'"just a string"',
        "json_not_objects.json": b'[{"id": "1"}, "text", 5, null, [1]]',
        "json_trailing_comma.json": b'[{"id": "1"},]',
        "json_records_one_level_deeper.json":
            b'{"status": "ok", "result": {"count": 2, "items": [{"id": "1"}, {"id": "2"}]}}',
        "ndjson_mixed.ndjson": (b'{"id": "1"}\n'
                                b'{"id": "2", "n": "\\udc00"}\n'
                                b'\n'
                                b'{"id": "3", "n": "a\\u0000"}\n'
                                + b'{"id": "4", "d": ' + b"[" * 50_000 + b"]" * 50_000 + b'}\n'
                                b'{"id": "5", broken\n'
                                b'["not", "an object"]\n'
                                b'{"id": "6"} {"id": "7"}\n'
                                b'\xff\xfe\n'
                                b'   \n'
                                b'{"id": "8"}\r\n'),
        "csv_title_lines.csv":
            b"Rescue Net export\nGenerated 2025-03-01\n\nid,Name,City\n1,Ann,Petaluma\n",
        "csv_title_padded_semicolon.csv":
            b"Rescue Net export;;\n;;\nid;Name;City\n1;Ann;Petaluma\n2;Bob;Cotati\n",
        "csv_one_column.csv": b"Microchip\n981020000000001\n981020000000002,\n",
        "csv_totals_footer.csv": b"ID,Name,Cats\n1,Ann,3\n2,Bob,4\nTotal,,7\n",
        "csv_total_not_last.csv": b"ID,Name\nTotal,Ann\n2,Bob\n",
        "ndjson_utf16_bom.ndjson": codecs.BOM_UTF16_BE + '{"id": "1"}\n{"id": "2"}\n'
            .encode("utf-16-be"),
        # files people send that this project never made (the `files` pass)
        "csv_title_with_comma.csv":
            b"Exported from ShelterLuv on Jan 2, 2024\r\nID,Name,Email\r\n1,Ann,a@x.org\r\n"
            b"2,Bob,b@x.org\r\n",
        "csv_two_exports_joined.csv": codecs.BOM_UTF8 + PEOPLE + codecs.BOM_UTF8
            + b"ID,Name,Email\r\n4,Di,d@x.org\r\n",
        "csv_header_every_page.csv": b"ID,Name,Email\n1,Ann,a@x.org\n\nid , NAME,email\n"
            b"2,Bob,b@x.org\n",
        "csv_header_other_order.csv": b"ID,Name,Email\n1,Ann,a@x.org\nName,ID,Email\n"
            b"Bob,2,b@x.org\n",
        "csv_semicolon_commas_in_names.csv": b'"ID";"Name (Last, First)";"Address (Street, '
            b'City, Zip)"\r\n1;"Lee, Ann";"1 Main St, Napa, 94558"\r\n2;Ray;\r\n',
        "csv_spaces_after_commas.csv": b'ID, Name, Email\n1, "Lee, Ann", a@x.org\n2, Bob, '
            b'b@x.org\n',
        "ndjson_joined_with_boms.ndjson": codecs.BOM_UTF8 + b'{"id": "1"}\n{"id": "2"}\n'
            + codecs.BOM_UTF8 + b'{"id": "3"}\n',
        "csv_invisible_characters.csv": (
            'ID,Name,Email,Phone,Zip\r\n'
            '1,\u00a0Ann\u00a0,ann@x.org\u00a0,"(707) 555-1234\n",="01234"\r\n'
            '\u200b2,Bob\u200b,\u200bbob@x.org,\'7075551234,\'01234\r\n'
            '\u200b,\u00a0,\u2060,,\r\n'
            "3,O'Neil,\u202fcy@x.org\t,'5'10,=\"\"\r\n").encode(),
    }
    return files


def sheet_files() -> dict[str, bytes]:
    """XLSX and XLS cases."""
    far_rows = rows_xml([HEADER, DATA[0]])
    files: dict[str, bytes] = {
        "xlsx_plain.xlsx": xlsx([("Sheet1", plain_sheet())]),
        "xlsx_far_cell_XFD1048576.xlsx": xlsx([("Sheet1", sheet(
            far_rows + '<row r="1048576">' + cell("XFD1048576", "x") + "</row>"))]),
        "xlsx_far_cell_CV400000.xlsx": xlsx([("Sheet1", sheet(
            far_rows + '<row r="400000">' + cell("CV400000", "x") + "</row>"))]),
        "xlsx_styled_empty_far_cells.xlsx": xlsx([("Sheet1", sheet(
            far_rows + '<row r="1048576"><c r="XFD1048576" s="1"/></row>',
            before='<dimension ref="A1:XFD1048576"/>'))]),
        "xlsx_lying_dimension.xlsx": xlsx([("Sheet1", sheet(
            rows_xml([HEADER, *DATA]), before='<dimension ref="A1:XFD1048576"/>'))]),
        "xlsx_zip_bomb.xlsx": xlsx([("Sheet1", sheet(
            rows_xml([HEADER, *DATA]) + " " * 40_000_000))]),
        "xlsx_shared_strings_count_lies.xlsx": xlsx(
            [("Sheet1", sheet('<row r="1">' + cell("A1", "0", "s") + cell("B1", "1", "s")
                              + '</row><row r="2">' + cell("A2", "2", "s") + "</row>"))],
            shared_xml=(f'<?xml version="1.0"?><sst xmlns="{NS}" count="4294967295" '
                        'uniqueCount="4294967295"><si><t>ID</t></si><si><t>Name</t></si>'
                        "<si><r><t>rich </t></r><r><t>text</t></r><rPh><t>yomi</t></rPh>"
                        "</si></sst>")),
        "xlsx_shared_string_amplified.xlsx": xlsx(
            [("Sheet1", sheet('<row r="1">' + cell("A1", "ID") + "</row>" + "".join(
                f'<row r="{r}">' + cell(f"A{r}", "0", "s") + "</row>" for r in range(2, 202)
            )))], shared=["x" * 1_000_000]),
        "xlsx_bad_shared_index.xlsx": xlsx(
            [("Sheet1", sheet(rows_xml([["ID", "Name"], ["1", "Ann"]])
                              + '<row r="3">' + cell("A3", "2") + cell("B3", "99", "s")
                              + "</row>"))], shared=["only one"]),
        "xlsx_merged_cells.xlsx": xlsx([("Sheet1", sheet(
            rows_xml([["ID", "Colony", "Notes"], ["1", "Barn", ""], ["", "", ""],
                      ["2", "Mill", "x"]]),
            after='<mergeCells count="1"><mergeCell ref="B2:C3"/></mergeCells>'))]),
        "xlsx_formulas.xlsx": xlsx([("Sheet1", sheet(
            rows_xml([["ID", "Total", "Label"]])
            + '<row r="2">' + cell("A2", "1")
            + '<c r="B2"><f>SUM(1,2)</f><v>3</v></c>'
            + '<c r="C2" t="str"><f>"a"&amp;"b"</f><v>ab</v></c></row>'
            + '<row r="3">' + cell("A3", "2") + '<c r="B3"><f>SUM(C9:C10)</f></c></row>'
            + '<row r="4">' + cell("A4", "3") + '<c r="B4" t="e"><f>1/0</f><v>#DIV/0!</v>'
            + '</c><c r="C4" t="b"><v>1</v></c></row>'))]),
        "xlsx_dates.xlsx": xlsx([("Sheet1", sheet(
            rows_xml([["ID", "Date", "Stamp", "Time", "Qty", "Iso", "Far"]])
            + '<row r="2">' + cell("A2", "1") + cell("B2", "45730", "n", 1)
            + cell("C2", "45730.5", "n", 2) + cell("D2", "0.4375", "n", 3)
            + cell("E2", "12.5", "n", 4) + cell("F2", "2025-03-14T00:00:00", "d")
            + cell("G2", "99999999", "n", 1) + "</row>"))], styles=STYLES),
        "xlsx_dates_1904.xlsx": xlsx([("Sheet1", sheet(
            rows_xml([["ID", "Date"]]) + '<row r="2">' + cell("A2", "1")
            + cell("B2", "44268", "n", 1) + "</row>"))], styles=STYLES, date1904=True),
        "xlsx_empty_sheet.xlsx": xlsx([("Sheet1", sheet(""))]),
        "xlsx_encrypted.xlsx": rename_cfb_stream(xls([("S", [["x"]])]), "Workbook",
                                                 "EncryptedPackage"),
        "xlsx_zip_entries_encrypted.xlsx": flag_encrypted(xlsx([("Sheet1", plain_sheet())])),
        "xlsx_truncated.xlsx": xlsx([("Sheet1", plain_sheet())])[:600],
        "xlsx_not_a_zip.xlsx": b"PK\x03\x04 this is not a workbook",
        "xlsx_two_sheets_with_data.xlsx": xlsx([("Appointments", plain_sheet()),
                                                ("Notes", sheet(rows_xml([["note"]])))]),
        "xlsx_second_sheet_empty.xlsx": xlsx([("Appointments", plain_sheet()),
                                              ("Sheet2", sheet(""))]),
        "xlsx_chartsheet_first.xlsx": xlsx([("Chart1", "<chartsheet/>", "chartsheet"),
                                            ("Data", plain_sheet())]),
        "xlsx_dtd_entities.xlsx": xlsx([("Sheet1", sheet(
            rows_xml([HEADER]) + '<row r="2"><c r="A2" t="inlineStr"><is><t>&lol;</t></is>'
            "</c></row>",
            prolog='<!DOCTYPE worksheet [<!ENTITY lol "lollollol">]>'))]),
        "xlsx_escaped_controls.xlsx": xlsx([("Sheet1", sheet(
            rows_xml([["ID", "Note"], ["1", "line_x000D_break"], ["2", "nul _x0000_ here"],
                      ["3", "half _xD800_ pair"]])))]),
        "xlsx_rows_out_of_order.xlsx": xlsx([("Sheet1", sheet(
            rows_xml([HEADER]) + rows_xml([DATA[0]], first=5) + rows_xml([DATA[1]], first=3)
        ))]),
        "xlsx_duplicate_cell.xlsx": xlsx([("Sheet1", sheet(
            rows_xml([["ID", "Name"]]) + '<row r="2">' + cell("A2", "1") + cell("B2", "Ann")
            + cell("B2", "Bob") + "</row>"))]),
        "xlsx_no_references.xlsx": xlsx([("Sheet1", sheet(
            "<row>" + "".join(f'<c t="inlineStr"><is><t>{h}</t></is></c>' for h in HEADER)
            + "</row><row><c><v>7</v></c><c/><c t=\"inlineStr\"><is><t>Tux</t></is></c></row>"
        ))]),
        "xlsx_prefixed_namespace.xlsx": xlsx([("Sheet1", (
            f'<?xml version="1.0"?><x:worksheet xmlns:x="{NS}"><x:sheetData>'
            '<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>ID</x:t></x:is></x:c></x:row>'
            '<x:row r="2"><x:c r="A2"><x:v>5</x:v></x:c></x:row></x:sheetData></x:worksheet>'
        ))]),
        "xlsx_blank_rows.xlsx": xlsx([("Sheet1", sheet(
            rows_xml([[], ["ID", "Name"], ["1", "Ann"], ["  ", ""], [], ["2", "Bob"]])))]),
        "xlsx_cell_outside_its_row.xlsx": xlsx([("Sheet1", sheet(
            rows_xml([["ID"]]) + '<row r="2">' + cell("A7", "1") + "</row>"))]),
        "xlsx_bad_xml.xlsx": xlsx([("Sheet1", "<worksheet><sheetData><row>")]),
        "xlsx_named_xls.xls": xlsx([("Sheet1", plain_sheet())]),
        "xls_plain.xls": xls([("Sheet1", [["Microchip", "ID", "Seen"],
                                          ["981020000000001", 1001.0,
                                           dt.datetime(2025, 3, 14)],
                                          ["", "", ""],
                                          ["981020000000002", 1002.5, "text"]])]),
        "xls_far_cell.xls": xls([("Sheet1", [["ID", "Name"], ["1", "Ann"]])],
                                far=(65535, 255, "stray")),
        "xls_two_sheets_with_data.xls": xls([("Pets", [["ID"], ["1"]]),
                                             ("Owners", [["Owner ID"], ["9"]])]),
        "xls_garbage.xls": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600,
        "xlsx_unknown_magic.xlsx": b"%PDF-1.4 not a workbook",
        "xlsx_first_sheet_empty.xlsx": xlsx([("Cover", sheet("")), ("Data", plain_sheet())]),
        "xlsx_empty_then_two_with_data.xlsx": xlsx([
            ("Cover", sheet("")), ("Appointments", plain_sheet()),
            ("Notes", sheet(rows_xml([["note"]])))]),
        "xlsx_title_and_totals.xlsx": xlsx([("Sheet1", sheet(rows_xml(
            [["Rescue Net export"], [], ["ID", "Name"], ["1", "Ann"], ["Total", "1"]])))]),
        "xlsx_totals_footer.xlsx": xlsx([("Sheet1", sheet(rows_xml(
            [["ID", "Cats"], ["1", "3"], ["Grand Total:", "3"]])))]),
        "xls_first_sheet_empty.xls": xls([("Cover", []), ("Pets", [["ID"], ["1"], ["2"]])]),
        "xls_html_table.xls": b"<html><head><meta charset=utf-8></head><body><table><tr>"
            b"<th>ID</th><th>Name</th></tr><tr><td>1</td><td>Ann</td></tr></table></body></html>",
        "xls_xml_spreadsheet_2003.xls": b'<?xml version="1.0"?>\n<?mso-application progid='
            b'"Excel.Sheet"?>\n<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet">'
            b"<Worksheet><Table><Row><Cell><Data>ID</Data></Cell></Row></Table></Worksheet>"
            b"</Workbook>",
        "xls_really_tsv.xls": codecs.BOM_UTF16_LE + PEOPLE.decode().replace(",", "\t")
            .encode("utf-16-le"),
        "csv_really_xlsx.csv": xlsx([("Sheet1", plain_sheet())]),
        "csv_really_json.csv": b'[{"ID": "1", "Name": "Ann"}, {"ID": "2", "Name": "Bob"}]\n',
        "xlsx_title_two_cells.xlsx": xlsx([("Sheet1", sheet(rows_xml(
            [["People report", "Generated 2024-01-02"], [], ["ID", "Name", "Email"],
             ["1", "Ann", "a@x.org"], ["2", "Bob", "b@x.org"]])))]),
        "xlsx_header_repeated.xlsx": xlsx([("Sheet1", sheet(rows_xml(
            [["ID", "Name"], ["1", "Ann"], ["ID", "Name"], ["2", "Bob\u00a0\u200b"]])))],
            shared=[]),
    }
    return files


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    files = {**text_files(), **sheet_files()}
    for old in OUT.iterdir():
        if old.name not in files:
            old.unlink()
    for name, data in sorted(files.items()):
        (OUT / name).write_bytes(data)
    print(f"wrote {len(files)} files to {OUT}")


if __name__ == "__main__":
    main()
