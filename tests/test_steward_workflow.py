"""A data steward correcting their data day to day (docs/identity.md, "Reviewing";
docs/operations.md, "Debugging your data"), on real PostgreSQL: what a merge leaves behind
for the survivor, and what the review, explain and replay answers say after one."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import anyio
import asyncpg

from listener.admin import review
from tests.conftest import REPO, run_cli
from tests.helpers import execute, sql, val


def _resolve(url: str, row_id: str, first: str, last: str, phone: str | None,
             source: str = "petlink", email: str | None = None) -> dict[str, Any]:
    """Stage a record and resolve its person, as a processor would."""
    staged = val(url, "INSERT INTO trapper.staged_records (source_system, source_table, "
                      "source_row_id, row_hash, payload) VALUES ($1, 'owners', $2, $3, '{}') "
                      "RETURNING id", source, row_id, uuid.uuid4().hex)
    r = sql(url, "SELECT * FROM trapper.data_engine_resolve_identity($1, $2, $3, $4, NULL, $5, "
                 "$6)", email, phone, first, last, source, staged)[0]
    return dict(r)


def _act(url: str, decision: int, verdict: str, by: str = "steward") -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        conn = await asyncpg.connect(url)
        try:
            return await review.act(conn, decision, verdict, by=by)
        finally:
            await conn.close()

    return anyio.run(go)


def _pending_with_email(url: str) -> tuple[int, uuid.UUID, uuid.UUID]:
    """John Smith (clinic, a phone), then "J. Smith" from PetLink on his phone with an email
    John never gave: queued for review. Returns (decision, incoming person, candidate)."""
    john = _resolve(url, "c1", "John", "Smith", "7075230101", source="clinichq")
    jon = _resolve(url, "p1", "J.", "Smith", "7075230101", email="jsmith@sonic.net")
    assert jon["decision_type"] == "review_pending", jon
    return jon["decision_id"], jon["person_id"], john["person_id"]


def test_a_record_with_the_merged_away_persons_email_lands_on_the_survivor(
        db_url: str) -> None:
    decision, jon, john = _pending_with_email(db_url)
    assert _act(db_url, decision, "merge")["survivor_id"] == str(john)
    # the email J. Smith brought is the survivor's now
    assert val(db_url, "SELECT person_id FROM trapper.person_identifiers "
                       "WHERE id_value_norm = 'jsmith@sonic.net'") == john
    assert val(db_url, "SELECT count(*) FROM trapper.person_identifiers "
                       "WHERE person_id = $1", jon) == 0
    assert val(db_url, "SELECT primary_email FROM trapper.sot_people WHERE person_id = $1",
               john) == "jsmith@sonic.net"
    # John Smith again, by that email alone: the survivor, not another review
    again = _resolve(db_url, "c2", "John", "Smith", None, source="clinichq",
                     email="jsmith@sonic.net")
    assert again["decision_type"] == "auto_match", again
    assert again["person_id"] == john
    # the shared phone is one holder's again: explain sees the two as one and the score right
    why = val(db_url, "SELECT trapper.orchestrator_explain_person_pair($1, $2)", jon, john)
    why = json.loads(why) if isinstance(why, str) else why
    assert why["outcome"] == "same_entity", why


def test_links_and_household_move_to_the_survivor_without_duplicates(db_url: str) -> None:
    decision, jon, john = _pending_with_email(db_url)
    # J. Smith shares a phone with his wife (a household); John has none
    mary = _resolve(db_url, "p2", "Mary", "Jones", None, email="jsmith@sonic.net")
    assert mary["decision_type"] == "household_member", mary
    household = val(db_url, "SELECT household_id FROM trapper.sot_people WHERE person_id = $1",
                    jon)
    assert household is not None
    place = val(db_url, "SELECT trapper.find_or_create_place_deduped("
                        "'12 Oak St, Santa Rosa, CA 95404')")
    other = val(db_url, "SELECT trapper.find_or_create_place_deduped("
                        "'40 Elm St, Petaluma, CA 94952')")
    cat = val(db_url, "SELECT trapper.find_or_create_cat_by_microchip('985112000000001', "
                      "'Tom')")
    for person in (jon, john):
        sql(db_url, "SELECT trapper.link_person_place($1, $2, 'resident', 'test')", person,
            place)
        sql(db_url, "SELECT trapper.link_person_cat($1, $2, 'owner', 'test')", person, cat)
    sql(db_url, "SELECT trapper.link_person_place($1, $2, 'owner', 'test', 0.95)", jon, other)
    sql(db_url, "INSERT INTO trapper.person_roles (person_id, role, source_system) "
                "VALUES ($1, 'trapper', 'test')", jon)

    _act(db_url, decision, "merge")

    for table in ("person_identifiers", "person_place", "person_cat", "person_roles"):
        assert val(db_url, f"SELECT count(*) FROM trapper.{table} WHERE person_id = $1",
                   jon) == 0, table
    assert [tuple(r) for r in sql(
        db_url, "SELECT place_id, role, confidence::text FROM trapper.person_place "
                "WHERE person_id = $1 ORDER BY role", john)] == [
        (other, "owner", "0.95"), (place, "resident", "0.80")]
    assert val(db_url, "SELECT count(*) FROM trapper.person_cat WHERE person_id = $1",
               john) == 1
    assert val(db_url, "SELECT role FROM trapper.person_roles WHERE person_id = $1",
               john) == "trapper"
    # the household is the survivor's, listed once
    people = sql(db_url, "SELECT person_id, household_id FROM trapper.sot_people "
                         "WHERE household_id = $1 ORDER BY person_id", household)
    assert sorted(r["person_id"] for r in people) == sorted([john, mary["person_id"]])


def test_a_merge_into_someone_with_another_household_joins_the_two(db_url: str) -> None:
    a = _resolve(db_url, "c1", "Ann", "Lee", "7075230201", source="clinichq")
    _resolve(db_url, "c2", "Bob", "Lee", "7075230201", source="clinichq")
    b = _resolve(db_url, "c3", "Anne", "Lee", "7075230301", source="clinichq")
    _resolve(db_url, "c4", "Cy", "Lee", "7075230301", source="clinichq")
    h_a = val(db_url, "SELECT household_id FROM trapper.sot_people WHERE person_id = $1",
              a["person_id"])
    h_b = val(db_url, "SELECT household_id FROM trapper.sot_people WHERE person_id = $1",
              b["person_id"])
    assert h_a and h_b and h_a != h_b
    sql(db_url, "UPDATE trapper.sot_people SET merged_into_person_id = $1 WHERE person_id = $2",
        a["person_id"], b["person_id"])
    assert val(db_url, "SELECT count(DISTINCT household_id) FROM trapper.sot_people "
                       "WHERE last_name = 'Lee' AND merged_into_person_id IS NULL") == 1
    assert val(db_url, "SELECT count(*) FROM trapper.households WHERE household_id = $1",
               h_b) == 0


def test_047_moves_what_people_merged_before_it_held(db_url: str) -> None:
    decision, jon, john = _pending_with_email(db_url)
    execute(db_url, "ALTER TABLE trapper.sot_people DISABLE TRIGGER "
                    "sot_people_move_merged_links")
    _act(db_url, decision, "merge")
    execute(db_url, "ALTER TABLE trapper.sot_people ENABLE TRIGGER "
                    "sot_people_move_merged_links")
    assert val(db_url, "SELECT count(*) FROM trapper.person_identifiers "
                       "WHERE person_id = $1", jon) == 2
    execute(db_url, (Path(REPO) / "sql/core/047_merged_entities_links.sql").read_text())
    assert val(db_url, "SELECT count(*) FROM trapper.person_identifiers "
                       "WHERE person_id = $1", jon) == 0
    assert {r["id_value_norm"] for r in sql(
        db_url, "SELECT id_value_norm FROM trapper.person_identifiers WHERE person_id = $1",
        john)} == {"7075230101", "jsmith@sonic.net"}


def test_review_cli_in_odd_orders(db_url: str) -> None:
    decision, _, _ = _pending_with_email(db_url)
    env = {"DATABASE_URL": db_url}
    out = run_cli("review", "defer", str(decision), "--by", "ann", env=env)
    assert out.returncode == 0, out.stderr
    out = run_cli("review", "merge", str(decision), "--by", "ann", "--json", env=env)
    assert out.returncode == 0 and json.loads(out.stdout)["review_status"] == "merged"
    for verb in ("merge", "keep-separate", "defer"):
        out = run_cli("review", verb, str(decision), env=env)
        assert out.returncode == 1 and "not pending review: merged by ann" in out.stderr
        assert "Traceback" not in out.stderr
    out = run_cli("review", "merge", "999999", env=env)
    assert out.returncode == 1 and "no identity decision 999999" in out.stderr


def test_the_merged_record_resolved_again_lands_on_the_survivor(db_url: str) -> None:
    """`replay --apply` (or `--reprocess`) after a review merged the record's person: the
    reviewer's answer stands, no new person and no second review of the same pair."""
    # John's email is his household's too (shared, so weighed less): J. Smith on it is queued
    john = _resolve(db_url, "c1", "John", "Smith", None, source="clinichq",
                    email="smiths@sonic.net")["person_id"]
    mary = _resolve(db_url, "c2", "Mary", "Jones", None, source="clinichq",
                    email="smiths@sonic.net")
    assert mary["decision_type"] == "household_member", mary
    jon = _resolve(db_url, "p1", "J.", "Smith", None, email="smiths@sonic.net")
    assert jon["decision_type"] == "review_pending", jon
    decision = jon["decision_id"]
    _act(db_url, decision, "merge")
    staged = val(db_url, "SELECT staged_record_id FROM trapper.data_engine_match_decisions "
                         "WHERE decision_id = $1", decision)
    again = dict(sql(db_url, "SELECT * FROM trapper.data_engine_resolve_identity("
                             "'smiths@sonic.net', NULL, 'J.', 'Smith', NULL, "
                             "'petlink', $1)", staged)[0])
    assert again["decision_type"] == "auto_match", again
    assert again["person_id"] == john
    assert f"review of decision {decision}" in again["decision_reason"]
    assert val(db_url, "SELECT count(*) FROM trapper.data_engine_match_decisions "
                       "WHERE review_status = 'pending'") == 0


