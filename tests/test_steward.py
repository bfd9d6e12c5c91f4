"""A steward at another organisation: a foster-tracking sheet (CSV) and a vet-visit log (XLSX)
onboarded with SQL alone, with the mess such files have (blank rows, a row twice, a person
with no usable identifier, a bad date, a placeholder phone, an address that names no street,
a cat with no microchip, a row with no id), then a re-export a week later with one row edited,
one removed and a column renamed, then the fixes. Each answer is checked against what is true
of the files (docs/operations.md, "Debugging your data")."""

from __future__ import annotations

import csv
import datetime
import hashlib
import json
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from tests.conftest import run_cli
from tests.helpers import execute, sql, val

ONBOARD = (Path(__file__).parent / "corpus" / "steward_onboard.sql").read_text()

HEADER = ["Placement", "Foster Name", "Email", "Phone", "Street", "City", "Zip", "Cat Name",
          "Chip", "Sex", "Date In"]
WEEK1 = [
    HEADER,
    ["F-101", "Maria Gonzalez", "maria.g@gmail.com", "(707) 762-2841", "418 Walnut St",
     "Petaluma", "94952", "Biscuit", "985112003456781", "F", "3/2/2025"],
    ["F-102", "Dave Chen", "dchen@comcast.net", "707-762-1199", "22 Laurel Ave", "Petaluma",
     "94952", "Pepper", "985112003456782", "M", "3/3/2025"],
    [""] * 11,
    ["F-103", "Dave Chen", "dchen@comcast.net", "707-762-1199", "22 Laurel Ave", "Petaluma",
     "94952", "Salt", "", "M", "3/3/2025"],
    ["F-102", "Dave Chen", "dchen@comcast.net", "707-762-1199", "22 Laurel Ave", "Petaluma",
     "94952", "Pepper", "985112003456782", "M", "3/3/2025"],
    ["F-104", "Grandma Rose", "", "", "", "", "", "Tiger", "985112003456784", "F", "3/5/2025"],
    ["F-105", "Sam Whitaker", "", "555-555-5555", "Corner of Bodega & Stony Pt", "Petaluma",
     "", "Mittens", "985112003456785", "F", "31/02/2025"],
    ["F-106", "Lee Park", "lee.park@gmail.com", "000-000-0000", "9 Orchard Ln", "Cotati",
     "94931", "Ghost", "985112003456786", "M", "2025-03-07"],
    [],
    ["", "Jo Smith", "jo@smith.org", "707-888-1234", "5 Elm St", "Sonoma", "95476", "Boots",
     "985112003456788", "M", "3/8/2025"],
]


def _week2() -> list[list[str]]:
    """A week later: Phone renamed Mobile Phone, F-101 edited, F-106 gone."""
    rows = [["Mobile Phone" if h == "Phone" else h for h in HEADER]]
    for r in WEEK1[1:]:
        if not any(r) or r[0] == "F-106":
            continue
        r = list(r)
        if r[0] == "F-101":
            r[3], r[4] = "(707) 762-9000", "418 Walnut Street"
        rows.append(r)
    return rows


def _week3() -> list[list[str]]:
    """The steward's fixes: the header back, an email for F-104, a chip for F-103's cat, an
    id for Jo Smith's row."""
    rows = [HEADER] + [list(r) for r in _week2()[1:]]
    for r in rows[1:]:
        if r[0] == "F-104":
            r[2] = "rose.h@aol.com"
        elif r[0] == "F-103":
            r[8] = "985112003456783"
        elif r[1] == "Jo Smith":
            r[0] = "F-107"
    return rows


