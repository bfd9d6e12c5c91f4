"""Onboarding a source as a new user would, through the CLI, with the shapes and rule
configurations the other fixtures never used (docs/orchestrator.md, "Adding a new source with
SQL alone"): a source name the CLI cannot address, coordinates outside their range, a cell
saying "N/A" where a number goes, a composite whose parts the record does not have at all,
rules edited between runs, and the debugging commands on ids that do not exist."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import run_cli
from tests.entities import stage
from tests.helpers import execute, sql, val

# Field names with spaces, case, punctuation, accents and a repeated header (ingest names
# the second `Name` column `Name_1`), a composite address, typed coordinates and a count.
ONBOARD = """
INSERT INTO trapper.orchestrator_sources
    (source_system, source_table, display_name, entity_types_produced, processor_name,
     ingest_method, ingest_frequency, expected_fields, id_field_candidates)
VALUES ('felins', 'intake', 'Félin intake', '{person,place,colony_estimate}',
        'orchestrator_router', 'file_upload', 'on_demand',
        trapper.orchestrator_fields(ARRAY['Réf #', 'E-mail (primary)', 'Adresse: rue', 'Ville',
                                          'Name', 'Name_1'], ARRAY['Réf #'])
        || '[{"field": "Lat", "type": "float"}, {"field": "Lng", "type": "number"},
             {"field": "Cats", "type": "int"}]',
        ARRAY['Réf #']);
INSERT INTO trapper.orchestrator_routing_rules
    (source_system, source_table, source_fields, target_surface, target_field, routing_type,
     target_function, is_required)
VALUES ('felins', 'intake', ARRAY['Adresse: rue', 'Ville'], 'places', 'formatted_address',
        'function_call', 'find_or_create_place_deduped', true);
INSERT INTO trapper.orchestrator_routing_rules
    (source_system, source_table, source_field, target_surface, target_field, routing_type,
     target_function, transform_expression)
VALUES
    ('felins', 'intake', 'E-mail (primary)', 'sot_people', 'email', 'transform',
     'find_or_create_person', 'norm_email($1)'),
    ('felins', 'intake', 'Name', 'sot_people', 'first_name', 'direct', 'find_or_create_person',
     NULL),
    ('felins', 'intake', 'Name_1', 'sot_people', 'last_name', 'direct', 'find_or_create_person',
     NULL),
    ('felins', 'intake', 'Lat', 'places', 'lat', 'direct', 'find_or_create_place_deduped', NULL),
    ('felins', 'intake', 'Lng', 'places', 'lng', 'direct', 'find_or_create_place_deduped', NULL),
    ('felins', 'intake', 'Cats', 'place_colony_estimates', 'total_cats', 'direct', NULL, NULL);