def test_why_missing_fixes_followed_as_written_close_the_gap(db_url: str) -> None:
    """The suggested fix of a person without identifiers and of a cat without a microchip is
    the statement to run, this entity's id in it: run as written (its placeholders filled),
    the gap closes and the next record finds them."""
    staged = val(db_url, "INSERT INTO trapper.staged_records (source_system, source_table, "
                         "source_row_id, row_hash, payload) VALUES ('atlas_ui', "
                         "'manual_entry', 'me-1', 'h1', '{}') RETURNING id")
    walk_in = dict(sql(db_url, "SELECT * FROM trapper.data_engine_resolve_identity(NULL, NULL, "
                               "'Angela', 'Cruz', NULL, 'atlas_ui', $1, NULL, true)", staged)[0])
    person = walk_in["person_id"]
    fix = val(db_url, "SELECT suggested_fix FROM trapper.v_data_why_missing "
                      "WHERE issue_type = 'person_no_identifiers' AND entity_id = $1",
              str(person))
    statement = fix[fix.index("SELECT"):fix.index(";")]
    execute(db_url, statement.replace("EMAIL", "Angela.Cruz@Sonic.net"))
    assert val(db_url, "SELECT count(*) FROM trapper.v_data_why_missing "
                       "WHERE entity_id = $1", str(person)) == 0
    again = _resolve(db_url, "c1", "Angela", "Cruz", None, source="clinichq",
                     email="angela.cruz@sonic.net")
    assert again["decision_type"] == "auto_match" and again["person_id"] == person, again

    cat = val(db_url, "INSERT INTO trapper.sot_cats (display_name) VALUES ('Tom') "
                      "RETURNING cat_id")
    fix = val(db_url, "SELECT suggested_fix FROM trapper.v_data_why_missing "
                      "WHERE issue_type = 'cat_no_microchip' AND entity_id = $1", str(cat))
    statement = fix[fix.index("SELECT"):fix.index(";")]
    execute(db_url, statement.replace("CHIP", "985 112 000 777 001").replace("WHO", "ann"))
    assert val(db_url, "SELECT count(*) FROM trapper.v_data_why_missing WHERE entity_id = $1 "
                       "AND issue_type = 'cat_no_microchip'", str(cat)) == 0
    assert val(db_url, "SELECT trapper.cat_by_identifier('microchip', '985112000777001')") == cat


