"""Exports shaped unlike ours, onboarded with SQL alone as docs/orchestrator.md says ("Exports
shaped otherwise"): a Google Form (a whole name in one cell, several emails or phones in one
cell), a Jotform export (an address on several lines of one cell) and a shelter's animal
export (dogs and rabbits beside the cats). Each test drives the CLI as a new user would."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.conftest import run_cli
from tests.helpers import execute, sql, val

FORM_SOURCE = """
INSERT INTO trapper.orchestrator_sources
    (source_system, source_table, display_name, entity_types_produced, processor_name,
     ingest_method, ingest_frequency, expected_fields, id_field_candidates)
VALUES ('tnr_form', 'intake', 'Google Form intake', '{person,place,colony_estimate}',
        'orchestrator_router', 'file_upload', 'on_demand',
        trapper.orchestrator_fields(ARRAY['Timestamp', 'Email Address',
            'Your name (first and last)', 'What is the best phone number to reach you?',
            'Address where the cats are located', 'How many cats?'], ARRAY['Timestamp']),
        ARRAY['Timestamp']);
INSERT INTO trapper.orchestrator_routing_rules
    (source_system, source_table, source_field, target_surface, target_field, routing_type,
     target_function, transform_expression, is_required)
VALUES
    ('tnr_form', 'intake', 'Address where the cats are located', 'places', 'formatted_address',
     'function_call', 'find_or_create_place_deduped', NULL, true),
    ('tnr_form', 'intake', 'Email Address', 'sot_people', 'email', 'transform',
     'find_or_create_person', 'norm_email($1)', false),
    ('tnr_form', 'intake', 'What is the best phone number to reach you?', 'sot_people', 'phone',
     'transform', 'find_or_create_person', 'norm_phone_us($1)', false),
    ('tnr_form', 'intake', 'Your name (first and last)', 'sot_people', 'full_name', 'direct',
     'find_or_create_person', NULL, false),
    ('tnr_form', 'intake', 'How many cats?', 'place_colony_estimates', 'total_cats', 'transform',
     NULL, 'to_count($1)', false);
"""

FORM_ROWS = [
    ["Timestamp", "Email Address", "Your name (first and last)",
     "What is the best phone number to reach you?", "Address where the cats are located",
     "How many cats?"],
    ["3/14/2025 9:02:11", "jane.doe@gmail.com", "Jane Doe", "(707) 523-1234",
     "12 Oak St, Petaluma, CA 94952", "5"],
    ["3/14/2025 10:15:43", "tom@yahoo.com; tom.work@acme.org", "Tom van der Berg",
     "707-546-1111 / 707-546-2222", "3 Birch Ln, Cotati, CA 94931", "3"],
    ["3/15/2025 18:20:05", "", "Doe, John", "+1 707 829 4321 (cell)",
     "9 Pine Rd, Sebastopol CA 95472", "about 2"],
    ["3/16/2025 9:30:00", "Sue O'Brien <SUE@gmail.com>", "Dr. Sue O'Brien",
     "(707) 544-7777 ext. 12", "77 Maple Dr, Windsor, CA 95492", "5-6"],
    ["3/17/2025 7:45:00", "", "Pat Kim", "707.555.0123 (cell)", "8 Ash Way, Napa, CA 94558",
     "lots"],
]


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def _people(url: str, system: str) -> dict[str, tuple[str, str, set[str]]]:
    """The people a source's records routed to: record id → (first, last, identifiers)."""
    rows = sql(url, """
        SELECT l.source_record_id, p.first_name, p.last_name,
               array(SELECT i.id_type || ':' || i.id_value_norm
                     FROM trapper.person_identifiers i WHERE i.person_id = p.person_id) AS ids
        FROM trapper.orchestrator_job_log l
        JOIN trapper.sot_people p ON p.person_id = l.target_entity_id
        WHERE l.source_system = $1 AND l.target_surface = 'sot_people'
          AND l.action IN ('routed', 'merged')""", system)
    return {r["source_record_id"]: (r["first_name"], r["last_name"], set(r["ids"]))
            for r in rows}


