"""Files people really send, through `atlas-orch ingest` against PostgreSQL: values pasted
from web pages and Excel, exports joined or titled, compressed or zipped exports, a header
and nothing else (docs/ingest.md, "Files as people send them")."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import zipfile
from pathlib import Path

from tests.conftest import run_cli
from tests.helpers import assert_accounted, sql, val

PEOPLE = "Internal-ID,Firstname,Lastname,Email\r\n1,Ann,Lee,ann@x.org\r\n2,Bob,Ray,bob@x.org\r\n"


def ingest(url: str, source: str, *files: Path, extra: tuple[str, ...] = (),
           status: int = 0) -> dict:
    """The --json report of one ingest command, each completed run accounted for."""
    result = run_cli("ingest", source, *map(str, files), "--json", *extra,
                     env={"DATABASE_URL": url})
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    for run in report["runs"]:
        if run["status"] == "completed":
            assert_accounted(url, run)
    return report


def test_values_pasted_from_web_pages_and_excel_make_their_people(
        db_url: str, tmp_path: Path) -> None:
    """An email with a no-break space, a line break or a zero-width space around it was no
    email to the processor (the person was rejected, "no usable email or phone") or another
    email than the same person's elsewhere; a phone written ="…" for Excel, a number."""
    f = tmp_path / "owner_info.csv"
    f.write_text(
        "Number,Date,Owner First Name,Owner Last Name,Owner Email,Owner Phone\r\n"
        "24-1,1/2/2024,Ana,Diaz,ana@example.org\u00a0,\r\n"
        '24-2,1/2/2024,Ben,Ek,"ben@example.org\n",\r\n'
        "24-3,1/2/2024,Cal,Fo,\u200bcal@example.org,\r\n"
        '\u200b24-4,1/2/2024,Dee,Gu,,="7075231004"\r\n', encoding="utf-8")
    run = ingest(db_url, "clinichq/owner_info", f)["runs"][0]
    assert (run["rows_new"], run["rows_rejected"]) == (4, 0)
    assert run_cli("process", env={"DATABASE_URL": db_url}).returncode == 0
    ids = sql(db_url, "SELECT p.display_name, i.id_type, i.id_value_norm "
                      "FROM trapper.sot_people p JOIN trapper.person_identifiers i "
                      "USING (person_id) WHERE i.id_type IN ('email', 'phone') ORDER BY 1")
    assert [tuple(r) for r in ids] == [
        ("Ana Diaz", "email", "ana@example.org"), ("Ben Ek", "email", "ben@example.org"),
        ("Cal Fo", "email", "cal@example.org"), ("Dee Gu", "phone", "7075231004")]
    assert val(db_url, "SELECT array_agg(source_row_id ORDER BY source_row_id) "
                       "FROM trapper.staged_records") == [
        "24-1_2024-01-02", "24-2_2024-01-02", "24-3_2024-01-02", "24-4_2024-01-02"]


def test_two_exports_joined_stage_no_header_as_a_record(db_url: str, tmp_path: Path) -> None:
    """The second export's header row was staged as a person whose id was "Internal-ID";
    it is rejected, counted and listed where a steward looks."""
    f = tmp_path / "joined.csv"
    f.write_bytes(b"\xef\xbb\xbf" + PEOPLE.encode() + b"\xef\xbb\xbf" + PEOPLE.encode()
                  + b"3,Cy,Fox,cy@x.org\r\n")
    run = ingest(db_url, "shelterluv/people", f)["runs"][0]
    assert (run["rows_read"], run["rows_new"], run["rows_duplicate"],
            run["rejects_by_reason"]) == (6, 3, 2, {"malformed": 1})
    assert val(db_url, "SELECT count(*) FROM trapper.staged_records "
                       "WHERE source_row_id NOT IN ('1', '2', '3')") == 0
    listed = run_cli("why-missing", "--type", "ingest_rejected", "--json",
                     env={"DATABASE_URL": db_url})
    assert listed.returncode == 0, listed.stderr
    gaps = json.loads(listed.stdout)
    text = json.dumps(gaps)
    assert "joined.csv row 4" in text and "repeats the header row (line 1)" in text