def test_a_merged_place_and_cat_hand_their_links_to_the_survivor(db_url: str) -> None:
    """The engine merges a place made before its town was known into the one with it; a
    steward merges two records of one cat: the people and cats linked to the merged-away one
    are the survivor's, once each."""
    person = _resolve(db_url, "c1", "Ann", "Lee", "7075230201", source="clinichq")["person_id"]
    cat = val(db_url, "SELECT trapper.find_or_create_cat_by_microchip('985112000000001', "
                      "'Tom')")
    early = val(db_url, "SELECT trapper.find_or_create_place_deduped('77 Quail Run Rd')")
    sql(db_url, "SELECT trapper.link_person_place($1, $2, 'resident', 'test')", person, early)
    sql(db_url, "SELECT trapper.link_cat_place($1, $2, 'home', 'test')", cat, early)
    place = val(db_url, "SELECT trapper.find_or_create_place_deduped("
                        "'77 Quail Run Rd, Santa Rosa, CA 95404')")
    assert val(db_url, "SELECT merged_into_place_id FROM trapper.places WHERE place_id = $1",
               early) == place
    assert val(db_url, "SELECT place_id FROM trapper.person_place WHERE person_id = $1",
               person) == place
    assert val(db_url, "SELECT place_id FROM trapper.cat_place WHERE cat_id = $1", cat) == place

    twin = val(db_url, "SELECT trapper.find_or_create_cat_by_microchip('985112000000002', "
                       "'Tommy')")
    sql(db_url, "SELECT trapper.link_person_cat($1, $2, 'owner', 'test')", person, cat)
    sql(db_url, "SELECT trapper.link_person_cat($1, $2, 'owner', 'test')", person, twin)
    sql(db_url, "SELECT trapper.link_cat_place($1, $2, 'home', 'test')", twin, place)
    sql(db_url, "UPDATE trapper.sot_cats SET merged_into_cat_id = $1 WHERE cat_id = $2",
        cat, twin)
    assert val(db_url, "SELECT count(*) FROM trapper.person_cat WHERE person_id = $1",
               person) == 1
    assert val(db_url, "SELECT count(*) FROM trapper.cat_place WHERE place_id = $1", place) == 1
    assert val(db_url, "SELECT cat_id FROM trapper.cat_identifiers "
                       "WHERE id_value = '985112000000002'") == cat


