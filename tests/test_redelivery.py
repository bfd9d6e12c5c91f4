"""The second delivery: sources send their exports again and again, as real organisations do
— the same file renamed, re-saved by a spreadsheet (CRLF, a byte-order mark, columns in
another order, ids as ``101.0``, dates written another way), sent again as JSON, corrected,
cut off by an interrupted upload and then sent whole. Nothing is counted twice, nothing is
lost, and what stands now is told as it is (docs/ingest.md, "Identity and versions")."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from tests.conftest import run_cli
from tests.helpers import assert_accounted, sql, val

HEADER = ["Internal-ID", "Firstname", "Lastname", "Email", "Phone", "Street", "City", "State",
          "Zip"]
PEOPLE = [
    ["101", "Maria", "Gonzalez", "maria.g@gmail.com", "(707) 762-2841", "418 Walnut St",
     "Petaluma", "CA", "94952"],
    ["102", "Dave", "Chen", "dchen@comcast.net", "707-762-1199", "22 Laurel Ave", "Petaluma",
     "CA", "94952"],
    ["104", "Rose", "Hill", "rose.h@aol.com", "707-823-4411", "5 Elm St", "Sonoma", "CA",
     "95476"],
]


def _csv(path: Path, rows: list[list[str]], header: list[str] = HEADER, *,
         crlf: bool = False, bom: bool = False) -> Path:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n" if crlf else "\n").writerows([header, *rows])
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode())
    return path


def _ok(*args: str, env: dict[str, str]) -> str:
    done = run_cli(*args, env=env)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def _ingest(url: str, source: str, path: Path) -> dict[str, Any]:
    """One file through the real CLI; its run, checked against the accounting rule."""
    out = json.loads(_ok("ingest", source, str(path), "--json", env={"DATABASE_URL": url}))
    [run] = out["runs"]
    assert_accounted(url, run)
    return dict(run)


def _counts(url: str) -> dict[str, int]:
    """What a re-delivery must not add to."""
    return {t: val(url, f"SELECT count(*) FROM trapper.{t}") for t in (
        "staged_records", "entity_sources", "person_identifiers", "data_engine_match_decisions",
        "sot_people", "places", "orchestrator_job_log")}


def test_the_same_export_sent_again_in_any_form_stages_nothing(db_url: str,
                                                               tmp_path: Path) -> None:
    env = {"DATABASE_URL": db_url}
    first = _ingest(db_url, "shelterluv/people", _csv(tmp_path / "people.csv", PEOPLE))
    assert (first["rows_new"], first["rows_duplicate"]) == (3, 0)
    _ok("process", env=env)
    _ok("listen", "--once", env=env)
    before = _counts(db_url)
    order = [8, 0, 3, 1, 2, 4, 5, 6, 7]
    again = [
        _csv(tmp_path / "people.csv", PEOPLE),                          # the same file
        _csv(tmp_path / "people (1).csv", PEOPLE),                      # a renamed copy
        _csv(tmp_path / "people_excel.csv", PEOPLE, crlf=True, bom=True),
        _csv(tmp_path / "people_reordered.csv", [[r[i] for i in order] for r in PEOPLE],
             ["ZIP" if HEADER[i] == "Zip" else HEADER[i] for i in order]),
        # re-saved by a spreadsheet tool that writes whole numbers as floats
        _csv(tmp_path / "people_floats.csv", [[f"{r[0]}.0", *r[1:]] for r in PEOPLE]),
    ]
    # ... and sent again from the API as JSON, its ids numbers
    records = [dict(zip(HEADER, r, strict=True)) for r in PEOPLE]
    for rec in records:
        rec["Internal-ID"] = int(rec["Internal-ID"])
    api = tmp_path / "people.json"
    api.write_text(json.dumps(records))
    for path in [*again, api]:
        run = _ingest(db_url, "shelterluv/people", path)
        assert (run["rows_read"], run["rows_new"], run["rows_duplicate"]) == (3, 0, 3), path
        assert run["job_id"] is None, path
    _ok("process", env=env)
    _ok("listen", "--once", env=env)
    assert _counts(db_url) == before
    health = {(h["source_system"], h["source_table"]): h
              for h in json.loads(_ok("health", "--json", env=env))["sources"]}
    people = health[("shelterluv", "people")]
    assert people["total_records_ingested"] == 3
    # the last ingest is the last re-send, which staged nothing new, in health and sources
    newest = val(db_url, "SELECT max(started_at) FROM trapper.ingest_runs")
    assert people["last_ingest_record_count"] == 0
    [source] = [s for s in json.loads(_ok("sources", "--json", env=env))
                if (s["source_system"], s["source_table"]) == ("shelterluv", "people")]
    assert source["last_ingest_record_count"] == 0
    assert source["last_ingest_at"] == people["last_ingest_at"] == newest.isoformat()
    # the versions view: one version each
    assert val(db_url, "SELECT max(version) FROM trapper.v_staged_record_versions") == 1


def test_a_visit_date_written_another_way_is_the_same_row(db_url: str,
                                                          tmp_path: Path) -> None:
    header = ["Number", "Date", "Animal Name", "Microchip Number", "Sex", "Weight"]
    rows = [["25-1139", "03/14/2025", "Biscuit", "985112003456781", "Female", "8.2"],
            ["25-1140", "03/14/2025", "Pepper", "985112003456782", "Male", "9"]]
    first = _ingest(db_url, "clinichq/cat_info", _csv(tmp_path / "cats.csv", rows, header))
    assert first["rows_new"] == 2
    iso = [[r[0], "2025-03-14", *r[2:]] for r in rows]
    run = _ingest(db_url, "clinichq/cat_info", _csv(tmp_path / "cats_iso.csv", iso, header))
    assert (run["rows_new"], run["rows_duplicate"]) == (0, 2)
    # a value that really changed is still a new version of its record
    iso[0][5] = "8.6"
    run = _ingest(db_url, "clinichq/cat_info", _csv(tmp_path / "cats_w.csv", iso, header))
    assert (run["rows_new"], run["rows_duplicate"]) == (1, 1)
    versions = sql(db_url, "SELECT source_row_id, version FROM trapper.v_staged_record_versions "
                           "ORDER BY staged_record_id")
    assert [(v["source_row_id"], v["version"]) for v in versions] == [
        ("25-1139_2025-03-14", 1), ("25-1140_2025-03-14", 1), ("25-1139_2025-03-14", 2)]


def test_an_export_cut_off_mid_row_then_sent_whole(db_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": db_url}
    whole = _csv(tmp_path / "people.csv", PEOPLE).read_bytes()
    cut = tmp_path / "people_partial.csv"
    cut.write_bytes(whole[:whole.index(b"rose.h") + 4])     # ...,Rose,Hill,rose
    run = _ingest(db_url, "shelterluv/people", cut)
    assert (run["rows_new"], run["rows_rejected"]) == (2, 1)
    assert run["rejects_by_reason"] == {"malformed": 1}
    assert any("the file ends inside its last row (record 104)" in n for n in run["notes"])
    # nothing of the cut row was staged: no version with its email cut to "rose"
    assert val(db_url, "SELECT count(*) FROM trapper.staged_records "
                       "WHERE source_row_id = '104'") == 0
    _ok("process", env=env)
    assert val(db_url, "SELECT count(*) FROM trapper.places") == 2
    answer = json.loads(_ok("why-missing", "shelterluv/people/104", "--json", env=env))
    assert answer["missing"] and "cut off" in answer["answer"], answer

    run = _ingest(db_url, "shelterluv/people", tmp_path / "people.csv")
    assert (run["rows_new"], run["rows_duplicate"]) == (1, 2)
    assert run["rejects_corrected"] == {str(run["ingest_run_id"] - 1): 1}
    _ok("process", env=env)
    _ok("listen", "--once", env=env)
    gaps = json.loads(_ok("why-missing", "--type", "ingest_rejected", "--json", env=env))
    assert gaps["rows"] == []
    answer = json.loads(_ok("why-missing", "shelterluv/people/104", "--json", env=env))
    assert not answer["missing"] and "corrected by ingest run" in answer["answer"], answer
    assert val(db_url, "SELECT count(*) FROM trapper.person_identifiers "
                       "WHERE id_value_norm LIKE 'rose%'") == 1


def test_a_cut_off_service_line_rejects_its_appointment(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "appointments.csv"
    # the upload stopped inside 25-2's second service line: the rest of 25-2 is gone too
    path.write_text("Number,Date,Animal Name,Microchip Number,Service / Subsidy\n"
                    "25-1,03/14/2025,Biscuit,985112003456781,Spay\n"
                    "25-2,03/14/2025,Pepper,985112003456782,Neuter\n"
                    ",,,Rab")
    run = _ingest(db_url, "clinichq/appointment_info", path)
    assert (run["rows_new"], run["rows_merged"], run["rows_rejected"]) == (1, 1, 1), run
    assert val(db_url, "SELECT source_row_id FROM trapper.ingest_rejects") == "25-2_2025-03-14"


def test_a_failed_version_corrected_by_a_later_file_is_no_longer_missing(
        db_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": db_url}
    header = ["place_key", "query_address", "status", "lat", "lng"]
    bad = [["pk-1", "Petaluma", "OK", "38.23", "-122.64"],
           ["pk-2", "22 Laurel Ave, Petaluma, CA 94952", "OK", "38.24", "-122.63"]]
    _ingest(db_url, "google_maps/geocode_results", _csv(tmp_path / "g1.csv", bad, header))
    _ok("process", env=env)
    failed = json.loads(_ok("why-missing", "--type", "staged_failed", "--json", env=env))
    assert [r["source_record_id"] for r in failed["rows"]] == ["pk-1"]
    fixed = [["pk-1", "418 Walnut St, Petaluma, CA 94952", "OK", "38.23", "-122.64"], bad[1]]
    _ingest(db_url, "google_maps/geocode_results", _csv(tmp_path / "g2.csv", fixed, header))
    _ok("process", env=env)
    failed = json.loads(_ok("why-missing", "--type", "staged_failed", "--json", env=env))
    assert failed["rows"] == [], failed
    answer = json.loads(_ok("why-missing", "google_maps/geocode_results/pk-1", "--json",
                            env=env))
    assert not answer["missing"] and answer["gaps"] == [], answer


def test_a_person_sent_again_with_new_email_and_phone_stays_one_person(
        db_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": db_url}
    _ingest(db_url, "shelterluv/people", _csv(tmp_path / "w1.csv", PEOPLE))
    _ok("process", env=env)
    rose = val(db_url, "SELECT person_id FROM trapper.sot_people WHERE last_name = 'Hill'")
    moved = [list(r) for r in PEOPLE]
    # Rose moved: another email, phone and street; Dave now names someone else entirely
    moved[2][3:6] = ["rose.hill@gmail.com", "707-555-9911", "12 Oak St"]
    moved[1][1:5] = ["Ana", "Ruiz", "ana.ruiz@gmail.com", "707-555-7788"]
    run = _ingest(db_url, "shelterluv/people", _csv(tmp_path / "w2.csv", moved))
    assert (run["rows_new"], run["rows_duplicate"]) == (2, 1)
    _ok("process", env=env)
    people = sql(db_url, "SELECT person_id, first_name, last_name FROM trapper.sot_people "
                         "WHERE merged_into_person_id IS NULL ORDER BY last_name")
    assert [p["last_name"] for p in people] == ["Chen", "Gonzalez", "Hill", "Ruiz"]
    held = {(r["id_value_norm"], r["person_id"]) for r in sql(
        db_url, "SELECT id_value_norm, person_id FROM trapper.person_identifiers "
                "WHERE person_id = $1", rose)}
    assert {"rose.h@aol.com", "rosehill@gmail.com", "7075559911",
            "shelterluv:104"} <= {v for v, _ in held}
    [decision] = sql(db_url, "SELECT decision_type, decision_reason, resulting_person_id "
                             "FROM trapper.data_engine_match_decisions "
                             "WHERE source_row_id = '104' ORDER BY decision_id DESC LIMIT 1")
    assert decision["decision_type"] == "auto_match"
    assert decision["resulting_person_id"] == rose
    assert "the same shelterluv/people record 104 as before" in decision["decision_reason"]
    # the one shelterluv id is held by one person
    assert val(db_url, "SELECT count(DISTINCT person_id) FROM trapper.person_identifiers "
                       "WHERE id_value_norm = 'shelterluv:104'") == 1


def test_a_row_rejected_in_every_resend_is_one_gap(db_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": db_url}
    rows = [*PEOPLE, ["", "Lee", "Park", "lee.park@gmail.com", "707-555-0142", "9 Orchard Ln",
                      "Cotati", "CA", "94931"]]
    for name in ("w1.csv", "w2.csv", "w2 (copy).csv"):
        run = _ingest(db_url, "shelterluv/people", _csv(tmp_path / name, rows))
        assert run["rejects_by_reason"] == {"missing_id": 1}
    gaps = json.loads(_ok("why-missing", "--type", "ingest_rejected", "--json", env=env))
    assert gaps["total"] == 1, gaps
    [gap] = gaps["rows"]
    assert gap["source_file"] == "w2 (copy).csv"
    # the row sent with its id at last closes every one of them
    rows[3][0] = "103"
    run = _ingest(db_url, "shelterluv/people", _csv(tmp_path / "w3.csv", rows))
    assert sum(run["rejects_corrected"].values()) == 3
    gaps = json.loads(_ok("why-missing", "--type", "ingest_rejected", "--json", env=env))
    assert gaps["total"] == 0, gaps


def test_an_older_export_sent_after_a_newer_one_is_said_and_changes_nothing(
        db_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": db_url}
    old = _csv(tmp_path / "week1.csv", PEOPLE)
    _ingest(db_url, "shelterluv/people", old)
    newer = [list(r) for r in PEOPLE]
    newer[2][4] = "707-823-9999"
    _ingest(db_url, "shelterluv/people", _csv(tmp_path / "week2.csv", newer))
    _ok("process", env=env)
    before = _counts(db_url)
    # week 1 again, as it was and re-saved with float ids: the newest version stands
    for path in (old, _csv(tmp_path / "week1_floats.csv",
                           [[f"{r[0]}.0", *r[1:]] for r in PEOPLE])):
        run = _ingest(db_url, "shelterluv/people", path)
        assert (run["rows_new"], run["rows_duplicate"]) == (0, 3), path
        [note] = [n for n in run["notes"] if "earlier version" in n]
        assert note.startswith("1 row(s) are an earlier version of their record, not its "
                               "newest (record 104): counted duplicates"), note
    _ok("process", env=env)
    assert _counts(db_url) == before
    latest = val(db_url, "SELECT payload ->> 'Phone' FROM trapper.staged_records s "
                         "JOIN trapper.v_staged_record_versions v ON v.staged_record_id = s.id "
                         "WHERE v.is_latest AND s.source_row_id = '104'")
    assert latest == "707-823-9999"


def test_a_record_asked_for_by_the_id_its_file_shows(db_url: str, tmp_path: Path) -> None:
    """A re-saved file shows 101.0 where ingest stored record 101: asked as the file shows
    it, the record stands (it was "missing: no ingested file carried it")."""
    env = {"DATABASE_URL": db_url}
    floats = [[f"{r[0]}.0", *r[1:]] for r in PEOPLE]
    _ingest(db_url, "shelterluv/people", _csv(tmp_path / "people.csv", floats))
    _ok("process", env=env)
    doc = json.loads(_ok("why-missing", "shelterluv/people/101.0", "--json", env=env))
    assert (doc["missing"], doc["source_record_id"]) == (False, "101"), doc
    assert run_cli("why-missing", "shelterluv/people/101.0",
                   env=env).stdout.startswith("shelterluv/people/101.0 (record 101): stands now")
    timeline = json.loads(_ok("replay", "shelterluv/people/101.0", "--json", env=env))
    assert timeline["source_record_id"] == "101"
    again = json.loads(_ok("replay", "shelterluv/people/101.0", "--reprocess", "--json",
                           env=env))
    assert (again["source_record_id"], again["changed"]) == ("101", False)
    _ok("listen", "--once", env=env)
    log = json.loads(_ok("log", "--source", "shelterluv/people", "--record", "101.0", "--json",
                         env=env))
    assert log and {r["source_record_id"] for r in log} == {"101"}


def test_a_cut_the_reader_cannot_read_is_corrected_by_the_whole_file(db_url: str,
                                                                     tmp_path: Path) -> None:
    """Cut inside a quoted field, or inside an NDJSON line, the row cannot be read at all:
    its reject is keyed by its bytes as a prefix, and the whole file sent again closes it
    (it stayed listed as ingest_rejected for ever: the whole row has other bytes)."""
    env = {"DATABASE_URL": db_url}
    whole = _csv(tmp_path / "people.csv",
                 [*PEOPLE[:2], ["104", "Rose", "Hill, Rose", *PEOPLE[2][3:]]]).read_bytes()
    assert b'"Hill, Rose"' in whole
    cut = tmp_path / "people_cut.csv"
    cut.write_bytes(whole[:whole.index(b'"Hill, Ro') + 9])
    records = [dict(zip(["Owner ID", *HEADER[1:]], r, strict=True)) for r in PEOPLE]
    ndjson = "".join(json.dumps(r) + "\n" for r in records)
    ndjson_cut = tmp_path / "people_cut.ndjson"
    ndjson_cut.write_text(ndjson[:ndjson.index("rose.h") + 3])
    for path, code, source in ((cut, "unbalanced_quote", "shelterluv/people"),
                               (ndjson_cut, "malformed", "petlink/owners")):
        run = _ingest(db_url, source, path)
        assert run["rejects_by_reason"] == {code: 1}, run
    gaps = json.loads(_ok("why-missing", "--type", "ingest_rejected", "--json", env=env))
    assert gaps["total"] == 2
    assert "the file ends inside this line" in json.dumps(gaps["rows"])
    (tmp_path / "people.ndjson").write_text(ndjson)
    for path, source in ((tmp_path / "people.csv", "shelterluv/people"),
                         (tmp_path / "people.ndjson", "petlink/owners")):
        run = _ingest(db_url, source, path)
        assert sum(run["rejects_corrected"].values()) == 1, (source, run)
    gaps = json.loads(_ok("why-missing", "--type", "ingest_rejected", "--json", env=env))
    assert gaps["total"] == 0, gaps