def test_a_google_form_with_names_and_lists_in_one_cell(db_url: str, tmp_path: Path) -> None:
    execute(db_url, FORM_SOURCE)
    env = {"DATABASE_URL": db_url}
    f = _write_csv(tmp_path / "form.csv", FORM_ROWS)
    ingested = run_cli("ingest", "tnr_form/intake", str(f), env=env)
    assert ingested.returncode == 0, ingested.stderr
    # the rules of this source alone, each matching the rows
    check = run_cli("rules", "check", "--source", "tnr_form/intake", "--json", env=env)
    assert check.returncode == 0, check.stderr
    assert sorted((r["source_field"], r["status"]) for r in json.loads(check.stdout)) == [
        ("Address where the cats are located", "ok"), ("Email Address", "ok"),
        ("How many cats?", "ok"), ("What is the best phone number to reach you?", "ok"),
        ("Your name (first and last)", "ok")]
    # a mistyped source is a command line to fix (exit 2), as every --source is
    nothing = run_cli("rules", "check", "--source", "tnr_forms", env=env)
    assert nothing.returncode == 2
    assert "error: no source 'tnr_forms': neither registered nor staged" in nothing.stderr
    dry = run_cli("route", "tnr_form/intake", "--dry-run", "--json", env=env)
    assert dry.returncode == 0, dry.stderr
    reasons = [d["decision_reason"] for d in json.loads(dry.stdout)["decisions"]]
    # the cell's other values are said, not dropped unsaid
    assert ("no person holds this email or phone [Email Address lists 2, the first passed: "
            "tom@yahoo.com, tom.work@acme.org; What is the best phone number to reach you? lists "
            "2, the first passed: 7075461111, 7075462222]") in reasons, reasons
    processed = run_cli("process", env=env)
    assert processed.returncode == 0, processed.stderr
    people = _people(db_url, "tnr_form")
    # (a Gmail address is held as its mailbox, dots aside: docs/identity.md)
    assert people["3/14/2025 9:02:11"] == ("Jane", "Doe",
                                           {"email:janedoe@gmail.com", "phone:7075231234"})
    # both numbers of a listing cell: the first as phone, the second as cell
    assert people["3/14/2025 10:15:43"] == (
        "Tom", "van der Berg", {"email:tom@yahoo.com", "phone:7075461111", "phone:7075462222"})
    assert people["3/15/2025 18:20:05"] == ("John", "Doe", {"phone:7078294321"})
    assert people["3/16/2025 9:30:00"] == ("Sue", "O'Brien",
                                           {"email:sue@gmail.com", "phone:7075447777"})
    assert val(db_url, "SELECT array_agg(source_record_id) FROM trapper.orchestrator_job_log "
                       "WHERE source_system = 'tnr_form' AND action = 'rejected'") == [
        "3/17/2025 7:45:00"]
    counts = sql(db_url, "SELECT source_record_id, total_cats FROM trapper.place_colony_estimates "
                         "ORDER BY source_record_id")
    assert [tuple(c) for c in counts] == [("3/14/2025 10:15:43", 3), ("3/14/2025 9:02:11", 5),
                                          ("3/15/2025 18:20:05", 2), ("3/16/2025 9:30:00", 6)]
    # a 555-01xx number is fiction by design, and the decision says so; "lots" is no count
    said = [r[0] for r in sql(db_url, "SELECT decision_reason FROM trapper.orchestrator_job_log "
                                      "WHERE source_record_id = '3/17/2025 7:45:00' "
                                      "AND action = 'skipped' ORDER BY log_seq")]
    assert ("skipped: norm_phone_us($1) gave nothing for What is the best phone number to reach "
            "you? = '707.555.0123 (cell)' (a 555-01xx number: the lines kept for fiction)") in said
    assert "skipped: to_count($1) gave nothing for How many cats? = 'lots'" in said


JOTFORM_SOURCE = """
INSERT INTO trapper.orchestrator_sources
    (source_system, source_table, display_name, entity_types_produced, processor_name,
     ingest_method, ingest_frequency, expected_fields, id_field_candidates)
VALUES ('jot', 'requests', 'Jotform requests', '{person,place}', 'orchestrator_router',
        'file_upload', 'on_demand',
        trapper.orchestrator_fields(ARRAY['Submission ID', 'Name', 'E-mail', 'Address'],
                                    ARRAY['Submission ID']),
        ARRAY['Submission ID']);
INSERT INTO trapper.orchestrator_routing_rules
    (source_system, source_table, source_field, target_surface, target_field, routing_type,
     target_function, transform_expression, is_required)
VALUES
    ('jot', 'requests', 'Address', 'places', 'formatted_address', 'function_call',
     'find_or_create_place_deduped', NULL, true),
    ('jot', 'requests', 'E-mail', 'sot_people', 'email', 'transform', 'find_or_create_person',
     'norm_email($1)', false),
    ('jot', 'requests', 'Name', 'sot_people', 'full_name', 'direct', 'find_or_create_person',
     NULL, false);
"""