def test_why_missing_of_a_record_names_the_survivor_of_its_merged_person(
        db_url: str) -> None:
    decision, jon, john = _pending_with_email(db_url)
    staged = val(db_url, "SELECT staged_record_id FROM trapper.data_engine_match_decisions "
                         "WHERE decision_id = $1", decision)
    sql(db_url, "SELECT trapper.record_entity_source('person', $1, $2, 'created')", jon,
        staged)
    sql(db_url, "UPDATE trapper.staged_records SET is_processed = true, processed_at = now() "
                "WHERE id = $1", staged)
    _act(db_url, decision, "merge")
    out = run_cli("why-missing", "petlink/owners/p1", "--json",
                  env={"DATABASE_URL": db_url})
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["stands"]["entities"][0]["merged_into"] == str(john)
    assert f"person {jon} (merged into {john})" in doc["answer"]


def test_review_show_names_the_shared_weight_a_household_email_got(db_url: str) -> None:
    """An email someone of another name holds too is weighed as a shared identifier: show
    names that parameter, not the plain email's 13.21 beside a weight of a few points."""
    _resolve(db_url, "c1", "John", "Smith", None, source="clinichq", email="smiths@sonic.net")
    _resolve(db_url, "c2", "Mary", "Jones", None, source="clinichq", email="smiths@sonic.net")
    jon = _resolve(db_url, "p1", "J.", "Smith", None, email="smiths@sonic.net")
    assert jon["decision_type"] == "review_pending", jon

    async def go() -> dict[str, Any]:
        conn = await asyncpg.connect(db_url)
        try:
            return await review.show(conn, jon["decision_id"])
        finally:
            await conn.close()

    doc = anyio.run(go)
    email = next(f for f in doc["score_breakdown"]["fields"] if f["field"] == "email")
    assert doc["score_breakdown"]["email_shared"] is True
    assert email["parameter"] == "phone_shared"
    assert float(email["weight"]) <= float(email["w_agree"])