def _csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def _visits(path: Path) -> Path:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Visit No", "Visit Date", "Caretaker", "Email", "Phone", "Address", "Cat",
               "Microchip", "Sex", "Cats at address"])
    ws.append(["V-1", datetime.date(2025, 3, 10), "Maria Gonzalez", "MARIA.G@GMAIL.COM", None,
               "418 Walnut Street, Petaluma, CA 94952", "Biscuit", "985112003456781", "Female",
               2])
    ws.append(["V-2", "2025-02-30", "Dave Chen", None, "7077621199",
               "22 Laurel Ave Petaluma 94952", "Pepper", "985-112-003-456-782", "Male",
               "about 3"])
    ws.append([None] * 10)
    ws.append(["V-3", "3/12/2025", "Maria Gonzales", "mgonzalez@work.org", None,
               "418 Walnut St, Petaluma, CA 94952", "Biscuit", None, "F", None])
    ws.append(["V-4", "3/12/2025", "Pat Whitaker", None, "555-555-5555", "Petaluma, CA",
               "Shadow", None, "M", "lots"])
    ws.append(["V-5", "3/13/2025", "Kim Park", None, "000-000-0000",
               "9 Orchard Ln, Cotati, CA 94931", "Ghost", "985112003456786", "Male", 1])
    wb.save(path)
    return path


def _ok(*args: str, env: dict[str, str]) -> str:
    done = run_cli(*args, env=env)
    assert done.returncode == 0, (args, done.stderr)
    return done.stdout