def test_a_jotform_address_on_several_lines(db_url: str, tmp_path: Path) -> None:
    execute(db_url, JOTFORM_SOURCE)
    env = {"DATABASE_URL": db_url}
    f = _write_csv(tmp_path / "jot.csv", [
        ["Submission ID", "Name", "E-mail", "Address"],
        ["591001", "Jane Doe", "jane@gmail.com", "123 Main St\nApt 4\nSanta Rosa, CA 95401"],
        ["591002", "John Doe", "john@gmail.com", "123 Main St\r\nApt 4\r\nSanta Rosa, CA 95401"],
        ["591003", "Ann Lee", "ann@gmail.com",
         "Street Address: 5 Cedar Ct\nCity: Petaluma\nState / Province: CA\n"
         "Postal / Zip Code: 94952"],
    ])
    assert run_cli("ingest", "jot/requests", str(f), env=env).returncode == 0
    processed = run_cli("process", env=env)
    assert processed.returncode == 0, processed.stderr
    places = sql(db_url, "SELECT formatted_address, display_name, address_key "
                         "FROM trapper.places ORDER BY formatted_address")
    assert [tuple(p) for p in places] == [
        ("123 Main St, Apt 4, Santa Rosa, CA 95401", "123 Main St, Apt 4, Santa Rosa, CA 95401",
         "123|main st|4|santa rosa"),
        ("5 Cedar Ct, Petaluma, CA, 94952", "5 Cedar Ct, Petaluma, CA, 94952",
         "5|cedar ct||petaluma"),
    ]


ANIMALS_SOURCE = """
INSERT INTO trapper.orchestrator_sources
    (source_system, source_table, display_name, entity_types_produced, processor_name,
     ingest_method, ingest_frequency, expected_fields, id_field_candidates)
VALUES ('shelter', 'animals', 'Shelter animals', '{cat}', 'orchestrator_router',
        'file_upload', 'on_demand',
        trapper.orchestrator_fields(ARRAY['Animal ID', 'Animal Name', 'Species',
                                          'Microchip Number'], ARRAY['Animal ID']),
        ARRAY['Animal ID']);
INSERT INTO trapper.orchestrator_routing_rules
    (source_system, source_table, source_field, target_surface, target_field, routing_type,
     target_function, transform_expression, is_required)
VALUES
    ('shelter', 'animals', 'Microchip Number', 'sot_cats', 'microchip', 'direct',
     'find_or_create_cat_by_microchip', NULL, false),
    ('shelter', 'animals', 'Animal Name', 'sot_cats', 'name', 'direct',
     'find_or_create_cat_by_microchip', NULL, false),
    ('shelter', 'animals', 'Species', 'sot_cats', 'species', 'direct',
     'find_or_create_cat_by_microchip', NULL, false),
    ('shelter', 'animals', 'Animal ID', 'sot_cats', 'animal_id', 'direct',
     'find_or_create_cat_by_microchip', NULL, false);
"""


SPECIES = [("Cat", True), ("Feline", True), ("cat - domestic", True), ("Kitten", True),
           (None, True), ("Dog", False), ("Rabbit", False), ("Bobcat", False)]


