"""A minimal, fast XLSX writer: one sheet of text cells (inline strings).

ClinicHQ and VolunteerHub export text cells; writing the XML directly keeps generating the
Atlas-scale world well under a minute, where a general-purpose writer takes tens of seconds.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
</Types>"""  # noqa: E501

_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>
</Relationships>"""  # noqa: E501

_WORKBOOK = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<sheets><sheet name="{name}" sheetId="1" r:id="rId1"/></sheets>
</workbook>"""

_WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>
</Relationships>"""  # noqa: E501


def column_letters(n: int) -> str:
    """Column letters of a 0-based index (0 -> A, 26 -> AA)."""
    name = ""
    n += 1
    while n:
        n, rem = divmod(n - 1, 26)
        name = chr(65 + rem) + name
    return name


class XlsxWriter:
    """One sheet written row by row into its zip member (issue 20: the 10× world's
    appointment sheet is gigabytes of XML, never held in memory whole)."""

    def __init__(self, path: Path, header: Sequence[str], sheet: str = "Sheet1") -> None:
        self.cols = [column_letters(i) for i in range(len(header))]
        self.zip = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1)
        for name, text in (("[Content_Types].xml", _CONTENT_TYPES), ("_rels/.rels", _RELS),
                           ("xl/workbook.xml", _WORKBOOK.format(name=escape(sheet))),
                           ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)):
            self.zip.writestr(_info(name), text, compresslevel=1)
        # force_zip64: the size is unknown until the end, and a sheet past 2 GiB needs it.
        self.sheet = self.zip.open(_info("xl/worksheets/sheet1.xml"), "w", force_zip64=True)
        self.rows = 0
        self.buffer: list[str] = [
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            "<sheetData>"]
        self.row(header)

    def row(self, values: Sequence[str]) -> None:
        """Append one row (strings; empty cells are left out)."""
        self.rows += 1
        r, cols = self.rows, self.cols
        cells = "".join(
            f'<c r="{cols[i]}{r}" t="inlineStr"><is><t xml:space="preserve">{escape(v)}'
            "</t></is></c>"
            for i, v in enumerate(values) if v != ""
        )
        self.buffer.append(f'<row r="{r}">{cells}</row>')
        if len(self.buffer) >= 2000:
            self._flush()

    def _flush(self) -> None:
        self.sheet.write("".join(self.buffer).encode())
        self.buffer.clear()

    def close(self) -> None:
        """Finish the sheet and the file."""
        self.buffer.append("</sheetData></worksheet>")
        self._flush()
        self.sheet.close()
        self.zip.close()


def _info(name: str) -> zipfile.ZipInfo:
    # A fixed timestamp: writestr(name, …) stamps the current time, so the same seed gave
    # different bytes whenever two runs straddled a two-second tick.
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info._compresslevel = 1  # type: ignore[attr-defined]  # what open(…, "w") compresses at
    return info


def write_xlsx(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]],
               sheet: str = "Sheet1") -> None:
    """Write ``header`` and ``rows`` (strings; empty cells are left out) to ``path``."""
    writer = XlsxWriter(path, header, sheet)
    for values in rows:
        writer.row(values)
    writer.close()
