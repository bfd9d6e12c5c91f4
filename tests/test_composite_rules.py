"""Issue 17, items 1 and 4: composite rules (one target parameter drawn from several source
fields, in order, with a separator) and typed rules (a value that cannot fit its target
parameter is refused when the rule is written, and rejected, never a failed job, when a
record's value does not convert). docs/orchestrator.md, "Adding a new source with SQL alone"."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import run_cli
from tests.entities import stage
from tests.helpers import execute, sql, val

# What docs/orchestrator.md ("A source whose address comes in columns") shows a user writing,
# read from the page so that the two cannot drift apart: a source whose address comes in four
# columns and whose given names in two.
_DOC = (Path(__file__).resolve().parents[1] / "docs" / "orchestrator.md").read_text()
ONBOARD = _DOC.split("### A source whose address comes in columns", 1)[1] \
    .split("```sql\n", 1)[1].split("```", 1)[0]

VISITS = (
    "Visit,First Name,Middle Name,Last Name,Email,Street,City,State,Zip\n"
    "v1,Jane,Marie,Doe,jane@doe.org,12 Oak St,Petaluma,CA,94952\n"
    "v2,Bob,,Ray,bob@ray.org,12 Oak St,Santa Rosa,CA,95404\n"
    "v3,Ann,,Lee,ann@lee.org, 12 Oak Street ,Petaluma,CA,94952\n"
    "v4,Cy,,Poe,cy@poe.org,,,,\n"
    "v5,Di,,Orr,di@orr.org,7 Elm St,,,94952\n"
)


def _log(url: str, record: str) -> list[asyncpg.Record]:
    return sql(url, "SELECT action, target_surface, target_entity_id, decision_reason, "
                    "decision_details FROM trapper.orchestrator_job_log "
                    "WHERE source_system = 'barn_cats' AND source_record_id = $1 "
                    "AND action IN ('routed', 'merged', 'skipped', 'rejected') "
                    "ORDER BY log_seq", record)


def test_onboarding_a_split_column_source_with_sql_alone(db_url: str, tmp_path: Path) -> None:
    execute(db_url, ONBOARD)
    rule = sql(db_url, "SELECT source_field, rule_version FROM trapper.orchestrator_routing_rules "
                       "WHERE source_system = 'barn_cats' AND target_field = 'formatted_address'")
    assert [tuple(r) for r in rule] == [("Street + City + State + Zip", 1)]
    f = tmp_path / "visits.csv"
    f.write_text(VISITS)
    env = {"DATABASE_URL": db_url}
    ingested = run_cli("ingest", "barn_cats/visits", str(f), env=env)
    assert ingested.returncode == 0, ingested.stderr

    # the dry run shows the parts and the value they make, and keeps nothing
    dry = run_cli("route", "barn_cats/visits", "--dry-run", "--json", env=env)
    assert dry.returncode == 0, dry.stderr
    decisions = json.loads(dry.stdout)["decisions"]
    reasons = [d["decision_reason"] for d in decisions]
    assert ("created place 7 Elm St, 94952 [formatted_address from Street + City + State + "
            "Zip: 7 Elm St, 94952]") in reasons
    # the JSON carries the decision's details too, as a logged decision does (the text's
    # reason is their summary): the parts and the value they made
    place = next(d for d in decisions if d["decision_reason"].startswith("created place 7 Elm"))
    composed = place["decision_details"]["composed"]
    assert [c["value"] for c in composed] == ["7 Elm St, 94952"]
    assert [p["field"] for p in composed[0]["parts"]] == ["Street", "City", "State", "Zip"]
    assert val(db_url, "SELECT count(*) FROM trapper.places") == 0

    done = run_cli("process", "--json", env=env)
    assert done.returncode == 0 and json.loads(done.stdout)["jobs_completed"] == 1, done.stdout

    # the same street in two towns is two places; the same address twice is one
    places = {r["formatted_address"]: r["place_id"] for r in sql(
        db_url, "SELECT formatted_address, place_id FROM trapper.places")}
    assert set(places) == {"12 Oak St, Petaluma, CA, 94952", "12 Oak St, Santa Rosa, CA, 95404",
                           "7 Elm St, 94952"}     # empty parts leave no doubled separator
    assert val(db_url, "SELECT address_key FROM trapper.places WHERE formatted_address = "
                       "'12 Oak St, Petaluma, CA, 94952'") == "12|oak st||petaluma"
    v1, v2, v3 = (next(r for r in _log(db_url, v) if r["target_surface"] == "places")
                  for v in ("v1", "v2", "v3"))
    assert (v1["action"], v2["action"], v3["action"]) == ("routed", "routed", "merged")
    assert v1["target_entity_id"] == v3["target_entity_id"] != v2["target_entity_id"]
    assert v3["decision_reason"] == (
        "matched existing place by its address [formatted_address from Street + City + State "
        "+ Zip: 12 Oak Street, Petaluma, CA, 94952]")     # each part trimmed
    composed = json.loads(v1["decision_details"])["composed"]
    assert composed == [{"target_field": "formatted_address", "separator": ", ",
                         "value": "12 Oak St, Petaluma, CA, 94952",
                         "parts": [{"field": "Street", "value": "12 Oak St"},
                                   {"field": "City", "value": "Petaluma"},
                                   {"field": "State", "value": "CA"},
                                   {"field": "Zip", "value": "94952"}]}]

    # the people, their given names joined from two columns, each linked to their place
    people = {r["last_name"]: (r["first_name"], r["place"]) for r in sql(db_url, """
        SELECT p.first_name, p.last_name, pl.formatted_address AS place
        FROM trapper.sot_people p
        LEFT JOIN trapper.person_place pp USING (person_id)
        LEFT JOIN trapper.places pl USING (place_id)""")}
    assert people == {"Doe": ("Jane Marie", "12 Oak St, Petaluma, CA, 94952"),
                      "Ray": ("Bob", "12 Oak St, Santa Rosa, CA, 95404"),
                      "Lee": ("Ann", "12 Oak St, Petaluma, CA, 94952"),
                      "Orr": ("Di", "7 Elm St, 94952")}
    person = next(r for r in _log(db_url, "v2") if r["target_surface"] == "sot_people")
    assert "[first_name from First Name + Middle Name: Bob]" in person["decision_reason"]

    # all four parts empty: the rule is required, so the record is rejected, and says why
    assert [(r["action"], r["decision_reason"]) for r in _log(db_url, "v4")] == [
        ("rejected", "rejected: required fields Street, City, State, Zip all empty")]
    why = sql(db_url, "SELECT explanation FROM trapper.v_data_why_missing "
                      "WHERE source_system = 'barn_cats' AND source_record_id = 'v4'")
    assert [r["explanation"] for r in why] == [
        "The router rejected the record: rejected: required fields Street, City, State, Zip "
        "all empty"]

    # replay's timeline carries the decision's parts
    tl = run_cli("replay", "barn_cats/visits/v1", "--json", env=env)
    assert tl.returncode == 0, tl.stderr
    details = [i.get("decision_details") for i in json.loads(tl.stdout)["items"]]
    assert any(d and "composed" in (d if isinstance(d, dict) else json.loads(d))
               for d in details)

    # rules check names the parts; a part no row carries is named too
    check = run_cli("rules", "check", "--json", env=env)
    assert check.returncode == 0, check.stderr
    row = next(r for r in json.loads(check.stdout)
               if r["source_system"] == "barn_cats" and r["target_field"] == "formatted_address")
    assert (row["source_fields"], row["rows_with_field"], row["status"]) == (
        ["Street", "City", "State", "Zip"], 5, "ok")
    execute(db_url, "UPDATE trapper.orchestrator_sources SET expected_fields = expected_fields "
                    "|| '[{\"field\": \"County\", \"type\": \"text\", \"required\": false}]' "
                    "WHERE source_system = 'barn_cats'; "
                    "UPDATE trapper.orchestrator_routing_rules SET source_field = NULL, "
                    "source_fields = ARRAY['Street', 'City', 'County'] "
                    "WHERE source_system = 'barn_cats' AND target_field = 'formatted_address'")
    assert val(db_url, "SELECT rule_version FROM trapper.orchestrator_routing_rules WHERE "
                       "source_system = 'barn_cats' AND target_field = 'formatted_address'") == 2
    row = next(r for r in json.loads(run_cli("rules", "check", "--json", env=env).stdout)
               if r["source_system"] == "barn_cats" and r["target_field"] == "formatted_address")
    assert (row["parts_missing"], row["status"]) == (["County"], "part(s) missing: County")


def test_composite_parts_empty_skip_like_an_empty_field(db_url: str) -> None:
    execute(db_url, ONBOARD)
    execute(db_url, "UPDATE trapper.orchestrator_routing_rules SET is_required = false "
                    "WHERE source_system = 'barn_cats' AND target_field = 'formatted_address'")
    sid = stage(db_url, "barn_cats", "visits", {"Visit": "s1", "First Name": " ",
                                                "Last Name": "Poe", "Email": "cy@poe.org",
                                                "Street": "", "City": ""}, "s1")
    val(db_url, "SELECT trapper.route_staged_record($1)", sid)
    skipped = [r for r in _log(db_url, "s1") if r["action"] == "skipped"]
    assert sorted(r["decision_reason"] for r in skipped) == [
        "skipped: fields First Name, Middle Name all empty",
        "skipped: fields Street, City, State, Zip all empty"]
    details = json.loads(skipped[0]["decision_details"])
    assert "field" in details and [p["field"] for p in details["parts"]][:2] in (
        ["Street", "City"], ["First Name", "Middle Name"])
    assert val(db_url, "SELECT count(*) FROM trapper.places") == 0
    assert val(db_url, "SELECT last_name FROM trapper.sot_people") == "Poe"


@pytest.mark.parametrize(("columns", "values", "message"), [
    ("source_fields", "ARRAY['Street', 'Town', 'Zip']",
     r'"Town" is not among the expected fields of the source'),
    ("source_fields", "ARRAY['Street', 'Town', 'Zipcode']",
     r'"Town", "Zipcode" are not among the expected fields'),
    ("source_fields", "ARRAY['Street']", "two or more distinct source_fields"),
    ("source_fields", "ARRAY['Street', 'Street']", "two or more distinct source_fields"),
    ("source_field, source_fields", "'address', ARRAY['Street', 'Zip']",
     r'source_field is its parts\' label "Street \+ Zip", not "address"'),
    ("source_field, field_separator", "'Street', ' '", "has no source_fields"),
])
def test_a_bad_composite_rule_is_refused_with_a_clear_message(
    db_url: str, columns: str, values: str, message: str
) -> None:
    execute(db_url, ONBOARD)
    with pytest.raises(asyncpg.InvalidParameterValueError, match=message):
        execute(db_url, f"INSERT INTO trapper.orchestrator_routing_rules (source_system, "
                        f"source_table, {columns}, target_surface, target_field, "
                        f"target_function) VALUES ('barn_cats', 'visits', {values}, 'places', "
                        f"'formatted_address', 'find_or_create_place_deduped')")


def test_a_rule_whose_value_cannot_fit_its_parameter_is_refused_when_written(
    db_url: str
) -> None:
    # today's bug: first_name (text) to places.lat (a number) was accepted
    with pytest.raises(asyncpg.InvalidParameterValueError,
                       match=r'places\.lat is double precision but the rule gives it text '
                             r'\(field "first_name" of client_survey/responses\)'):
        sql(db_url, "SELECT trapper.map_source_field('client_survey', 'responses', "
                    "'first_name', 'places', 'lat', 'direct', 'find_or_create_place_deduped')")
    with pytest.raises(asyncpg.InvalidParameterValueError, match="to_numeric"):
        execute(db_url, "INSERT INTO trapper.orchestrator_routing_rules (source_system, "
                        "source_table, source_field, target_surface, target_field, "
                        "target_function) VALUES ('client_survey', 'responses', 'first_name', "
                        "'places', 'lat', 'find_or_create_place_deduped')")
    # a date transform into a count, and a composite (text) into a count
    with pytest.raises(asyncpg.InvalidParameterValueError, match="is integer but the rule "
                                                                 "gives it date"):
        sql(db_url, "SELECT trapper.map_source_field('client_survey', 'responses', "
                    "'survey_date', 'place_colony_estimates', 'total_cats', 'transform', "
                    "NULL, 'to_date($1)')")
    # converted by a transform, or declared a number where the source is registered: accepted
    assert val(db_url, "SELECT trapper.map_source_field('client_survey', 'responses', "
                       "'kittens_seen', 'place_colony_estimates', 'kitten_count', 'transform', "
                       "'add_colony_estimate', 'to_integer($1)')")
    execute(db_url, ONBOARD)
    execute(db_url, "UPDATE trapper.orchestrator_sources SET expected_fields = expected_fields "
                    "|| '[{\"field\": \"Lat\", \"type\": \"float\"}, "
                    "{\"field\": \"Lng\", \"type\": \"numeric\"}]' "
                    "WHERE source_system = 'barn_cats'")
    for field, param in (("Lat", "lat"), ("Lng", "lng")):
        assert val(db_url, "SELECT trapper.map_source_field('barn_cats', 'visits', $1, "
                           "'places', $2, 'direct', 'find_or_create_place_deduped')",
                   field, param)


def test_a_value_that_does_not_convert_is_rejected_not_a_failed_job(
    db_url: str, tmp_path: Path
) -> None:
    execute(db_url, ONBOARD)
    execute(db_url, "UPDATE trapper.orchestrator_sources SET expected_fields = expected_fields "
                    "|| '[{\"field\": \"Lat\", \"type\": \"numeric\"}, "
                    "{\"field\": \"Lng\", \"type\": \"numeric\"}]' "
                    "WHERE source_system = 'barn_cats'")
    for field, param in (("Lat", "lat"), ("Lng", "lng")):
        val(db_url, "SELECT trapper.map_source_field('barn_cats', 'visits', $1, 'places', $2, "
                    "'direct', 'find_or_create_place_deduped')", field, param)
    f = tmp_path / "visits.csv"
    f.write_text("Visit,First Name,Last Name,Email,Street,City,State,Zip,Lat,Lng\n"
                 "t1,Jane,Doe,jane@doe.org,12 Oak St,Petaluma,CA,94952,38.2324,-122.6367\n"
                 "t2,Bob,Ray,bob@ray.org,14 Oak St,Petaluma,CA,94952,north-ish,-122.6\n"
                 "t3,Ann,Lee,ann@lee.org,16 Oak St,Petaluma,CA,94952,,\n")
    env = {"DATABASE_URL": db_url}
    assert run_cli("ingest", "barn_cats/visits", str(f), env=env).returncode == 0
    done = run_cli("process", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["jobs_completed"] == 1, done.stdout
    assert [(r["action"], r["decision_reason"]) for r in _log(db_url, "t2")] == [
        ("rejected", "rejected: field Lat value 'north-ish' is not a double precision "
                     "(places.lat)")]
    details = json.loads(_log(db_url, "t2")[0]["decision_details"])
    assert (details["field"], details["value"]) == ("Lat", "north-ish")
    assert val(db_url, "SELECT count(*) FROM trapper.sot_people WHERE last_name = 'Ray'") == 0
    located = {r["formatted_address"]: r["located"] for r in sql(
        db_url, "SELECT formatted_address, location IS NOT NULL AS located "
                "FROM trapper.places")}
    assert located == {"12 Oak St, Petaluma, CA, 94952": True,     # converted
                       "16 Oak St, Petaluma, CA, 94952": False}    # empty: no coordinates
    assert val(db_url, "SELECT count(*) FROM trapper.staged_records "
                       "WHERE processing_error IS NOT NULL") == 0


def test_a_composite_rule_s_parts_are_no_schema_drift(db_url: str, tmp_path: Path) -> None:
    execute(db_url, ONBOARD)
    f = tmp_path / "visits.csv"
    f.write_text(VISITS)
    assert run_cli("ingest", "barn_cats/visits", str(f),
                   env={"DATABASE_URL": db_url}).returncode == 0
    # the staged event the listener logs for a run names its rows; drift samples them
    execute(db_url, """
        INSERT INTO trapper.orchestrator_job_log
            (action, source_system, source_table, decision_details)
        SELECT 'staged', 'barn_cats', 'visits',
               jsonb_build_object('ingest_run_id', ingest_run_id, 'min_id', min(id),
                                  'max_id', max(id))
        FROM trapper.staged_records WHERE source_system = 'barn_cats'
        GROUP BY ingest_run_id""")
    drift = sql(db_url, "SELECT summary FROM trapper.orchestrator_detect_drift() "
                        "WHERE source_system = 'barn_cats'")
    assert [r["summary"] for r in drift] == []


# A source the project never saw, written as its export came: a header with padding, a
# repeated header, accents and dots, the address in five columns, missing and null fields.
UNSEEN = (
    "Report No., Reporter First ,Réporter LAST,E-mail Address,Street Line 1,Street Line 2,"
    "Ciudad,State,ZIP Code,Cat Count,Cat Count,Kittens,Seen On\n"
    "R1,Ana,Núñez,ana@nunez.org,12 Oak St,Apt 3,Petaluma,CA,94952,4,5,2.0,03/04/2025\n"
    "R2,Bob,Smith,bob@smith.org,7 Elm St,,Sebastopol, ,95472,3,,two,2025-03-05\n"
    "R3,Cy,Jones,cy@jones.org,9 Ash St,,,,95401,2,,1,yesterday\n"
    "R4,Di,Orr,di@orr.org,11 Fir St,,Cotati,CA,94931,many,,,March 3, 2025\n"
)


def test_an_unseen_source_onboarded_with_sql_alone(db_url: str, tmp_path: Path) -> None:
    # a header listed twice is refused where the source is written, naming it
    with pytest.raises(asyncpg.InvalidParameterValueError, match="Cat Count are listed twice"):
        val(db_url, "SELECT trapper.orchestrator_fields(ARRAY['Cat Count', 'Cat Count'])")
    execute(db_url, """
        INSERT INTO trapper.orchestrator_sources
            (source_system, source_table, display_name, entity_types_produced, processor_name,
             ingest_method, ingest_frequency, expected_fields, id_field_candidates)
        VALUES ('rescue_net', 'reports', 'Rescue Net', '{person,place,colony_estimate}',
                'orchestrator_router', 'file_upload', 'on_demand',
                trapper.orchestrator_fields(ARRAY['Report No.', ' Reporter First ',
                    'Réporter LAST', 'E-mail Address', 'Street Line 1', 'Street Line 2',
                    'Ciudad', 'State', 'ZIP Code', 'Cat Count', 'Cat Count_1', 'Seen On'],
                    ARRAY['Report No.'])
                || '[{"field": "Kittens", "type": "integer"}]',
                ARRAY['Report No.']);
        INSERT INTO trapper.orchestrator_routing_rules
            (source_system, source_table, source_fields, field_separator, target_surface,
             target_field, routing_type, target_function, is_required)
        VALUES ('rescue_net', 'reports', ARRAY['Street Line 1', 'Street Line 2', 'Ciudad',
                'State', 'ZIP Code'], ', ', 'places', 'formatted_address', 'function_call',
                'find_or_create_place_deduped', true);
        INSERT INTO trapper.orchestrator_routing_rules
            (source_system, source_table, source_field, target_surface, target_field,
             routing_type, target_function, transform_expression)
        VALUES ('rescue_net', 'reports', ' Reporter First ', 'sot_people', 'first_name',
                'direct', 'find_or_create_person', NULL),
               ('rescue_net', 'reports', 'Réporter LAST', 'sot_people', 'last_name', 'direct',
                'find_or_create_person', NULL),
               ('rescue_net', 'reports', 'E-mail Address', 'sot_people', 'email', 'transform',
                'find_or_create_person', 'norm_email($1)'),
               ('rescue_net', 'reports', 'Cat Count', 'place_colony_estimates', 'total_cats',
                'transform', NULL, 'to_integer($1)'),
               ('rescue_net', 'reports', 'Kittens', 'place_colony_estimates', 'kitten_count',
                'direct', NULL, NULL),
               ('rescue_net', 'reports', 'Seen On', 'place_colony_estimates',
                'observation_date', 'transform', NULL, 'to_date($1)')""")
    # text into a date is refused when the rule is written
    with pytest.raises(asyncpg.InvalidParameterValueError, match="is date but the rule"):
        execute(db_url, "INSERT INTO trapper.orchestrator_routing_rules (source_system, "
                        "source_table, source_field, target_surface, target_field) VALUES "
                        "('rescue_net', 'reports', 'Seen On', 'place_colony_estimates', "
                        "'observation_date')")
    f = tmp_path / "reports.csv"
    f.write_text(UNSEEN.replace("March 3, 2025", '"March 3, 2025"'))
    env = {"DATABASE_URL": db_url}
    assert run_cli("ingest", "rescue_net/reports", str(f), env=env).returncode == 0

    # ingest trimmed " Reporter First ": rules check names the key the rows carry
    check = run_cli("rules", "check", "--json", env=env)
    row = next(r for r in json.loads(check.stdout) if r["source_system"] == "rescue_net"
               and r["target_field"] == "first_name")
    assert (row["status"], row["near_matches"]) == (
        "matches nothing", {" Reporter First ": "Reporter First"})
    assert "the rows have 'Reporter First', not ' Reporter First '" in row["hint"]
    assert check.returncode == 1
    execute(db_url, "UPDATE trapper.orchestrator_routing_rules SET source_field = "
                    "'Reporter First' WHERE source_field = ' Reporter First '")

    done = run_cli("process", "--json", env=env)
    assert done.returncode == 0 and json.loads(done.stdout)["jobs_completed"] == 1, done.stderr

    def decided(record: str) -> list[tuple[str, str]]:
        return [(r["action"], r["decision_reason"]) for r in sql(
            db_url, "SELECT action, decision_reason FROM trapper.orchestrator_job_log "
                    "WHERE source_system = 'rescue_net' AND source_record_id = $1 "
                    "AND target_surface = 'place_colony_estimates' ORDER BY log_seq", record)]

    # 2.0 is the integer 2, 03/04/2025 the 4th of March; the values are logged as such
    estimate = sql(db_url, "SELECT total_cats, kitten_count, observation_date::text AS d "
                           "FROM trapper.place_colony_estimates ORDER BY total_cats DESC")
    assert tuple(estimate[0]) == (4, 2, "2025-03-04")
    # a declared integer that is no number, a date that is a word: rejected, named
    assert decided("R2") == [("rejected", "rejected: field Kittens value 'two' is not an "
                              "integer (place_colony_estimates.kitten_count)")]
    # 'yesterday' was the day before the routing (another one on each replay)
    assert ("skipped", "skipped: to_date($1) gave nothing for Seen On = 'yesterday'") \
        in decided("R3")
    assert ("skipped", "skipped: to_integer($1) gave nothing for Cat Count = 'many'") \
        in decided("R4")
    # empty parts are left out: no doubled separator, no "None"
    assert val(db_url, "SELECT count(*) FROM trapper.places WHERE formatted_address = "
                       "'9 Ash St, 95401'") == 1
    assert val(db_url, "SELECT count(*) FROM trapper.places "
                       "WHERE formatted_address ~ ', ,|None'") == 0
    assert val(db_url, "SELECT count(*) FROM trapper.staged_records "
                       "WHERE processing_error IS NOT NULL") == 0
    # nothing changed since: the dry run finds no record that would end differently
    dry = run_cli("route", "rescue_net/reports", "--dry-run", "--json", env=env)
    summary = json.loads(dry.stdout)["summary"]
    assert (summary["compared"], summary["changed"]) == (4, 0), summary


@pytest.mark.parametrize(("text", "date"), [
    ("2025-03-04", "2025-03-04"), ("2025-03-04T10:00:00Z", "2025-03-04"),
    ("03/04/2025", "2025-03-04"), ("3/4/25", "2025-03-04"), ("03/04/2025 2:30 PM", "2025-03-04"),
    ("March 3, 2025", "2025-03-03"), ("3 Mar 2025", "2025-03-03"), ("Sept 3, 2025", "2025-09-03"),
    ("yesterday", None), ("today", None), ("epoch", None), ("infinity", None),
    ("J2451187", None), ("2/30/2025", None), ("Marc 3, 2025", None), ("45000", "2023-03-15"),
    ("12345", None),
])
def test_to_date_reads_dates_as_exports_write_them(db_url: str, text: str,
                                                   date: str | None) -> None:
    assert val(db_url, "SELECT trapper.orchestrator_to_date($1)::text", text) == date
    assert val(db_url, "SELECT trapper.orchestrator_typed_value($1, 'date')", text) == date


def test_a_json_object_is_no_value_and_an_absent_field_is_named(db_url: str) -> None:
    execute(db_url, ONBOARD)
    # a nested object in a part of a required composite: rejected, naming the part
    sid = stage(db_url, "barn_cats", "visits", {
        "Visit": "n1", "First Name": "Gus", "Email": "gus@gus.org",
        "Street": {"line": "5 C St"}, "City": "Cotati"}, "n1")
    val(db_url, "SELECT trapper.route_staged_record($1)", sid)
    assert [(r["action"], r["decision_reason"]) for r in _log(db_url, "n1")] == [
        ("rejected", 'rejected: field Street holds a JSON object ({"line": "5 C St"}), not '
                     "a value a rule can pass")]
    assert val(db_url, "SELECT count(*) FROM trapper.places") == 0
    # an array in an optional field: that rule is skipped, the others route; a field the
    # record does not have is said to be absent, not empty
    sid = stage(db_url, "barn_cats", "visits", {
        "Visit": "n2", "First Name": "Ivy", "Email": ["ivy@ivy.org"], "Last Name": None,
        "Street": "9 Ash St", "City": "Cotati", "State": None, "Zip": 94931}, "n2")
    val(db_url, "SELECT trapper.route_staged_record($1)", sid)
    reasons = {r["decision_reason"] for r in _log(db_url, "n2")}
    assert ('skipped: field Email holds a JSON array (["ivy@ivy.org"]), not a value a rule '
            "can pass") in reasons
    assert "skipped: field Last Name is empty" in reasons   # null: there, without a value
    assert val(db_url, "SELECT formatted_address FROM trapper.places") == "9 Ash St, Cotati, 94931"
    execute(db_url, "INSERT INTO trapper.orchestrator_routing_rules (source_system, "
                    "source_table, source_field, target_surface, target_field, routing_type, "
                    "target_function, transform_expression) VALUES ('barn_cats', 'visits', "
                    "'Phone', 'sot_people', 'phone', 'transform', 'find_or_create_person', "
                    "'norm_phone_us($1)')")
    val(db_url, "SELECT trapper.route_staged_record($1)", sid)
    assert "skipped: the record has no field Phone" in {
        r["decision_reason"] for r in _log(db_url, "n2")}


def test_updating_a_composite_rule_s_parts_alone_rewrites_its_label(db_url: str) -> None:
    execute(db_url, ONBOARD)
    # what a user writes: the parts, not the label (it was refused, the hint saying to leave
    # source_field out, which the UPDATE had done)
    execute(db_url, "UPDATE trapper.orchestrator_routing_rules SET source_fields = "
                    "ARRAY['Street', 'Zip'] WHERE source_system = 'barn_cats' "
                    "AND target_field = 'formatted_address'")
    row = sql(db_url, "SELECT source_field, rule_version FROM trapper.orchestrator_routing_rules "
                      "WHERE source_system = 'barn_cats' AND target_field = 'formatted_address'")
    assert tuple(row[0]) == ("Street + Zip", 2)