def test_a_shelter_export_with_dogs_makes_cats_of_its_cats_only(db_url: str,
                                                                tmp_path: Path) -> None:
    execute(db_url, ANIMALS_SOURCE)
    env = {"DATABASE_URL": db_url}
    f = _write_csv(tmp_path / "animals.csv", [
        ["Animal ID", "Animal Name", "Species", "Microchip Number"],
        ["A1", "Tigger", "Cat", "985112003456789"],
        ["A2", "Rex", "Dog", "985112003456790"],
        ["A3", "Bun", "Rabbit", "985112003456792"],
        ["A4", "Shadow", "Feline", "985112003456793"],
        ["A5", "Mittens", "Cat", ""],           # no microchip: known by its Animal ID
        ["A6", "Spot", "Dog", ""],
    ])
    assert run_cli("ingest", "shelter/animals", str(f), env=env).returncode == 0
    processed = run_cli("process", env=env)
    assert processed.returncode == 0, processed.stderr
    assert sorted(r[0] for r in sql(db_url, "SELECT display_name FROM trapper.sot_cats")) == [
        "Mittens", "Shadow", "Tigger"]
    # the next export: Mittens again, now chipped, is the same cat, and has the chip
    g = _write_csv(tmp_path / "animals2.csv", [
        ["Animal ID", "Animal Name", "Species", "Microchip Number"],
        ["A5", "Mittens", "Cat", "985112003456800"],
    ])
    assert run_cli("ingest", "shelter/animals", str(g), env=env).returncode == 0
    assert run_cli("process", env=env).returncode == 0
    mittens = sql(db_url, "SELECT c.cat_id, i.id_value FROM trapper.sot_cats c "
                          "LEFT JOIN trapper.cat_identifiers i ON i.cat_id = c.cat_id "
                          "WHERE c.display_name = 'Mittens'")
    assert [m["id_value"] for m in mittens] == ["985112003456800"]
    reasons = [r[0] for r in sql(db_url, "SELECT decision_reason FROM trapper.orchestrator_job_log "
                                         "WHERE source_record_id = 'A5' AND action <> 'skipped' "
                                         "ORDER BY log_seq")]
    assert reasons == ["created cat (no microchip; known by its animal id A5)",
                       "matched existing cat via its animal id A5"]
    skipped = sql(db_url, "SELECT source_record_id, decision_reason "
                          "FROM trapper.orchestrator_job_log WHERE source_system = 'shelter' "
                          "AND decision_reason LIKE 'skipped: species%' "
                          "ORDER BY source_record_id")
    assert [tuple(s) for s in skipped] == [("A2", "skipped: species 'Dog' is not a cat"),
                                           ("A3", "skipped: species 'Rabbit' is not a cat"),
                                           ("A6", "skipped: species 'Dog' is not a cat")]
    missing = run_cli("why-missing", "--type", "routing_skipped", "--json", env=env)
    assert missing.returncode == 0, missing.stderr
    assert "species 'Dog' is not a cat" in missing.stdout
    # a mistyped kind is said, not shown as if --type had been left out
    typo = run_cli("why-missing", "--type", "routing_skiped", env=env)
    assert typo.returncode == 0, typo.stderr
    assert "no gaps of kind 'routing_skiped' now" in typo.stderr


def test_ingest_says_what_a_new_source_s_file_lacks(db_url: str, tmp_path: Path) -> None:
    """A registered source's headers are read as its expected fields (case, spacing and
    punctuation aside), a missing expected column is named (a blank header cell too), and
    rows rejected for want of an id say which column to name."""
    execute(db_url, ANIMALS_SOURCE)
    env = {"DATABASE_URL": db_url}
    f = _write_csv(tmp_path / "animals.csv", [
        ["ANIMAL ID", "", "species", "Microchip  Number"],
        ["A1", "Tigger", "Cat", "985112003456789"],
    ])
    ingested = run_cli("ingest", "shelter/animals", str(f), "--json", env=env)
    assert ingested.returncode == 0, ingested.stderr
    run = json.loads(ingested.stdout)["runs"][0]
    assert (run["rows_new"], run["rows_rejected"]) == (1, 0)
    assert run["notes"] == [
        "headers read as the source's expected fields: 'ANIMAL ID' as 'Animal ID', "
        "'species' as 'Species'",
        "no column for 'Animal Name': an expected field of shelter/animals, so the rules that "
        "read it find nothing in this file (atlas-orch rules check); the header cell of "
        "column_2 is blank (a merged or empty header cell in the file)",
    ]
    check = run_cli("rules", "check", "--source", "shelter", "--json", env=env)
    assert check.returncode == 1   # Animal Name matches nothing, and the hint says why
    hint = next(r["hint"] for r in json.loads(check.stdout) if r["source_field"] == "Animal Name")
    assert hint == ("the rows have a column with a blank header (column_2): a header cell "
                    "merged or left empty in the file")
    payload = val(db_url, "SELECT payload FROM trapper.staged_records")
    assert json.loads(payload) == {"Animal ID": "A1", "column_2": "Tigger", "Species": "Cat",
                                   "Microchip Number": "985112003456789"}

    # a row the encoding cannot read shows nothing of the header: no column is said missing
    h = tmp_path / "cp1252.csv"
    h.write_bytes("Animal ID,Animal Name,Species,Microchip Number\nA9,Zoë,Cat,\n".encode("cp1252"))
    notes = json.loads(run_cli("ingest", "shelter/animals", str(h), "--json",
                               env=env).stdout)["runs"][0]["notes"]
    assert len(notes) == 1 and notes[0].startswith("1 row(s) are not valid in the file's encoding")

    # a form registered without id_field_candidates: every row is rejected, and said why
    execute(db_url, "UPDATE trapper.orchestrator_sources SET id_field_candidates = NULL "
                    "WHERE source_system = 'shelter'")
    g = _write_csv(tmp_path / "again.csv", [["Animal Name", "Species"], ["Rex", "Dog"]])
    again = run_cli("ingest", "shelter/animals", str(g), env=env)
    assert again.returncode == 0, again.stderr
    assert ("note: 1 row(s) rejected missing_id: the file has no column 'id' or 'ID' or 'Id' or "
            "'record_id' or 'Record ID'; name the column that identifies a row with --id-field "
            "COLUMN") in again.stderr


