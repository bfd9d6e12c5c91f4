"""A steward at another organisation: a foster-tracking sheet (CSV) and a vet-visit log (XLSX)
onboarded with SQL alone, with the mess such files have (blank rows, a row twice, a person
with no usable identifier, a bad date, a placeholder phone, an address that names no street,
a cat with no microchip, a row with no id), then a re-export a week later with one row edited,
one removed and a column renamed, then the fixes. Each answer is checked against what is true
of the files (docs/operations.md, "Debugging your data")."""

from __future__ import annotations

import csv
import datetime
import json
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from tests.conftest import run_cli
from tests.helpers import execute

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
