"""Ingest: dedup, versions, the export quirks, and every bad-input case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthetic.xlsx import write_xlsx
from tests.conftest import run_cli
from tests.helpers import assert_accounted, sql, val


def ingest(url: str, source: str, *files: Path, extra: tuple[str, ...] = ()) -> dict:
    result = run_cli("ingest", source, *map(str, files), "--json", *extra,
                     env={"DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout)["runs"]
    for run in runs:
        assert_accounted(url, run)
    return runs[-1]


def test_same_file_twice_stages_nothing_new(db_url: str, tmp_path: Path) -> None:
    f = tmp_path / "people.csv"
    f.write_text("ID,Name,Email\n1,Ann,a@x.org\n2,Bob,b@x.org\n")
    first = ingest(db_url, "test/people", f)
    second = ingest(db_url, "test/people", f)
    assert (first["rows_new"], first["rows_duplicate"]) == (2, 0)
    assert (second["rows_new"], second["rows_duplicate"]) == (0, 2)
    assert second["job_id"] is None  # nothing new, nothing to process
    assert val(db_url, "SELECT count(*) FROM trapper.staged_records") == 2
    runs = sql(db_url, "SELECT rows_read, rows_new, rows_duplicate, status "
                       "FROM trapper.ingest_runs ORDER BY ingest_run_id")
    assert [tuple(r) for r in runs] == [(2, 2, 0, "completed"), (2, 0, 2, "completed")]


def test_whitespace_only_edits_are_the_same_content(db_url: str, tmp_path: Path) -> None:
    a = tmp_path / "a.csv"
    a.write_text("ID,Name,Email,Note\n1,Ann,a@x.org,\n")
    b = tmp_path / "b.csv"
    b.write_text("Note,ID,Name,Email\n, 1 ,Ann  ,a@x.org\n")
    ingest(db_url, "test/people", a)
    assert ingest(db_url, "test/people", b)["rows_duplicate"] == 1


def test_edited_row_is_a_new_version_of_the_same_record(db_url: str, tmp_path: Path) -> None:
    v1 = tmp_path / "v1.csv"
    v1.write_text("ID,Name,Email\n1,Ann,a@x.org\n2,Bob,b@x.org\n")
    v2 = tmp_path / "v2.csv"
    v2.write_text("ID,Name,Email\n1,Ann,ann@new.org\n2,Bob,b@x.org\n")
    ingest(db_url, "test/people", v1)
    second = ingest(db_url, "test/people", v2)
    assert (second["rows_new"], second["rows_duplicate"]) == (1, 1)
    versions = sql(db_url, "SELECT version, is_latest, staged_record_id "
                           "FROM trapper.v_staged_record_versions "
                           "WHERE source_system = 'test' AND source_row_id = '1' ORDER BY version")
    assert [(r["version"], r["is_latest"]) for r in versions] == [(1, False), (2, True)]
    assert versions[0]["staged_record_id"] < versions[1]["staged_record_id"]


def test_staged_rows_are_immutable(db_url: str, tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text("ID,Name\n1,Ann\n")
    ingest(db_url, "test/people", f)
    import asyncpg

    with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError, match="immutable"):
        sql(db_url, "UPDATE trapper.staged_records SET payload = '{}'")
    sql(db_url, "UPDATE trapper.staged_records SET is_processed = true")  # marking is allowed


def test_clinichq_quirks(db_url: str, tmp_path: Path) -> None:
    f = tmp_path / "appointment_info.xlsx"
    header = ["Number", "Date ", "Animal  Name", "Service / Subsidy", "Fleas", "Fleas"]
    write_xlsx(f, header, [
        ["25-1139", "03/14/2025", "Tux", "Spay", "Yes", "No"],
        ["", "", "", "Rabies Vaccine", "", ""],
        ["", "", "", "Ear Tip", "", ""],
        ["25-1140", "03/14/2025", "Luna", "Neuter", "", ""],
        ["25-1139", "03/28/2025", "Tux", "Recheck", "", ""],
    ])
    run = ingest(db_url, "clinichq/appointment_info", f)
    assert run["rows_read"] == 5
    assert run["rows_merged"] == run["service_lines_merged"] == 2
    assert run["rows_new"] == 3
    rows = {r["source_row_id"]: json.loads(r["payload"]) for r in sql(
        db_url, "SELECT source_row_id, payload FROM trapper.staged_records")}
    assert set(rows) == {"25-1139_2025-03-14", "25-1140_2025-03-14", "25-1139_2025-03-28"}
    tux = rows["25-1139_2025-03-14"]
    assert tux["All Services"] == ["Spay", "Rabies Vaccine", "Ear Tip"]
    assert tux["Animal Name"] == "Tux" and tux["Date"] == "03/14/2025"
    assert (tux["Fleas"], tux["Fleas_1"]) == ("Yes", "No")


def test_bad_rows_are_kept_with_their_reason_and_the_rest_lands(
    db_url: str, tmp_path: Path
) -> None:
    f = tmp_path / "mixed.csv"
    f.write_bytes(
        b"ID,Name,Note\n"
        b"1,Ann,fine\n"
        b"2,Caf\xe9,latin-1 byte\n"
        b"3,Nul\x00Name,nul\n"
        b",NoId,missing id\n"
        b"4,Big," + b"x" * 3000 + b"\n"
        b"5,Bob,also fine,surplus\n"
        b"6,Eve,fine\n"
    )
    run = ingest(db_url, "test/people", f, extra=("--max-row-bytes", "2000"))
    assert run["rows_new"] == 2
    assert run["rejects_by_reason"] == {"undecodable": 1, "nul_character": 1, "missing_id": 1,
                                        "oversized": 1, "malformed": 1}
    rejects = {r["reason_code"]: r for r in sql(
        db_url, "SELECT reason_code, reason, raw, row_number FROM trapper.ingest_rejects")}
    assert rejects["undecodable"]["raw"] == b"2,Caf\xe9,latin-1 byte"
    assert "--encoding" in rejects["undecodable"]["reason"]
    assert b"\x00" in rejects["nul_character"]["raw"]
    assert "2,000-byte limit" in rejects["oversized"]["reason"]
    assert rejects["missing_id"]["row_number"] == 5  # its line in the file (header = 1)
    assert rejects["undecodable"]["row_number"] == 3
    # The same file read as cp1252 stages the café row.
    again = ingest(db_url, "test/people", f, extra=("--encoding", "cp1252",
                                                    "--max-row-bytes", "2000"))
    assert again["rows_new"] == 1 and "undecodable" not in again["rejects_by_reason"]
    # its reject in the first run is corrected by the second (known by its bytes); the rows
    # the second run rejects again stay open
    assert again["rejects_corrected"] == {str(run["ingest_run_id"]): 1}
    assert [(r["reason_code"], r["corrected_by_run"]) for r in sql(
        db_url, "SELECT reason_code, corrected_by_run FROM trapper.ingest_rejects "
                "WHERE corrected_at IS NOT NULL")] == [("undecodable", again["ingest_run_id"])]


def test_json_and_ndjson_bad_elements(db_url: str, tmp_path: Path) -> None:
    j = tmp_path / "animals.json"
    j.write_text(json.dumps({"animals": [
        {"Internal-ID": "1", "Name": "Tux", "Microchips": [{"Id": "981020000000001"}]},
        "not an object",
        {"Internal-ID": "2", "Name": "Bad\u0000Name"},
        {"Name": "no id"},
    ]}))
    run = ingest(db_url, "shelterluv/animals", j)
    assert run["rows_new"] == 1
    assert run["rejects_by_reason"] == {"not_an_object": 1, "nul_character": 1, "missing_id": 1}
    n = tmp_path / "entries.ndjson"
    n.write_bytes(b'{"entry_id": "e1", "first_name": "Ann"}\n'
                  b'{"entry_id": "e2", broken\n'
                  b'\xff\xfe\n'
                  b'{"entry_id": "e3", "first_name": "Bob"}\n')
    run = ingest(db_url, "atlas_ui/manual_entry", n)
    assert run["rows_new"] == 2
    assert run["rejects_by_reason"] == {"malformed": 1, "undecodable": 1}


def test_airtable_records_are_unwrapped(db_url: str, tmp_path: Path) -> None:
    j = tmp_path / "req.json"
    j.write_text(json.dumps({"records": [
        {"id": "recA1", "createdTime": "2024-01-01T00:00:00Z",
         "fields": {"Case Number": "TR-1", "Internal Notes ": "trailing space kept"}}]}))
    ingest(db_url, "airtable/trapping_requests", j)
    row = sql(db_url, "SELECT source_row_id, payload FROM trapper.staged_records")[0]
    assert row["source_row_id"] == "recA1"
    assert json.loads(row["payload"]) == {"Case Number": "TR-1",
                                          "Internal Notes ": "trailing space kept"}


@pytest.mark.parametrize(("name", "content", "message"), [
    ("broken.json", b'{"records": [', "not valid JSON"),
    ("broken.xlsx", b"PK\x03\x04 this is not a workbook", "not a readable spreadsheet"),
    ("empty.csv", b"", "no header row"),
])
def test_unparseable_file_is_refused_whole(
    db_url: str, tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    f = tmp_path / name
    f.write_bytes(content)
    result = run_cli("ingest", "test/people", str(f), env={"DATABASE_URL": db_url})
    assert result.returncode == 1
    assert message in result.stderr and "nothing staged" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr   # one line, no trace
    assert val(db_url, "SELECT count(*) FROM trapper.staged_records") == 0
    assert val(db_url, "SELECT count(*) FROM trapper.ingest_rejects") == 0
    run = sql(db_url, "SELECT ingest_run_id, status, error, finished_at "
                      "FROM trapper.ingest_runs")[0]
    assert run["status"] == "failed" and message in run["error"]
    assert run["finished_at"] is not None
    assert f"[run {run['ingest_run_id']}]" in result.stderr
    assert val(db_url, "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                       "WHERE l.locktype = 'advisory' AND d.datname = current_database()") == 0


def test_bad_source_name_and_missing_file_are_clear(db_url: str, tmp_path: Path) -> None:
    bad = run_cli("ingest", "Clinic HQ/x", str(tmp_path / "x.csv"), env={"DATABASE_URL": db_url})
    assert bad.returncode == 2 and "SOURCE_SYSTEM/SOURCE_TABLE" in bad.stderr
    missing = run_cli("ingest", "test/people", str(tmp_path / "nope.csv"),
                      env={"DATABASE_URL": db_url})
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    usage = run_cli("ingest", env={"DATABASE_URL": db_url})
    assert usage.returncode == 2


def test_manifest_and_cli_usage_errors_are_clear(db_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": db_url}
    both = run_cli("ingest", "test/people", "x.csv", "--manifest", "m.json", env=env)
    assert both.returncode == 2 and "either --manifest" in both.stderr
    bad = tmp_path / "manifest.json"
    bad.write_text('{"files": [{"path": "a.csv"}]}')
    refused = run_cli("ingest", "--manifest", str(bad), env=env)
    assert refused.returncode == 1 and "not a usable manifest" in refused.stderr
    workers = run_cli("process", "--workers", "0", env=env)
    assert workers.returncode == 2 and "--workers" in workers.stderr and "x>=1" in workers.stderr


def test_records_key_picks_the_array_of_a_json_object(db_url: str, tmp_path: Path) -> None:
    f = tmp_path / "export.json"
    f.write_text(json.dumps({"animals": [{"id": "1"}], "people": [{"id": "p1"}, {"id": "p2"}]}))
    refused = run_cli("ingest", "test/people", str(f), env={"DATABASE_URL": db_url})
    assert refused.returncode == 1 and "--records-key" in refused.stderr
    assert "Traceback" not in refused.stderr
    run = ingest(db_url, "test/people", f, extra=("--records-key", "people"))
    assert (run["rows_read"], run["rows_new"]) == (2, 2)


def test_the_summary_says_what_to_do_about_an_encoding_or_a_source_nobody_processes(
    db_url: str, tmp_path: Path
) -> None:
    # an ASCII header over Windows-1252 rows: every accented row rejected, each naming only
    # its byte; the summary says which option reads them, and reading them so adds them
    f = tmp_path / "people.csv"
    f.write_bytes("ID,Name\n1,José\n2,Bob\n3,Zoë\n".encode("cp1252"))
    env = {"DATABASE_URL": db_url}
    first = run_cli("ingest", "test/people", str(f), env=env)
    assert first.returncode == 0, first.stderr
    assert "note: 2 row(s) are not valid in the file's encoding" in first.stderr
    assert "--encoding (for example cp1252" in first.stderr
    # test/people is registered nowhere: its rows wait for a processor, and it is said so
    assert "note: no processor handles test/people" in first.stderr
    again = ingest(db_url, "test/people", f, extra=("--encoding", "cp1252"))
    assert (again["rows_new"], again["rows_duplicate"], again["rows_rejected"]) == (2, 1, 0)
    assert again["notes"][0].startswith("no processor handles test/people")
    assert again["notes"][1].startswith("2 row(s) that earlier runs rejected (run ")
    names = {r["n"] for r in sql(db_url, "SELECT payload ->> 'Name' AS n "
                                         "FROM trapper.staged_records")}
    assert names == {"José", "Bob", "Zoë"}
    # a registered source has its processor: no note of that; the expected fields the file
    # has no column for are named (its rules find nothing there)
    s = tmp_path / "survey.csv"
    s.write_text("response_id,first_name\nr1,Ann\n")
    assert ingest(db_url, "client_survey/responses", s)["notes"] == [
        "no column for 'survey_date', 'last_name', 'email', 'phone', 'address', 'cat_count', "
        "'kittens_seen': an expected field of client_survey/responses, so the rules that read "
        "it find nothing in this file (atlas-orch rules check)"]


def test_a_mistyped_source_is_named_with_the_source_it_is_near(
    db_url: str, tmp_path: Path
) -> None:
    # "owner_inf" for owner_info: the generic profile found no id, every row was rejected
    # missing_id, and nothing said the source name was the mistake
    f = tmp_path / "owners.csv"
    f.write_text("Number,Owner First Name,Owner Email\n1,Ann,ann@lee.org\n")
    run = ingest(db_url, "clinichq/owner_inf", f)
    assert (run["rows_new"], run["rejects_by_reason"]) == (0, {"missing_id": 1})
    assert run["notes"] == [
        "no processor handles clinichq/owner_inf (did you mean clinichq/owner_info?): nothing "
        "staged for it will be processed until the source is registered (atlas-orch sources "
        "lists those that are; docs/orchestrator.md, \"Adding a new source with SQL alone\")"]
    # a name near nothing gets no guess
    assert "did you mean" not in ingest(db_url, "partner/visits", f)["notes"][0]


def test_header_variants_are_staged_under_the_names_the_processor_reads(
    db_url: str, tmp_path: Path
) -> None:
    # older ClinicHQ files say "Patient Name"; case, spacing, punctuation and order vary; an
    # extra column is kept as it is; a missing column the processor reads is named
    f = tmp_path / "cat_info.xlsx"
    write_xlsx(f, ["Export Batch", "DATE", "number ", "PATIENT NAME", "Microchip  number",
                   "Spay/Neuter Status", "sex", "Breed", "Primary Color"], [
        ["B7", "03/14/2025", "25-1139", "Tux", "981020000000001", "Yes", "Male", "DSH", "Black"],
    ])
    run = ingest(db_url, "clinichq/cat_info", f)
    assert run["rows_new"] == 1
    payload = json.loads(val(db_url, "SELECT payload FROM trapper.staged_records"))
    assert payload == {"Export Batch": "B7", "Date": "03/14/2025", "Number": "25-1139",
                       "Animal Name": "Tux", "Microchip Number": "981020000000001",
                       "Spay Neuter Status": "Yes", "Sex": "Male", "Breed": "DSH",
                       "Primary Color": "Black"}
    assert val(db_url, "SELECT source_row_id FROM trapper.staged_records") == "25-1139_2025-03-14"
    renamed, missing = run["notes"]
    assert "'PATIENT NAME' as 'Animal Name'" in renamed and "'sex' as 'Sex'" in renamed
    assert missing.startswith("no column for 'Secondary Color', 'Weight', 'Age Years', "
                              "'Age Months': the processor reads it")
    # the same record under its canonical headers is the same content: a duplicate
    g = tmp_path / "cat_info_canonical.xlsx"
    write_xlsx(g, ["Number", "Date", "Animal Name", "Microchip Number", "Sex", "Breed",
                   "Primary Color", "Spay Neuter Status", "Export Batch"],
               [["25-1139", "03/14/2025", "Tux", "981020000000001", "Male", "DSH", "Black",
                 "Yes", "B7"]])
    assert ingest(db_url, "clinichq/cat_info", g)["rows_duplicate"] == 1
    assert run_cli("process", env={"DATABASE_URL": db_url}).returncode == 0
    assert val(db_url, "SELECT display_name FROM trapper.sot_cats") == "Tux"
    # VolunteerHub's doubled spaces and a "Zip Code" for its PostalCode
    v = tmp_path / "users.xlsx"
    write_xlsx(v, ["Name -  FirstName", "Name  -  LastName", "Email",
                   "Street Address - Zip Code"], [["Ann", "Lee", "ann@x.org", "95404"]])
    run = ingest(db_url, "volunteerhub/users", v)
    payload = json.loads(val(db_url, "SELECT payload FROM trapper.staged_records "
                                     "WHERE source_system = 'volunteerhub'"))
    assert set(payload) == {"Name - FirstName", "Name - LastName", "Email",
                            "Street Address - PostalCode"}


def test_a_header_that_is_already_the_processors_name_is_never_shadowed(
    db_url: str, tmp_path: Path
) -> None:
    # "Zip" and "ZIP" both present: neither hides the other
    f = tmp_path / "people.csv"
    f.write_text("Internal-ID,Firstname,Zip,ZIP\n1,Ann,95404,95405\n")
    run = ingest(db_url, "shelterluv/people", f)
    payload = json.loads(val(db_url, "SELECT payload FROM trapper.staged_records"))
    assert (payload["Zip"], payload["ZIP"]) == ("95404", "95405")
    assert not any(n.startswith("headers read") for n in run["notes"])


def test_every_field_a_processor_reads_is_in_its_ingest_profile(core_db_url: str) -> None:
    # the header mapping knows a field only if the profile lists it: a processor reading a
    # field the profile lacks would see it only when the export spells it exactly so
    import re

    from listener.ingest.source_profiles import ALIASES, FIELDS

    rows = sql(core_db_url, "SELECT source_system, source_table, "
                            "pg_get_functiondef(processor_function::regproc) AS def "
                            "FROM trapper.data_engine_processors "
                            "WHERE processor_function LIKE 'trapper.process\\_%'")
    checked = 0
    for r in rows:
        key = (r["source_system"], r["source_table"])
        if key not in FIELDS:
            continue   # JSON-only and internal sources (web intake, staff entry, geocoder)
        read = set(re.findall(r"p\s*->>?\s*'([^']+)'", r["def"]))
        known = set(FIELDS[key]) | set(ALIASES.get(key, {}))
        assert read - known - {"All Services"} == set(), key
        checked += 1
    assert checked == 12


def test_clinichq_values_written_other_ways_make_the_same_links(
    db_url: str, tmp_path: Path
) -> None:
    # the visit's Date as ISO in one file and as an Excel serial in another is one visit;
    # Ownership in capitals is still a community cat; a float phone and a mailto email are
    # the owner's identifiers
    a = tmp_path / "appointment_info.xlsx"
    write_xlsx(a, ["Number", "Date", "Animal Name", "Microchip Number", "Service / Subsidy"],
               [["25-1139", "2025-03-14", "Tux", "981 020000 000001", "Spay"]])
    o = tmp_path / "owner_info.xlsx"
    write_xlsx(o, ["Number", "Date", "Owner First Name", "Owner Last Name", "Owner Phone",
                   "Owner Email", "Owner Address", "Ownership"],
               [["25-1139", "45730", "Ann", "Lee", "7075231234.0", "mailto:Ann@X.org",
                 "12 Oak St, Santa Rosa, CA 95404", "COMMUNITY CAT (FERAL)"]])
    ingest(db_url, "clinichq/appointment_info", a)
    ingest(db_url, "clinichq/owner_info", o)
    assert {r["source_row_id"] for r in sql(db_url, "SELECT source_row_id FROM "
                                                    "trapper.staged_records")} == {
        "25-1139_2025-03-14"}
    assert run_cli("process", env={"DATABASE_URL": db_url}).returncode == 0
    appt = sql(db_url, "SELECT person_id IS NOT NULL AS linked FROM trapper.sot_appointments")
    assert [r["linked"] for r in appt] == [True]
    assert val(db_url, "SELECT relationship FROM trapper.person_cat") == "caretaker"
    ids = {(r["id_type"], r["id_value_norm"]) for r in sql(
        db_url, "SELECT id_type, id_value_norm FROM trapper.person_identifiers")}
    assert {("phone", "7075231234"), ("email", "ann@x.org")} <= ids
    assert val(db_url, "SELECT id_value FROM trapper.cat_identifiers "
                       "WHERE id_type = 'microchip'") == "981020000000001"