def test_a_title_line_is_refused_with_one_line_and_the_json_report(
        db_url: str, tmp_path: Path) -> None:
    f = tmp_path / "titled.csv"
    f.write_text("Exported from ShelterLuv on Jan 2, 2024\r\n" + PEOPLE)
    result = run_cli("ingest", "shelterluv/people", str(f), "--json",
                     env={"DATABASE_URL": db_url})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "titled.csv" in lines[0] and "names 2 columns" in lines[0]
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["runs"][0]["status"] == "failed"
    assert "the table starts at line 2" in report["runs"][0]["error"]
    assert val(db_url, "SELECT count(*) FROM trapper.staged_records") == 0


def test_compressed_and_zipped_exports_are_read_as_the_file_inside(
        db_url: str, tmp_path: Path) -> None:
    data = PEOPLE.encode()
    (tmp_path / "people.csv.gz").write_bytes(gzip.compress(data))
    (tmp_path / "people.csv.bz2").write_bytes(bz2.compress(data))
    (tmp_path / "people.csv.xz").write_bytes(lzma.compress(data + b"3,Cy,Fox,cy@x.org\r\n"))
    with zipfile.ZipFile(tmp_path / "export.zip", "w") as z:
        z.writestr("Export/people.tsv", (data + b"4,Di,Ma,d@x.org\r\n").replace(b",", b"\t"))
        z.writestr("__MACOSX/Export/._people.tsv", b"\x00\x05\x16\x07")
    files = ["people.csv.gz", "people.csv.bz2", "people.csv.xz", "export.zip"]
    report = ingest(db_url, "shelterluv/people", *(tmp_path / n for n in files))
    assert [(r["source_file"], r["rows_read"], r["rows_new"]) for r in report["runs"]] == [
        ("people.csv.gz", 2, 2), ("people.csv.bz2", 2, 0), ("people.csv.xz", 3, 1),
        ("export.zip", 3, 1)]
    assert report["runs"][0]["notes"][0] == "read gzip-compressed (CSV)"
    assert report["runs"][3]["notes"][0] == "read 'Export/people.tsv' from the ZIP archive (CSV)"
    assert val(db_url, "SELECT count(*) FROM trapper.staged_records") == 4
    assert val(db_url, "SELECT payload ->> 'Email' FROM trapper.staged_records "
                       "WHERE source_row_id = '4'") == "d@x.org"