def _gaps(env: dict[str, str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(
        _ok("why-missing", "--source", "paws", "--json", env=env))["rows"]
    return rows


def _gap(rows: list[dict[str, Any]], kind: str, record: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["issue_type"] == kind and r["source_record_id"] == record]


def test_a_stewards_own_files_get_true_answers(db_url: str, tmp_path: Path) -> None:
    execute(db_url, ONBOARD)
    env = {"DATABASE_URL": db_url}
    _ok("ingest", "paws/fosters", str(_csv(tmp_path / "fosters_2025-03-09.csv", WEEK1)),
        env=env)
    _ok("ingest", "paws/vet_visits", str(_visits(tmp_path / "vet_visits_2025-03.xlsx")),
        env=env)
    _ok("process", env=env)
    _ok("listen", "--once", env=env)
    gaps = _gaps(env)

    # Grandma Rose (no email, no phone): her person is rejected, her cat Tiger is made; the
    # answer says which, points at the file, and names the columns to fill
    [rose] = _gap(gaps, "routing_rejected", "F-104")
    assert rose["source_file"] == "fosters_2025-03-09.csv"
    assert rose["explanation"].startswith("The router rejected its person (the record's other "
                                          "decisions stand: atlas-orch replay paws/fosters/F-104)")
    assert rose["suggested_fix"].startswith("Give this row a usable email or phone (Email, "
                                            "Phone) in the export")
    # a place's gap carries a decision about the place, never the record's skipped phone
    [orchard] = [r for r in gaps if r["issue_type"] == "place_no_geometry"
                 and r["source_record_id"] == "F-106"]
    assert orchard["decision_reason"] is None
    [tiger] = _gap(gaps, "cat_no_place", "F-104")
    assert tiger["decision_reason"] == "skipped: fields Street, City, Zip all empty"
    # values the file holds that nothing could read are gaps too, each with its fix
    [date] = _gap(gaps, "value_unread", "V-2")
    assert "Visit Date = '2025-02-30'" in date["explanation"]
    assert date["suggested_fix"].startswith("Correct Visit Date ('2025-02-30') in this row")
    assert date["source_file"] == "vet_visits_2025-03.xlsx"
    assert {r["source_record_id"] for r in gaps if r["issue_type"] == "value_unread"} == {
        "V-2", "V-4", "V-5", "F-106"}          # a date, "lots", 000-000-0000 twice
    [street] = [r for r in _gap(gaps, "routing_skipped", "V-4")
                if "street" in r["decision_reason"]]
    assert street["suggested_fix"].startswith("Write a street address (number and street) in "
                                              "Address")
    text = _ok("why-missing", "--type", "value_unread", env=env)
    assert "source_file" in text and "vet_visits_2025-03.xlsx" in text
    # Jo Smith's row has no id: rejected at ingest, listed with its file and line
    [jo] = [r for r in gaps if r["issue_type"] == "ingest_rejected"]
    assert (jo["source_file"], jo["entity_label"]) == ("fosters_2025-03-09.csv",
                                                       "fosters_2025-03-09.csv row 11")

    # the re-export: Phone renamed, F-101 edited, F-106 gone
    _ok("ingest", "paws/fosters", str(_csv(tmp_path / "fosters_2025-03-16.csv", _week2())),
        env=env)
    _ok("process", env=env)
    _ok("listen", "--once", env=env)
    [drift] = [a for a in json.loads(_ok("anomalies", "--json", env=env))
               if a["kind"] == "schema_drift"]
    assert drift["summary"].startswith("field(s) gone since the batch before: Phone; "
                                       "new field(s): Mobile Phone")
    [sam] = _gap(_gaps(env), "routing_rejected", "F-105")
    assert sam["source_file"] == "fosters_2025-03-16.csv"
    assert sam["suggested_fix"].startswith("This row has no column Phone: the export renamed "
                                           "or dropped it")
    replay = _ok("replay", "paws/fosters/F-101", env=env)
    assert ("version 2                 fosters_2025-03-16.csv (ingest run 3); changed: "
            "Mobile Phone added ('(707) 762-9000'), Phone gone (was '(707) 762-2841'), "
            "Street '418 Walnut St' → '418 Walnut Street'") in replay, replay
    assert "rejected person" in _ok("replay", "paws/fosters/F-104", env=env)

    # the fixes, as the answers said them, do fix: the gaps are gone
    _ok("ingest", "paws/fosters", str(_csv(tmp_path / "fosters_2025-03-23.csv", _week3())),
        env=env)
    _ok("process", env=env)
    gaps = _gaps(env)
    assert _gap(gaps, "routing_rejected", "F-104") == []
    assert [r for r in gaps if r["issue_type"] == "cat_no_microchip"] == []
    # Jo Smith's row, rejected for its missing id in both earlier files (the second under
    # the renamed header), has its id now: both rejects are corrected, none is listed
    assert [r for r in gaps if r["issue_type"] == "ingest_rejected"] == []
    jo = json.loads(_ok("why-missing", "paws/fosters/F-107", "--json", env=env))
    assert [(r["source_file"], r["status"]) for r in jo["rejects"]] == [
        ("fosters_2025-03-09.csv", "corrected"), ("fosters_2025-03-16.csv", "corrected")]
    assert jo["stands"]["source_file"] == "fosters_2025-03-23.csv" and not jo["missing"]
    assert jo["answer"].startswith(
        "rejected at ingest (missing_id) in fosters_2025-03-09.csv row 11 (ingest run 1), "
        "corrected by ingest run 4 (fosters_2025-03-23.csv); rejected at ingest (missing_id) "
        "in fosters_2025-03-16.csv row 8 (ingest run 3), corrected by ingest run 4 "
        "(fosters_2025-03-23.csv); stands now: version 1 from fosters_2025-03-23.csv (ingest "
        "run 4), processed, made or matched ")


def _why(env: dict[str, str], record: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(_ok("why-missing", record, "--json", env=env))
    return doc


def test_a_reject_a_later_file_corrects_is_no_longer_missing(db_url: str,
                                                             tmp_path: Path) -> None:
    """Rows rejected at ingest, then carried correctly by the next export (sql/core/040): a
    row with no id given one, a row too big trimmed (known by its id), a row in the wrong
    encoding read with the right one (known by its bytes). Each reject is marked corrected
    by the later run, why-missing stops listing it, and asked about the record it tells the
    reject as corrected and what stands now. A row never corrected is listed as before."""
    execute(db_url, ONBOARD)
    env = {"DATABASE_URL": db_url}
    limit = ("--max-row-bytes", "400")
    row = ["F-301", "Ann Lee", "ann.lee@gmail.com", "707-555-0101", "7 Oak St", "Petaluma",
           "94952", "Tux", "985112003450001", "M", "3/2/2025"]
    no_id = ["", "Bea Diaz", "bea.diaz@gmail.com", "707-555-0102", "8 Elm St", "Petaluma",
             "94952", "Mochi", "985112003450002", "F", "3/3/2025"]
    big = ["F-303", "Cy Moss", "cy@moss.org", "707-555-0103", "9 Ash St " + "x" * 400,
           "Cotati", "94931", "Pip", "985112003450003", "M", "3/4/2025"]
    lost = ["", "Di Fox", "", "", "", "", "", "Ghost", "", "F", "3/5/2025"]   # never fixed
    accented = b"F-305,Jos\xe9 Ruiz,jose@ruiz.org,707-555-0105,10 Fir St,Sonoma,95476,Nube," \
               b"985112003450005,F,3/6/2025"

    def export(path: Path, rows: list[list[str]]) -> Path:
        # the accented row as Windows Excel writes it: one byte UTF-8 cannot read
        _csv(path, [HEADER, *rows])
        path.write_bytes(path.read_bytes() + accented + b"\r\n")
        return path

    first = export(tmp_path / "fosters_2025-03-09.csv", [row, no_id, big, lost])
    done = json.loads(_ok("ingest", "paws/fosters", str(first), *limit, "--json", env=env))
    [run1] = done["runs"]
    assert run1["rejects_by_reason"] == {"missing_id": 2, "oversized": 1, "undecodable": 1}
    assert _why(env, "paws/fosters/F-303")["answer"].startswith(
        "missing: rejected at ingest (oversized) in fosters_2025-03-09.csv row 4 "
        f"(ingest run {run1['ingest_run_id']}): payload is")
    assert _why(env, "paws/fosters/F-303")["missing"] is True
    keys = {r["row_number"]: r["content_key"] for r in sql(
        db_url, "SELECT row_number, content_key FROM trapper.ingest_rejects")}
    assert keys[4] == "id:F-303" and keys[3].startswith("values:")
    assert keys[6].startswith("raw:") and keys[5].startswith("values:") and keys[5] != keys[3]

    # the next export: Bea given an id, Cy's street trimmed, the same bytes read as cp1252;
    # Di still has no id
    fixed = [row, ["F-302", *no_id[1:]], [*big[:4], "9 Ash St", *big[5:]], lost]
    second = export(tmp_path / "fosters_2025-03-16.csv", fixed)
    out = run_cli("ingest", "paws/fosters", str(second), *limit, "--encoding", "cp1252",
                  env=env)
    assert out.returncode == 0, out.stderr
    run1_id = run1["ingest_run_id"]
    run2_id = val(db_url, "SELECT max(ingest_run_id) FROM trapper.ingest_runs")
    assert (f"note: 3 row(s) that earlier runs rejected (run {run1_id}: 3) are in this file "
            "correctly") in out.stderr
    corrected = {r["row_number"]: r for r in sql(
        db_url, "SELECT row_number, corrected_by_run, corrected_record_id, corrected_at "
                "FROM trapper.ingest_rejects WHERE ingest_run_id = $1", run1_id)}
    assert {n: (r["corrected_by_run"], r["corrected_record_id"])
            for n, r in corrected.items()} == {
        3: (run2_id, "F-302"), 4: (run2_id, "F-303"), 5: (None, None), 6: (run2_id, "F-305")}
    _ok("process", env=env)

    # why-missing lists only the rejects still open: Di's, once (the row rejected again by
    # the second file is one gap, the newest run's: docs/ingest.md)
    listed = [r for r in _gaps(env) if r["issue_type"] == "ingest_rejected"]
    assert sorted((r["source_file"], r["entity_label"]) for r in listed) == [
        ("fosters_2025-03-16.csv", "fosters_2025-03-16.csv row 5")]
    # asked about a corrected record: the reject, corrected by run 2, and what stands now
    bea = _why(env, "paws/fosters/F-302")
    assert bea["missing"] is False
    [reject] = bea["rejects"]
    assert (reject["status"], reject["reason_code"], reject["ingest_run_id"],
            reject["corrected_by_run"], reject["corrected_by_file"]) == (
        "corrected", "missing_id", run1_id, run2_id, "fosters_2025-03-16.csv")
    assert (bea["stands"]["ingest_run_id"], bea["stands"]["source_file"],
            bea["stands"]["is_processed"]) == (run2_id, "fosters_2025-03-16.csv", True)
    assert {e["entity_type"] for e in bea["stands"]["entities"]} >= {"person", "cat"}
    assert bea["answer"].startswith(
        f"rejected at ingest (missing_id) in fosters_2025-03-09.csv row 3 (ingest run "
        f"{run1_id}), corrected by ingest run {run2_id} (fosters_2025-03-16.csv); stands now: "
        f"version 1 from fosters_2025-03-16.csv (ingest run {run2_id}), processed, made or "
        "matched ")
    assert not bea["answer"].startswith("missing")
    for record in ("F-303", "F-305"):
        doc = _why(env, f"paws/fosters/{record}")
        assert doc["missing"] is False and [r["status"] for r in doc["rejects"]] == [
            "corrected"]
    text = _ok("why-missing", "paws/fosters/F-303", env=env)
    assert text.startswith("paws/fosters/F-303: rejected at ingest (oversized)")
    assert f"run {run2_id} (fosters_2025-03-16.csv)" in text and "corrected" in text
    # a record no file carried
    nobody = _why(env, "paws/fosters/F-399")
    assert nobody["missing"] is True and nobody["answer"].startswith(
        "missing: no ingested file carried it")
    # a source that is nowhere is an error, not an answer
    unknown = run_cli("why-missing", "paws/fostres/F-302", env=env)
    assert unknown.returncode == 1 and "no source paws/fostres" in unknown.stderr
    both = run_cli("why-missing", "paws/fosters/F-302", "--type", "ingest_rejected", env=env)
    assert both.returncode == 2 and "not both" in both.stderr


def test_the_migration_keys_and_corrects_the_rejects_kept_before_it(db_url: str) -> None:
    """Core 040 on a database with rejects kept before it: a key where the reject kept what
    makes one (its id, or the bytes of a row the reader could not read; a missing_id row
    kept only bytes whose columns its file's header named), and a reject whose record a
    later run staged under its id corrected by that run. Run twice, it changes nothing more."""
    runs = [val(db_url, "INSERT INTO trapper.ingest_runs (source_system, source_table, "
                        "source_file, status) VALUES ('paws', 'fosters', $1, 'running') "
                        "RETURNING ingest_run_id", f) for f in ("a.csv", "b.csv")]
    execute(db_url, f"""
        INSERT INTO trapper.ingest_rejects (ingest_run_id, source_system, source_table,
            source_file, row_number, source_row_id, reason_code, reason, raw)
        VALUES ({runs[0]}, 'paws', 'fosters', 'a.csv', 2, 'F-1', 'oversized', 'big', 'x'),
               ({runs[0]}, 'paws', 'fosters', 'a.csv', 3, 'F-2', 'oversized', 'big', 'y'),
               ({runs[0]}, 'paws', 'fosters', 'a.csv', 4, NULL, 'undecodable', 'byte',
                '\\xe9'::bytea),
               ({runs[0]}, 'paws', 'fosters', 'a.csv', 5, NULL, 'missing_id', 'no id', ',x');
        INSERT INTO trapper.staged_records (source_system, source_table, source_row_id,
                                            source_file, ingest_run_id, row_hash, payload)
        VALUES ('paws', 'fosters', 'F-1', 'b.csv', {runs[1]}, 'h1', '{{}}');""")
    migration = (Path(__file__).parent.parent
                 / "sql/core/040_ingest_reject_corrections.sql").read_text()
    execute(db_url, "UPDATE trapper.ingest_rejects SET content_key = NULL")   # as before 040
    for _ in range(2):
        execute(db_url, migration)
        rows = {r["row_number"]: (r["content_key"], r["corrected_by_run"],
                                  r["corrected_record_id"]) for r in sql(
            db_url, "SELECT * FROM trapper.ingest_rejects")}
        assert rows == {
            2: ("id:F-1", runs[1], "F-1"), 3: ("id:F-2", None, None),
            # sha256 of the byte 0xe9, as listener/ingest/corrections.py raw_key says
            4: ("raw:" + hashlib.sha256(b"\xe9").hexdigest()[:32], None, None),
            5: (None, None, None)}
