"""Numbers a workbook shows padded with zeros (Excel's ZIP Code format ``00000``, ZIP+4
``00000-0000``, an id shown as ``000123``) are read as shown: a New England ZIP 01234 is
stored as the number 1234, and read as ``1234`` it named another place. Formula cells with
no saved value are read blank and named."""

from __future__ import annotations

import datetime as dt
import io

import openpyxl

from listener.ingest.readers import read_rows
from listener.ingest.sheets import padded_number, zero_layout


def test_zero_layouts() -> None:
    assert zero_layout("00000") == "00000"
    assert zero_layout("00000\\-0000") == "00000-0000"
    assert zero_layout("000\\-00\\-0000") == "000-00-0000"
    for other in ("0", "0.00", "#,##0", "General", "mm/dd/yyyy", "00.0", '"ID-"0000',
                  "[<=9999999]###\\-####;\\(###\\)\\ ###\\-####"):
        assert zero_layout(other) is None, other
    assert padded_number(1234.0, "00000") == "01234"
    assert padded_number(12345678.0, "00000-0000") == "01234-5678"
    assert padded_number(123456.0, "00000") is None      # wider than its format: as it is
    assert padded_number(12.5, "00000") is None


def test_a_sheet_reads_zip_codes_as_excel_shows_them() -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["ID", "Zip", "Zip4", "Chip", "Phone", "Seen", "Fee"])
    ws.append(["1", 1234, 12345678, 985112003456789, 7075231234, dt.datetime(2025, 3, 14), 5.5])
    ws.append(["2", "01234", 954011234, "985112003456790", "(707) 523-1234", "3/14/2025", 12])
    for row in (2, 3):
        ws.cell(row, 2).number_format = "00000"
        ws.cell(row, 3).number_format = "00000\\-0000"
        ws.cell(row, 4).number_format = "0"
        ws.cell(row, 5).number_format = "[<=9999999]###\\-####;\\(###\\)\\ ###\\-####"
        ws.cell(row, 7).number_format = '"$"#,##0.00'
    buf = io.BytesIO()
    wb.save(buf)
    payloads = [r.payload for r in read_rows(buf.getvalue(), "xlsx")]
    assert payloads == [
        {"ID": "1", "Zip": "01234", "Zip4": "01234-5678", "Chip": "985112003456789",
         "Phone": "7075231234", "Seen": "03/14/2025", "Fee": "5.5"},
        {"ID": "2", "Zip": "01234", "Zip4": "95401-1234", "Chip": "985112003456790",
         "Phone": "(707) 523-1234", "Seen": "3/14/2025", "Fee": "12"},
    ]


def test_formula_cells_without_a_saved_value_are_named() -> None:
    """A workbook written by openpyxl or pandas saves formulas without their values: the cell
    is read blank, and the row says which columns were such cells (ingest's note)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["ID", "Intake", "Age (days)", "Total"])
    ws.append(["1", dt.datetime(2025, 3, 14), '=TODAY()-B2', "=1+1"])
    ws.append(["2", dt.datetime(2025, 3, 15), "", 7])
    buf = io.BytesIO()
    wb.save(buf)
    rows = list(read_rows(buf.getvalue(), "xlsx"))
    assert [r.payload for r in rows] == [
        {"ID": "1", "Intake": "03/14/2025", "Age (days)": "", "Total": ""},
        {"ID": "2", "Intake": "03/15/2025", "Age (days)": "", "Total": "7"},
    ]
    assert [r.unsaved_formulas for r in rows] == [("Age (days)", "Total"), ()]