def test_packed_files_that_cannot_be_read_are_refused_saying_why(
        db_url: str, tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as z:
        z.writestr("a.csv", PEOPLE)
        z.writestr("b.csv", PEOPLE)
    (tmp_path / "cut.csv.gz").write_bytes(gzip.compress(PEOPLE.encode())[:25])
    (tmp_path / "export.gz").write_bytes(gzip.compress(PEOPLE.encode()))
    report = ingest(db_url, "shelterluv/people", tmp_path / "two.zip", tmp_path / "cut.csv.gz",
                    tmp_path / "export.gz", status=1)
    errors = [r["error"] for r in report["runs"]]
    assert "holds several exports ('a.csv', 'b.csv')" in errors[0]
    assert "the gzip file is damaged or cut short" in errors[1]
    assert "does not tell its format; pass --format" in errors[2]
    assert all(r["refused"] for r in report["runs"])
    # the format given, the same file goes in
    again = ingest(db_url, "shelterluv/people", tmp_path / "export.gz",
                   extra=("--format", "csv"))
    assert again["runs"][0]["rows_new"] == 2


def test_a_header_and_nothing_else_says_so(db_url: str, tmp_path: Path) -> None:
    f = tmp_path / "empty_export.csv"
    f.write_text("Internal-ID,Firstname,Lastname,Email\r\n")
    result = run_cli("ingest", "shelterluv/people", str(f), env={"DATABASE_URL": db_url})
    assert result.returncode == 0
    assert "read 0 = new 0" in result.stderr and "note: no rows:" in result.stderr


def test_a_file_named_for_another_format_is_read_as_what_it_holds(
        db_url: str, tmp_path: Path) -> None:
    """An "Export to Excel" that writes tab-separated text named .xls, a workbook saved as
    .csv, JSON named .csv: read as what they are, and the run says so; --format is obeyed."""
    (tmp_path / "export.xls").write_text(PEOPLE.replace(",", "\t"))
    (tmp_path / "people.csv").write_text(json.dumps([{"Internal-ID": "3", "Email": "c@x.org"}]))
    report = ingest(db_url, "shelterluv/people", tmp_path / "export.xls",
                    tmp_path / "people.csv")
    assert [(r["rows_new"], r["notes"][0]) for r in report["runs"]] == [
        (2, "read as CSV text, which the file is, not an XLS workbook (export.xls)"),
        (1, "read as JSON, which the file is, not CSV (people.csv)")]
    told = ingest(db_url, "shelterluv/people", tmp_path / "export.xls",
                  extra=("--format", "xls"), status=1)
    assert "neither an XLSX workbook" in told["runs"][0]["error"]


def test_a_file_name_that_is_not_utf8_is_ingested_under_a_readable_name(
        db_url: str, tmp_path: Path) -> None:
    """A name from a Windows ZIP or an old disk (b"caf\\xe9.csv") failed the run with a
    DataError: the name could not be stored."""
    f = tmp_path / os.fsdecode(b"caf\xe9.csv")
    f.write_text(PEOPLE)
    run = ingest(db_url, "shelterluv/people", f)["runs"][0]
    assert (run["source_file"], run["rows_new"]) == ("café.csv", 2)
    assert val(db_url, "SELECT source_file FROM trapper.ingest_runs") == "café.csv"


def test_one_visit_in_exports_that_write_its_date_otherwise(
        db_url: str, tmp_path: Path) -> None:
    """A ClinicHQ export's header drifting over the years (reordered, another case, an added
    column) and its visit date written US, ISO, with a time, or as an Excel serial: one record
    per visit, each version under one id. A day-first date reads as no date: its id keeps it as
    written, and the run says so rather than staging a second record in silence."""
    header = "Number,Date,Owner First Name,Owner Last Name,Owner Email,Ownership\r\n"
    exports = {
        "us.csv": header + "25-1139,03/14/2025,Ann,Lee,ann@x.org,Owned\r\n",
        "iso.csv": "OWNER LAST NAME,date,Number,Owner  First Name,Owner E-mail,Ownership,Clinic\r\n"
                   "Lee,2025-03-14T00:00:00,25-1139,Ann,ann@x.org,Owned,main\r\n",
        "serial.csv": header + "25-1139,45730,Ann,Lee,ann@x.org,Owned\r\n",
        "day_first.csv": header + "25-1140,14/03/2025,Bo,Ray,bo@x.org,Owned\r\n",
    }
    for name, text in exports.items():
        (tmp_path / name).write_text(text)
    report = ingest(db_url, "clinichq/owner_info", *(tmp_path / n for n in exports))
    ids = {r["source_row_id"] for r in sql(
        db_url, "SELECT source_row_id FROM trapper.staged_records")}
    assert ids == {"25-1139_2025-03-14", "25-1140_14/03/2025"}
    assert all(not any("keep their" in n for n in run["notes"]) for run in report["runs"][:3])
    assert any("1 record id(s) keep their 'Date' as written, since it reads as no date: "
               "'14/03/2025' (1)" in n for n in report["runs"][3]["notes"])


def test_a_row_without_an_id_in_an_id_column_written_another_way(
        db_url: str, tmp_path: Path) -> None:
    """VolunteerHub's id column headed 'EMAIL' is its 'Email' column: a row with it blank has
    no value there; the note said the file had no such column."""
    f = tmp_path / "users.csv"
    f.write_text("Name -  FirstName,Name  -  LastName,EMAIL,Mobile Phone\r\n"
                 "Ann,Lee,ann@x.org,(707) 321-4567\r\nBob,Ray,,\r\n")
    run = ingest(db_url, "volunteerhub/users", f)["runs"][0]
    assert (run["rows_new"], run["rows_rejected"]) == (1, 1)
    note = next(n for n in run["notes"] if "rejected missing_id" in n)
    assert note.startswith("1 row(s) rejected missing_id: no value in 'UserUid' or 'Email';")