DATES = [
    ("2025/03/14 9:02:11 AM GMT-7", "2025-03-14"),    # Google Forms' CSV download
    ("3/14/2025 9:02:11", "2025-03-14"),              # its response sheet
    ("3/14/2025 9:02:11 PM PDT", "2025-03-14"),
    ("Friday, March 14, 2025", "2025-03-14"),
    ("14-Mar-2025", "2025-03-14"),                    # shelter software, Excel's d-mmm-yyyy
    ("3-14-2025", "2025-03-14"),
    ("Mar 14, 2025, 9:02:11 AM", "2025-03-14"),
    ("2025.03.14", "2025-03-14"),
    ("14-03-2025", None), ("2025/3-14", None), ("yesterday", None),
    ("45730", "2025-03-14"),                          # an Excel serial, as parse_us_date reads it
]

COUNTS = [
    ("6", 6), ("about 6", 6), ("~6", 6), ("6 cats", 6), ("10+", 10), ("5-6", 6),
    ("5 to 6", 6), ("3 or 4", 4), ("six", 6), ("about five cats", 5), ("0", 0),
    ("2 adults, 3 kittens", None), ("lots", None), ("1,200", 1200), ("-3", None),
]


NAMES = [
    ("Jane Doe", "Jane", "Doe"), ("Ann Marie Lee", "Ann Marie", "Lee"),
    ("Doe, John", "John", "Doe"), ("Lee, Bob", "Bob", "Lee"),
    ("Bob Lee, Jr.", "Bob", "Lee Jr."), ("Bob Lee Jr.", "Bob", "Lee Jr."),
    ("Mary van der Berg", "Mary", "van der Berg"), ("Maria De La Cruz", "Maria", "De La Cruz"),
    ("Dr. Sue O'Brien", "Sue", "O'Brien"), ("  Sue   O'Brien ", "Sue", "O'Brien"),
    ("Jean-Luc Picard", "Jean-Luc", "Picard"), ("Cher", "Cher", None), ("Doe,", "Doe", None),
    (", John", "John", None), (",", None, None), ("", None, None),
]


def test_the_readers_of_species_dates_counts_and_names(db_url: str) -> None:
    """What the species check, to_date($1), to_count($1) and the full_name split make of
    what forms and shelter exports write (one database for all the cases)."""
    species = [(t, val(db_url, "SELECT trapper.orchestrator_is_cat_species($1) IS NOT FALSE", t))
               for t, _ in SPECIES]
    assert species == SPECIES
    dates = [(t, val(db_url, "SELECT trapper.orchestrator_to_date($1)::text", t))
             for t, _ in DATES]
    assert dates == DATES
    counts = [(t, val(db_url, "SELECT trapper.orchestrator_to_count($1)", t)) for t, _ in COUNTS]
    assert counts == COUNTS
    names = [(t, *tuple(sql(db_url, "SELECT * FROM trapper.orchestrator_split_name($1)", t)[0]))
             for t, _, _ in NAMES]
    assert names == NAMES


def test_a_workbook_with_unsaved_formulas_says_so(db_url: str, tmp_path: Path) -> None:
    import openpyxl

    execute(db_url, ANIMALS_SOURCE)
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["Animal ID", "Animal Name", "Species", "Microchip Number", "Days In Care"])
    ws.append(["A1", "Tigger", "Cat", "985112003456789", "=TODAY()-DATE(2025,3,14)"])
    ws.append(["A2", "Rex", "Dog", "985112003456790", "=TODAY()-DATE(2025,3,15)"])
    f = tmp_path / "animals.xlsx"
    wb.save(f)
    done = run_cli("ingest", "shelter/animals", str(f), "--json", env={"DATABASE_URL": db_url})
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)["runs"][0]
    assert run["rows_new"] == 2
    assert run["notes"] == [
        "formula cells with no saved value, read blank: 'Days In Care' (2); the workbook was "
        "written by a program that does not calculate (openpyxl, pandas): open it in Excel or "
        "LibreOffice, save it, and ingest it again (a row that gains a value is a new version "
        "of its record)"]