def test_log_record_takes_the_id_as_the_file_shows_it_without_a_source(db_url: str) -> None:
    """`log --record 101.0` (a spreadsheet's float) is record 101 with --source or without."""
    sql(db_url, "INSERT INTO trapper.orchestrator_job_log (action, source_system, "
                "source_table, source_record_id, decision_reason) VALUES "
                "('identity_decision', 'shelterluv', 'people', '101', 'test row')")
    env = {"DATABASE_URL": db_url}
    for extra in ((), ("--source", "shelterluv"), ("--source", "shelterluv/people")):
        out = run_cli("log", "--record", "101.0", *extra, "--json", env=env)
        assert out.returncode == 0, out.stderr
        assert [r["source_record_id"] for r in json.loads(out.stdout)] == ["101"], extra


def test_a_request_whose_record_names_no_trapper_gets_a_fix_that_works(db_url: str) -> None:
    """A web intake request has no trapper field: "assign one in the source system" could not
    be followed. The fix is the statement that assigns one; run as written, the gap closes."""
    request = val(db_url, "INSERT INTO trapper.sot_requests (source_system, source_record_id) "
                          "VALUES ('web_intake', 'wi-1') RETURNING request_id")
    named = val(db_url, "INSERT INTO trapper.sot_requests (source_system, source_record_id, "
                        "assigned_trapper_refs) VALUES ('airtable', 'rec1', '{recT1}') "
                        "RETURNING request_id")
    fixes = {r["entity_id"]: r["suggested_fix"] for r in sql(
        db_url, "SELECT entity_id, suggested_fix FROM trapper.v_data_why_missing "
                "WHERE issue_type = 'request_no_trapper'")}
    assert "recT1" in fixes[str(named)] and "airtable/trappers" in fixes[str(named)]
    fix = fixes[str(request)]
    assert "no trapper field" in fix
    trapper = _resolve(db_url, "c1", "Tess", "Trap", "7075230401", source="clinichq")
    execute(db_url, fix[fix.index("INSERT"):].replace("TRAPPER PERSON ID",
                                                      str(trapper["person_id"])))
    assert val(db_url, "SELECT count(*) FROM trapper.v_data_why_missing "
                       "WHERE entity_id = $1", str(request)) == 0


def test_a_place_the_geocoder_missed_is_fixed_as_its_gap_says(db_url: str,
                                                              tmp_path: Path) -> None:
    """place_no_geometry named "re-geocode", which nothing here does: the fix says to ingest a
    geocode result for the address, and doing so puts the place on the map."""
    env = {"DATABASE_URL": db_url}
    address = "4235 Manzanita Pl, Santa Rosa, CA 95403"
    first = tmp_path / "geo1.ndjson"
    first.write_text(json.dumps({"lat": None, "lng": None, "status": "ZERO_RESULTS",
                                 "place_key": "gm-1", "query_address": address,
                                 "formatted_address": ""}) + "\n")
    assert run_cli("ingest", "google_maps/geocode_results", str(first), env=env).returncode == 0
    assert run_cli("process", env=env).returncode == 0
    row = sql(db_url, "SELECT entity_id, suggested_fix FROM trapper.v_data_why_missing "
                      "WHERE issue_type = 'place_no_geometry'")[0]
    assert "google_maps/geocode_results" in row["suggested_fix"]
    second = tmp_path / "geo2.ndjson"
    second.write_text(json.dumps({"lat": 38.45, "lng": -122.7, "status": "OK",
                                  "place_key": "gm-1", "query_address": address,
                                  "formatted_address": address + ", USA"}) + "\n")
    assert run_cli("ingest", "google_maps/geocode_results", str(second), env=env).returncode == 0
    assert run_cli("process", env=env).returncode == 0
    assert val(db_url, "SELECT count(*) FROM trapper.v_data_why_missing "
                       "WHERE entity_id = $1", row["entity_id"]) == 0