"""

HEADER = "Réf #,E-mail (primary),Adresse: rue,Ville,Name,Name,Lat,Lng,Cats\n"


def _log(url: str, record: str) -> list[asyncpg.Record]:
    return sql(url, "SELECT action, target_surface, decision_reason, decision_details "
                    "FROM trapper.orchestrator_job_log WHERE source_system = 'felins' "
                    "AND source_record_id = $1 AND action IN ('routed', 'merged', 'skipped', "
                    "'rejected') ORDER BY log_seq", record)


def _onboard(url: str, tmp_path: Path, rows: str) -> dict[str, str]:
    execute(url, ONBOARD)
    f = tmp_path / "intake.csv"
    f.write_text(HEADER + rows)
    env = {"DATABASE_URL": url}
    ingested = run_cli("ingest", "felins/intake", str(f), env=env)
    assert ingested.returncode == 0, ingested.stderr
    return env


@pytest.mark.parametrize("statement, words", [
    ("INSERT INTO trapper.orchestrator_sources (source_system, source_table, display_name, "
     "ingest_method) VALUES ('Félin''s Rescue', 'intake', 'x', 'file_upload')",
     r"source_system 'Félin''s Rescue': a source name is a letter, then lowercase"),
    ("INSERT INTO trapper.orchestrator_sources (source_system, source_table, display_name, "
     "ingest_method) VALUES ('felins', 'intake form', 'x', 'file_upload')",
     "source_table 'intake form'"),
    ("SELECT trapper.register_source('felins', 'Intake', 'x')", "source_table 'Intake'"),
    ("SELECT trapper.register_source('f' || repeat('x', 63), 'intake', 'x')",
     "63 at most"),
    ("UPDATE trapper.orchestrator_sources SET source_table = 'Responses' "
     "WHERE source_system = 'client_survey'", "source_table 'Responses'"),
])
def test_a_source_name_the_cli_cannot_address_is_refused_when_written(
    db_url: str, statement: str, words: str
) -> None:
    # today's bug: a plain INSERT took 'Félin''s Rescue' / 'intake form', and `atlas-orch
    # ingest` could then never name the source ("must be SOURCE_SYSTEM/SOURCE_TABLE …")
    with pytest.raises(asyncpg.InvalidParameterValueError, match=words):
        execute(db_url, statement)


def test_a_source_s_other_columns_change_without_its_names_checked_again(db_url: str) -> None:
    execute(db_url, ONBOARD)
    execute(db_url, "UPDATE trapper.orchestrator_sources SET notes = 'n', is_active = false "
                    "WHERE source_system = 'felins'")
    assert val(db_url, "SELECT notes FROM trapper.orchestrator_sources "
                       "WHERE source_system = 'felins'") == "n"
    # the hint names the source as the CLI would take it
    with pytest.raises(asyncpg.InvalidParameterValueError) as refused:
        execute(db_url, "SELECT trapper.register_source('Barn Cats!', 'reports', 'x')")
    assert refused.value.hint is not None and "'barn_cats'" in refused.value.hint


def test_coordinates_out_of_range_and_no_value_words(db_url: str, tmp_path: Path) -> None:
    env = _onboard(db_url, tmp_path,
                   "R1,ann@x.org,1 A St,Cotati,Ann,Lee,38.35,-122.7,4\n"
                   "R2,bob@x.org,2 B St,Cotati,Bob,Ray,95,-122.7,4\n"
                   "R3,cy@x.org,3 C St,Cotati,Cy,Poe,38.35,-200,4\n"
                   'R4,di@x.org,4 D St,Cotati,Di,Orr,"1,200",-122.7,4\n'
                   "R5,ed@x.org,5 E St,Cotati,Ed,Fox,N/A, - ,unknown\n"
                   "R6,fay@x.org,6 F St,Cotati,Fay,Gray,38.35,-122.7,-3\n")
    done = run_cli("process", "--json", env=env)
    assert done.returncode == 0 and json.loads(done.stdout)["jobs_completed"] == 1, done.stdout
    # a latitude of 95 or 1,200, a longitude of -200, a count below zero: rejected, naming
    # the field and the value, before anything is written (they were stored before)
    for record, reason in (
            ("R2", "rejected: field Lat value '95' is not a latitude (-90 to 90) (places.lat)"),
            ("R3", "rejected: field Lng value '-200' is not a longitude (-180 to 180) "
                   "(places.lng)"),
            ("R4", "rejected: field Lat value '1,200' is not a latitude (-90 to 90) "
                   "(places.lat)"),
            ("R6", "rejected: field Cats value '-3' is not a count of cats (0 or more) "
                   "(place_colony_estimates.total_cats)")):
        assert [(r["action"], r["decision_reason"]) for r in _log(db_url, record)
                if r["action"] == "rejected"] == [("rejected", reason)], record
    assert val(db_url, "SELECT count(*) FROM trapper.places WHERE formatted_address ~ "
                       "'^[2346] '") == 0
    assert val(db_url, "SELECT count(*) FROM trapper.sot_people") == 2     # Ann and Ed
    # "N/A", "-" and "unknown" where numbers go are empty cells (the whole record was
    # rejected as "not a double precision"): skipped, and the place made without them
    reasons = {r["decision_reason"] for r in _log(db_url, "R5")}
    assert {"skipped: field Lat holds 'N/A', no value", "skipped: field Lng holds '-', no value",
            "skipped: field Cats holds 'unknown', no value"} <= reasons
    assert val(db_url, "SELECT location IS NULL FROM trapper.places WHERE formatted_address "
                       "= '5 E St, Cotati'") is True
    assert val(db_url, "SELECT location IS NOT NULL FROM trapper.places WHERE "
                       "formatted_address = '1 A St, Cotati'") is True
    # why-missing says the record was rejected for that cell, and to correct that cell (it
    # said the record's other decisions stood, and to write a street address); a word
    # meaning "no value" is no gap
    gaps = run_cli("why-missing", "felins/intake/R2", "--json", env=env)
    assert gaps.returncode == 0, gaps.stderr
    [gap] = json.loads(gaps.stdout)["gaps"]
    assert gap["explanation"] == ("The router rejected the record: rejected: field Lat value "
                                  "'95' is not a latitude (-90 to 90) (places.lat)")
    assert gap["suggested_fix"].startswith("Correct Lat ('95') in this row of the export: "
                                           "places.lat takes a number from -90 to 90, or "
                                           "leave the cell empty")
    assert [g["issue_type"] for g in json.loads(run_cli(
        "why-missing", "felins/intake/R5", "--json", env=env).stdout)["gaps"]] == [
        "place_no_geometry"]                        # no coordinates given: the place's own


def test_a_no_value_word_in_a_required_typed_field_rejects_as_missing(db_url: str) -> None:
    execute(db_url, ONBOARD)
    execute(db_url, "UPDATE trapper.orchestrator_routing_rules SET is_required = true "
                    "WHERE source_system = 'felins' AND source_field = 'Lat'")
    sid = stage(db_url, "felins", "intake", {"Réf #": "q1", "Adresse: rue": "7 G St",
                                             "Ville": "Cotati", "Lat": "n/a"}, "q1")
    val(db_url, "SELECT trapper.route_staged_record($1)", sid)
    assert [(r["action"], r["decision_reason"]) for r in _log(db_url, "q1")] == [
        ("rejected", "rejected: required field Lat missing (it holds 'n/a')")]
    # through a transform too: no value, not a value it could not read (why-missing listed
    # it as lost data, "Correct Cats ('N/A')")
    execute(db_url, "UPDATE trapper.orchestrator_routing_rules SET routing_type = 'transform', "
                    "transform_expression = 'to_count($1)' WHERE source_system = 'felins' "
                    "AND source_field = 'Cats'")
    sid = stage(db_url, "felins", "intake", {"Réf #": "q2", "Adresse: rue": "8 H St",
                                             "Ville": "Cotati", "Lat": "38.3", "Cats": " N/A "},
                "q2")
    val(db_url, "SELECT trapper.route_staged_record($1)", sid)
    assert "skipped: field Cats holds 'N/A', no value" in {
        r["decision_reason"] for r in _log(db_url, "q2")}
    assert val(db_url, "SELECT count(*) FROM trapper.v_data_why_missing "
                       "WHERE source_record_id = 'q2' AND issue_type = 'value_unread'") == 0


def test_a_composite_whose_parts_the_record_lacks_says_so(db_url: str) -> None:
    execute(db_url, ONBOARD)
    execute(db_url, "UPDATE trapper.orchestrator_routing_rules SET is_required = false "
                    "WHERE source_system = 'felins' AND target_field = 'formatted_address'")
    # a JSON export whose row has neither key: not "all empty", which sent people looking
    # for blank cells
    sid = stage(db_url, "felins", "intake", {"Réf #": "j1", "E-mail (primary)": "j@x.org"},
                "j1")
    val(db_url, "SELECT trapper.route_staged_record($1)", sid)
    assert "skipped: the record has none of the fields Adresse: rue, Ville" in {
        r["decision_reason"] for r in _log(db_url, "j1")}
    # one part there and empty: all empty, as before
    sid = stage(db_url, "felins", "intake", {"Réf #": "j2", "Ville": " "}, "j2")
    val(db_url, "SELECT trapper.route_staged_record($1)", sid)
    assert "skipped: fields Adresse: rue, Ville all empty" in {
        r["decision_reason"] for r in _log(db_url, "j2")}


def test_rules_edited_between_runs_dry_run_shows_exactly_the_changes(
    db_url: str, tmp_path: Path
) -> None:
    env = _onboard(db_url, tmp_path,
                   "R1,ann@x.org,1 A St,Cotati,Ann,Lee,38.35,-122.7,4\n"
                   "R2,bob@x.org,2 B St,Petaluma,Bob,Ray,,,\n"
                   "R3,cy@x.org,3 C St,Cotati,Cy,Poe,,,about 6\n")
    assert run_cli("process", env=env).returncode == 0

    def dry() -> dict[str, int]:
        out = run_cli("route", "felins/intake", "--dry-run", "--json", env=env)
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout)
        return doc["summary"] | {"ids": sorted(c["source_record_id"] for c in doc["changed"])}

    # a rule written again as it was (its version rises): nothing changes
    execute(db_url, "UPDATE trapper.orchestrator_routing_rules SET transform_expression = "
                    "'trim($1)', routing_type = 'transform' WHERE source_system = 'felins' "
                    "AND source_field = 'Name'")
    assert dry()["changed"] == 0
    # the count read as people write it: only R3 ("about 6") changes
    execute(db_url, "UPDATE trapper.orchestrator_routing_rules SET source_field = 'Cats', "
                    "transform_expression = 'to_count($1)', routing_type = 'transform' "
                    "WHERE source_system = 'felins' AND target_field = 'total_cats'")
    summary = dry()
    assert (summary["changed"], summary["ids"]) == (1, ["R3"])
    # a rule deactivated: the records it fed, and only those
    execute(db_url, "UPDATE trapper.orchestrator_routing_rules SET is_active = false "
                    "WHERE source_system = 'felins' AND source_field = 'Lat'")
    assert dry()["ids"] == ["R1", "R3"]
    assert val(db_url, "SELECT count(*) FROM trapper.place_colony_estimates") == 1


def test_a_nameless_person_routed_again_is_no_change(db_url: str, tmp_path: Path) -> None:
    # An email with no name: routed again, the record's own person is its one holder, so the
    # dry run with no rule change reports nothing (it made a new person, queued for review,
    # and reported the record changed before core 044), and a second row of that email is
    # the same person.
    env = _onboard(db_url, tmp_path, "R7,pat@x.org,7 G St,Cotati,,,,,\n"
                                     "R8,pat@x.org,,,,,,,\n")
    assert run_cli("process", env=env).returncode == 0
    assert val(db_url, "SELECT count(*) FROM trapper.sot_people") == 1
    out = run_cli("route", "felins/intake", "--dry-run", "--json", env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["summary"]["changed"] == 0


@pytest.mark.parametrize("args, status", [
    (("replay", "felins/intake/NOPE"), 1),
    (("replay", "felins/intake"), 2),
    (("replay", ""), 2),
    (("why-missing", "felins"), 2),
    (("provenance", "place", "00000000-0000-0000-0000-000000000000"), 1),
    (("provenance", "place", "not-a-uuid"), 2),
    (("provenance", "dog", "00000000-0000-0000-0000-000000000000"), 2),
    (("route", "felins/intake", "--dry-run"), 1),          # registered, nothing staged
    (("route", "felins/intake", "--dry-run", "--limit", "0"), 2),     # was "none to route"
    (("route", "felins/intake", "--dry-run", "--limit", "-1"), 2),    # was a database error
    (("route", "felins/nosuch", "--dry-run"), 2),          # no such source: as --source
    (("route", "Felins/intake", "--dry-run"), 2),
    (("rules", "check", "--source", "felins/nosuch"), 2),  # was 1, unlike every --source
    (("rules", "check", "--source", "Bad Name"), 2),
])
def test_debugging_commands_on_ids_that_do_not_exist(
    db_url: str, args: tuple[str, ...], status: int
) -> None:
    execute(db_url, ONBOARD)
    env = {"DATABASE_URL": db_url}
    for extra in ((), ("--json",)):
        out = run_cli(*args, *extra, env=env)
        assert out.returncode == status, (args, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr
        if extra:
            assert json.loads(out.stdout)["ok"] is False
        else:
            assert out.stdout == ""
    assert run_cli("why-missing", "felins/intake/NOPE", env=env).stdout.startswith(
        "felins/intake/NOPE: missing: no ingested file carried it")


def test_a_field_written_in_another_unicode_form_is_told_as_such(db_url: str) -> None:
    # 'Réf #' with its accent as a character of its own (NFD, as macOS writes names) prints
    # as the rows' 'Réf #': the hint said "the rows have 'Réf #', not 'Réf #'"
    execute(db_url, ONBOARD)
    stage(db_url, "felins", "intake", {"Réf #": "u1", "Ville": "Cotati"}, "u1")
    execute(db_url, "INSERT INTO trapper.orchestrator_routing_rules (source_system, "
                    "source_table, source_field, target_surface, target_field, routing_type, "
                    "target_function) VALUES ('felins', 'intake', normalize('Réf #', NFD), "
                    "'sot_people', 'address', 'direct', 'find_or_create_person')")
    out = run_cli("rules", "check", "--source", "felins/intake", "--json",
                  env={"DATABASE_URL": db_url})
    assert out.returncode == 1, out.stderr
    [row] = [r for r in json.loads(out.stdout) if r["target_field"] == "address"]
    assert row["status"] == "matches nothing"
    assert row["hint"].endswith("(the same letters in another Unicode form: copy the name "
                                "from the rows)"), row["hint"]
